"""TransformController: runs each active batch transform job on hosts of its model and ends it.

A job's hosts are TransformResources.InstanceCount serving hosts (model_hosts.prepare_host:
every container of the model, each a runtime instance with its own port) labelled
{"transform-job": <job>, "host": <n>, "container": <i>, "port": <port>}. A pass never waits: it
prepares the hosts in the background and starts them, pings them until each container answers
/ping, then hands the input to a Transformer (transformer.py) in the background, and once that
has ended (or the job is being stopped, or a host died) stops the hosts and ends the job
Completed, Failed or Stopped. TransformStartTime is when the hosts start.

Restart-safe by starting over: the records being sent live in this controller's memory, so a job
found with instances but no run here (the server restarted while it ran) has those instances
stopped and removed, and then runs from scratch on new hosts. Every output object is written
whole and atomically, so each ends up as one run wrote it.

Each container's log goes to CloudWatch Logs group `/aws/sagemaker/TransformJobs`, stream
`<job>/<instance id>`, as the instance writes it.
"""

from __future__ import annotations

import functools
import logging
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

from modelbay.controllers.background import Wakeable, in_background
from modelbay.controllers.images import Images, UnknownImage, explain_failure
from modelbay.controllers.instance_env import listening_env, serving_port
from modelbay.controllers.instance_logs import log_tail, ship_log
from modelbay.controllers.model_hosts import HostShape, Launch, prepare_host
from modelbay.controllers.reasons import fit_reason
from modelbay.controllers.staging import StagingError
from modelbay.controllers.transform_jobs.transformer import Transformer, TransformFailed, TransformStopped
from modelbay.controllers.volume_keys import volume_key
from modelbay.instance_types import instance_type
from modelbay.platform import Platform
from modelbay.runtime.base import Instance, Runtime, StartFailed
from modelbay.runtime.environments import EnvironmentBuildError
from modelbay.serving.health import ping
from modelbay.statuses import TransformJobStatus
from modelbay.store.metadata.definitions import model_containers
from modelbay.store.metadata.transform_jobs import LIFECYCLE, TransformJob, TransformJobSpec

log = logging.getLogger(__name__)

LOG_GROUP = "/aws/sagemaker/TransformJobs"
JOB, HOST, CONTAINER, PORT = "transform-job", "host", "container", "port"  # instance labels
DEFAULT_STARTUP_S = 600.0


@dataclass
class _Run:
    """What this controller knows of one job's run beyond the store and the runtime."""

    images: tuple[str, ...]  # each container's image, in call order
    preparing: Future[Launch] | None = None  # the hosts being staged, until they are started
    started_at: float = 0.0  # when the hosts were started (monotonic)
    ready: set[str] = field(default_factory=set)  # instances that have answered /ping
    work: Future[None] | None = None  # the Transformer, once every host is ready
    stop: threading.Event = field(default_factory=threading.Event)
    outcome: tuple[TransformJobStatus, str | None] | None = None  # (status, failure reason) once decided
    stopped: set[str] = field(default_factory=set)  # instances sent SIGTERM


