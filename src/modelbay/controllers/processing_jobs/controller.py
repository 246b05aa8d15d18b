"""ProcessingController: runs each InProgress processing job's instances and moves the job through its statuses.

Desired state is the job in the metadata store; what runs is found through the runtime by the
labels {"processing-job": <job>, "host": "algo-<n>"}, so a restarted server picks up where it left
off. A pass never waits for a program: it stages and starts instances in the background, ships new
log lines, stops what must stop, and once every instance has ended uploads the outputs and ends the job.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

from modelbay.controllers.background import Wakeable, in_background
from modelbay.controllers.host_failures import failure_reason, has_failed
from modelbay.controllers.images import Images, UnknownImage, explain_failure
from modelbay.controllers.instance_env import host_env
from modelbay.controllers.instance_logs import log_tail, ship_log, stream_name
from modelbay.controllers.processing_jobs.staging import host_names, stage_host, upload_outputs
from modelbay.controllers.reasons import fit_reason
from modelbay.controllers.staging import StagingError
from modelbay.instance_types import UnknownInstanceType, instance_type
from modelbay.platform import Platform
from modelbay.runtime.base import Instance, InstanceSpec, InstanceStatus, Runtime
from modelbay.runtime.environments import EnvironmentBuildError
from modelbay.statuses import ProcessingJobStatus
from modelbay.store.metadata.processing_jobs import LIFECYCLE, ProcessingJob
from modelbay.store.objects.base import ObjectStoreError

log = logging.getLogger(__name__)

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
LOST_REASON = "InternalServerError: the processing job's instances ended without a recorded exit (the machine may " \
              "have restarted)"
MESSAGE_FILE = "output/message"  # what the container leaves for ExitMessage, under /opt/ml
Launch = tuple[InstanceSpec, dict[str, str]]


class ProcessingController(Wakeable):
    """Keeps each InProgress or Stopping processing job's instances in step with the job.

    `stop_grace_s` is the time between SIGTERM and SIGKILL when a job is stopped.
    """

    def __init__(self, platform: Platform, runtime: Runtime, images: Images, stop_grace_s: float = 30.0) -> None:
        self.platform, self.runtime, self.images, self.stop_grace_s = platform, runtime, images, stop_grace_s
        self.jobs = platform.metadata.processing_jobs
        self.root = platform.settings.data_dir / "processing"
        self._stopping: set[str] = set()  # instances sent SIGTERM by this controller
        self._preparing: dict[str, Future[list[Launch]]] = {}
        super().__init__()

    def names(self) -> list[str]:
        """Names of the jobs a pass has work for (InProgress or Stopping), oldest first."""
        return self.jobs.names_to_reconcile()

    def reconcile(self, name: str) -> None:
        """One idempotent pass over job `name`."""
        job = self.jobs.get(name)
        if job is None or job.status in LIFECYCLE.ended:
            return
        found = self.runtime.list({"processing-job": name})
        if not found:
            self._launch(job)
            return
        for instance in found:
            ship_log(self.platform.logs, LOG_GROUP, stream_name(name, instance), instance,
                     self._dir(name) / f"{instance.labels['host']}.offset")
        if any(i.is_alive for i in found):
            self._stop_if_due(job, found)
            return
        self._finish(job, found)

    # -- launching ----------------------------------------------------------------------

    def _launch(self, job: ProcessingJob) -> None:
        """Prepare the job in the background (image, inputs), then start one instance per host."""
        if job.stop_requested:
            self._preparing.pop(job.name, None)  # a preparation still running ends unheard
            self.jobs.advance(job.name, ProcessingJobStatus.STOPPED)
            return
        if job.processing_start_time is not None:  # it ran, and the runtime forgot it
            self._fail(job, LOST_REASON)
            return
        preparing = self._preparing.get(job.name)
        if preparing is None:
            self._preparing[job.name] = in_background(lambda: self._prepare(job))
            self._preparing[job.name].add_done_callback(self.wake)
            return
        if not preparing.done():
            return
        del self._preparing[job.name]
        try:
            launches = preparing.result()
        except (StagingError, EnvironmentBuildError, UnknownImage, UnknownInstanceType) as err:
            self._fail(job, str(err))
            return
        except Exception as err:  # a bug or a broken machine: the job says so rather than retrying forever
            log.exception("preparing processing job %s failed", job.name)
            self._fail(job, f"InternalServerError: preparing the job failed: {type(err).__name__}: {err}")
            return
        self.jobs.advance(job.name, ProcessingJobStatus.IN_PROGRESS)  # sets ProcessingStartTime
        for spec, labels in launches:
            self.runtime.start(spec, labels)

    def _prepare(self, job: ProcessingJob) -> list[Launch]:
        """Ready the image, stage every host's /opt/ml and build its instance spec (runs off the reconcile thread)."""
        spec = job.spec
        program = self.images.resolve(spec.image_uri, role="process")
        self.images.ready(program, lambda message: log.info("processing job %s: %s", job.name, message))
        kind = instance_type(spec.instance_type)
        env = host_env(kind) | {"PROCESSING_JOB_NAME": job.name, "PROCESSING_JOB_ARN": job.arn}
        launches = []
        for host in host_names(spec.instance_count):
            opt_ml = self._dir(job.name) / host
            stage_host(self.platform.objects, job, opt_ml, host)
            argv, program_env = self.images.entrypoint_command(program, self._dir(job.name) / f"{host}.env",
                                                               spec.entrypoint)
            launches.append((InstanceSpec((*argv, *spec.arguments), opt_ml, kind,
                                          env | program_env | spec.environment),
                             {"processing-job": job.name, "host": host}))
        return launches

    # -- while running --------------------------------------------------------------------

    def _stop_if_due(self, job: ProcessingJob, found: list[Instance]) -> None:
        """Stop the instances on StopProcessingJob, past MaxRuntimeInSeconds, or when one host failed."""
        started = min(i.started_at for i in found)
        overdue = (datetime.now(UTC) - started).total_seconds() > job.spec.max_runtime_in_seconds
        if job.stop_requested or overdue or any(has_failed(i) for i in found):
            for instance in found:
                if instance.is_alive and instance.id not in self._stopping:
                    self.runtime.stop(instance.id, self.stop_grace_s)
                    self._stopping.add(instance.id)

    # -- ending ---------------------------------------------------------------------------

    def _finish(self, job: ProcessingJob, found: list[Instance]) -> None:
        """Every instance has ended: end the job as they did (uploading outputs when it completed), remove them."""
        reason = None if job.stop_requested else _failure_reason(found)
        if reason is not None:
            self._fail(job, reason, _exit_message(found, default=reason))
        elif job.stop_requested:
            self.jobs.advance(job.name, ProcessingJobStatus.STOPPED)
        elif any(i.status is InstanceStatus.STOPPED for i in found):
            self._fail(job, "MaxRuntimeExceeded: the processing job ran past StoppingCondition.MaxRuntimeInSeconds "
                            f"({job.spec.max_runtime_in_seconds} s)")
        else:
            self._complete(job, found)
        for instance in found:
            self.runtime.remove(instance.id)
            self._stopping.discard(instance.id)

    def _complete(self, job: ProcessingJob, found: list[Instance]) -> None:
        try:
            for instance in sorted(found, key=lambda i: i.labels["host"]):
                upload_outputs(self.platform.objects, job.spec.outputs, instance.opt_ml)
        except (ObjectStoreError, OSError, ValueError) as err:
            self._fail(job, f"ClientError: uploading the processing outputs failed: {type(err).__name__}: {err}")
            return
        self.jobs.advance(job.name, ProcessingJobStatus.COMPLETED, exit_message=_exit_message(found))

    def _fail(self, job: ProcessingJob, reason: str, exit_message: str | None = None) -> None:
        self.jobs.advance(job.name, ProcessingJobStatus.FAILED,
                          failure_reason=fit_reason(explain_failure(reason, [job.spec.image_uri])),
                          exit_message=None if exit_message is None else fit_reason(exit_message))

    def _dir(self, name: str) -> Path:
        return self.root / name


def _failure_reason(found: list[Instance]) -> str | None:
    return failure_reason(found, "the processing job's program", "the processing job", LOST_REASON,
                          lambda failed: log_tail(failed.log_path))


def _exit_message(found: list[Instance], default: str | None = None) -> str | None:
    """What the first host left in /opt/ml/output/message, else `default`."""
    for instance in sorted(found, key=lambda i: i.labels["host"]):
        message = instance.opt_ml / MESSAGE_FILE
        if message.is_file():
            return message.read_text(errors="replace").strip() or default
    return default