class TransformController(Wakeable):
    """Keeps each InProgress or Stopping transform job's hosts in step with the job.

    `health(url)` says what is wrong with a container's /ping (None: it answers); a host has `startup_s` to answer;
    `stop_grace_s` is the time between SIGTERM and SIGKILL when hosts are stopped.
    """

    def __init__(self, platform: Platform, runtime: Runtime, images: Images, *,
                 health: Callable[[str], str | None] = ping, startup_s: float = DEFAULT_STARTUP_S,
                 stop_grace_s: float = 10.0) -> None:
        self.platform, self.runtime, self.images = platform, runtime, images
        self.jobs = platform.metadata.transform_jobs
        self.health, self.startup_s, self.stop_grace_s = health, startup_s, stop_grace_s
        self.root = platform.settings.data_dir / "transform"
        self._runs: dict[str, _Run] = {}
        super().__init__(self.jobs.table)

    def names(self) -> list[str]:
        return self.jobs.names_to_reconcile()

    def reconcile(self, name: str) -> None:
        """One idempotent pass over job `name`."""
        job = self.jobs.get(name)
        if job is None or job.status in LIFECYCLE.ended:
            return
        found = self.runtime.list({JOB: name})
        self._ship_logs(name, found)
        run = self._runs.get(name)
        if run is None:
            self._begin(job, found)
        elif run.outcome is None and not job.stop_requested:
            self._advance(job, run, found)
        if (run := self._runs.get(name)) is not None and (run.outcome is not None or job.stop_requested):
            self._end(job, run, found)

    # -- phases ---------------------------------------------------------------------------

    def _begin(self, job: TransformJob, found: list[Instance]) -> None:
        """Start the job's run; first retire instances a run before a server restart left."""
        if found:
            log.warning("transform job %s: starting over, its hosts from before a restart are stopped", job.name)
            self._retire(found, set())
            return
        if job.stop_requested:
            self._finish(job, TransformJobStatus.STOPPED, None)
            return
        model = self.platform.metadata.models.get(job.spec.model_name)
        if model is None:
            self._finish(job, TransformJobStatus.FAILED,
                         f"ClientError: Could not find model \"{job.spec.model_name}\".")
            return
        shutil.rmtree(self.root / job.name, ignore_errors=True)
        containers = model_containers(model.request)
        shape = HostShape(isolated=bool(model.request.get("EnableNetworkIsolation", False)))
        preparing = in_background(lambda: self._prepare(job, containers, shape))
        preparing.add_done_callback(self.wake)
        self._runs[job.name] = _Run(tuple(container["Image"] for container in containers), preparing=preparing)

    def _advance(self, job: TransformJob, run: _Run, found: list[Instance]) -> None:
        if run.preparing is not None:
            self._launch(job, run)
        elif run.work is None:
            self._await_hosts(job, run, found)
        else:
            self._watch(run, found)

    def _launch(self, job: TransformJob, run: _Run) -> None:
        """Start the hosts once their preparation is done; the job fails if it failed."""
        assert run.preparing is not None
        if not run.preparing.done():
            return
        preparing, run.preparing = run.preparing, None
        try:
            launch = preparing.result()
        except (UnknownImage, StagingError, EnvironmentBuildError) as err:
            run.outcome = (TransformJobStatus.FAILED, str(err))
            return
        except Exception as err:  # a bug or a broken machine: the job says so rather than retrying forever
            log.exception("preparing transform job %s failed", job.name)
            run.outcome = (TransformJobStatus.FAILED,
                           f"InternalServerError: preparing the job failed: {type(err).__name__}: {err}")
            return
        try:
            self.runtime.start_together(launch)
        except StartFailed as err:
            run.outcome = (TransformJobStatus.FAILED, f"InternalServerError: {err}")
            return
        run.started_at = time.monotonic()
        self.jobs.advance(job.name, TransformJobStatus.IN_PROGRESS)  # sets TransformStartTime

    def _await_hosts(self, job: TransformJob, run: _Run, found: list[Instance]) -> None:
        """Ping the containers that have not answered yet; once all have, start transforming."""
        if (reason := _host_failure(found, "before it was ready")) is not None:
            run.outcome = (TransformJobStatus.FAILED, reason)
            return
        run.ready |= {i.id for i in found if i.id not in run.ready and self.health(_url(i)) is None}
        if len(run.ready) < len(found) or not found:
            if time.monotonic() - run.started_at > self.startup_s:
                run.outcome = (TransformJobStatus.FAILED, "ClientError: the model server did not pass its /ping "
                               f"health check within {self.startup_s:.0f} seconds")
            return
        transformer = Transformer(self.platform.objects, job.spec, _host_urls(found), self.root / job.name / "scratch",
                                  run.stop, job.request["TransformOutput"].get("KmsKeyId"), self.platform.kms)
        run.work = in_background(transformer.run)
        run.work.add_done_callback(self.wake)

    def _watch(self, run: _Run, found: list[Instance]) -> None:
        """The run's outcome once it has ended, or the failure of a host that died under it."""
        assert run.work is not None
        if run.work.done():
            run.outcome = _outcome(run.work)
        elif (reason := _host_failure(found, "while transforming")) is not None:
            run.outcome = (TransformJobStatus.FAILED, reason)

    def _end(self, job: TransformJob, run: _Run, found: list[Instance]) -> None:
        """Stop the hosts and, once they and the run have ended, end the job as decided."""
        run.stop.set()
        if run.preparing is not None and not run.preparing.done():
            return  # what it stages is removed with the job's directory once it is done
        run.preparing = None
        self._retire(found, run.stopped)
        if found or (run.work is not None and not run.work.done()):
            return
        status, reason = ((TransformJobStatus.STOPPED, None) if job.stop_requested
                          else run.outcome or (TransformJobStatus.FAILED, None))
        del self._runs[job.name]
        shutil.rmtree(self.root / job.name, ignore_errors=True)
        self._finish(job, status, reason, run.images)

    # -- helpers --------------------------------------------------------------------------

    def _prepare(self, job: TransformJob, containers: Sequence[dict[str, Any]], shape: HostShape) -> Launch:
        """Stage every host of the job (off the reconcile thread), each with a volume key of its own if the job
        names a VolumeKmsKeyId."""
        env = _container_env(job.spec) | listening_env(self.runtime)
        key_id = job.request["TransformResources"].get("VolumeKmsKeyId")
        launch: Launch = []
        for host in range(1, job.spec.instance_count + 1):
            keyed = replace(shape, volume_key=volume_key(self.platform, key_id, "TransformResources.VolumeKmsKeyId"))
            launch += prepare_host(self.platform.objects, self.images, self.root / job.name / "hosts" / str(host),
                                   instance_type(job.spec.instance_type), containers,
                                   functools.partial(_labels, job.name, host), env,
                                   port=lambda: serving_port(self.runtime), shape=keyed)
        return launch

    def _retire(self, found: list[Instance], stopped: set[str]) -> None:
        """Stop the instances still running (once each), remove those that have ended."""
        for instance in found:
            if instance.is_alive and instance.id not in stopped:
                self.runtime.stop(instance.id, self.stop_grace_s)
                stopped.add(instance.id)
            elif not instance.is_alive:
                self.runtime.remove(instance.id)

    def _ship_logs(self, name: str, found: list[Instance]) -> None:
        for instance in found:
            ship_log(self.platform.logs, LOG_GROUP, f"{name}/{instance.id}", instance)

    def _finish(self, job: TransformJob, status: TransformJobStatus, reason: str | None,
                images: Sequence[str] = ()) -> None:
        """End the job; a FailureReason is told of the model's images whose framework version was replaced."""
        self.jobs.advance(job.name, status,
                          failure_reason=None if reason is None else fit_reason(explain_failure(reason, images)))


def _labels(job: str, host: int, container: int, port: int) -> dict[str, str]:
    return {JOB: job, HOST: str(host), CONTAINER: str(container), PORT: str(port)}


def _container_env(spec: TransformJobSpec) -> dict[str, str]:
    """What SageMaker tells a batch transform container about the job, and the job's Environment."""
    return {"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(spec.max_payload_mb),
            "SAGEMAKER_BATCH_STRATEGY": spec.batch_strategy,
            "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": str(spec.max_concurrent_transforms)} | spec.environment


def _url(instance: Instance) -> str:
    return f"http://{instance.address}:{instance.labels[PORT]}"


def _host_urls(found: list[Instance]) -> list[list[str]]:
    """Each host's container URLs in call order, hosts in order."""
    hosts: dict[int, list[Instance]] = defaultdict(list)
    for instance in found:
        hosts[int(instance.labels[HOST])].append(instance)
    return [[_url(i) for i in sorted(hosts[h], key=lambda i: int(i.labels[CONTAINER]))] for h in sorted(hosts)]


def _host_failure(found: list[Instance], when: str) -> str | None:
    """Why a host failed, in its model server's own last words, if one of its containers has ended."""
    ended = next((i for i in found if not i.is_alive), None)
    if ended is None:
        return None
    cause = ended.reason or f"exit code {ended.exit_code}"
    last = log_tail(ended.log_path, lines=1) or "(no output)"
    return (f"ClientError: the model server (container {int(ended.labels[CONTAINER]) + 1} of host "
            f"{ended.labels[HOST]}) exited {when} ({cause}): {last}")


def _outcome(work: Future[None]) -> tuple[TransformJobStatus, str | None]:
    error = work.exception()
    if error is None:
        return TransformJobStatus.COMPLETED, None
    if isinstance(error, TransformFailed | TransformStopped):
        return TransformJobStatus.FAILED, str(error) or None
    log.error("transform run failed", exc_info=error)
    return TransformJobStatus.FAILED, f"InternalServerError: {type(error).__name__}: {error}"

