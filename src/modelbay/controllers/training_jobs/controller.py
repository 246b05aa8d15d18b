"""TrainingController: runs each InProgress training job's instances and moves the job through its statuses.

Desired state is the job in the metadata store; what runs is found through the runtime by the
labels {"training-job": <job>, "host": "algo-<n>"}, so a restarted server picks up where it left
off. A pass never waits for a program: it stages and starts instances, ships new log lines,
stops what must stop, and once every instance has ended uploads the outputs and ends the job.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelbay.controllers.background import Wakeable, in_background
from modelbay.controllers.host_failures import failure_reason, has_failed
from modelbay.controllers.images import ImageProgram, Images, UnknownImage, explain_failure
from modelbay.controllers.instance_env import free_port, host_env
from modelbay.controllers.instance_logs import final_metrics, log_tail, ship_new_lines
from modelbay.controllers.reasons import fit_reason
from modelbay.controllers.staging import StagingError
from modelbay.controllers.training_jobs.artifacts import artifact_uri, upload_directory
from modelbay.controllers.training_jobs.staging import host_names, stage_host
from modelbay.instance_types import instance_type
from modelbay.platform import Platform
from modelbay.runtime.base import Instance, InstanceSpec, InstanceStatus, Runtime
from modelbay.runtime.environments import EnvironmentBuildError
from modelbay.statuses import SecondaryStatus, TrainingJobStatus
from modelbay.store.metadata.training_jobs import LIFECYCLE, TrainingJob

log = logging.getLogger(__name__)

STOPPED_MESSAGE = "Training job stopped"
# The secondary statuses of a job being prepared, before its instances start.
_PREPARING = frozenset({SecondaryStatus.STARTING, SecondaryStatus.DOWNLOADING})
LOST_REASON = "The training process ended without a recorded exit (the machine may have restarted)"


class TrainingController(Wakeable):
    """Keeps each InProgress or Stopping training job's instances in step with the job.

    `images` turns a TrainingImage into what an instance runs; `stop_grace_s` is the time between
    SIGTERM and SIGKILL when a job is stopped.
    """

    def __init__(self, platform: Platform, runtime: Runtime, images: Images,
                 stop_grace_s: float = 120.0) -> None:
        self.platform, self.runtime, self.images, self.stop_grace_s = platform, runtime, images, stop_grace_s
        self.jobs = platform.metadata.training_jobs
        self.root = platform.settings.data_dir / "training"
        self._stopping: set[str] = set()  # instances sent SIGTERM by this controller
        self._preparing: dict[str, Future[list[tuple[InstanceSpec, dict[str, str]]]]] = {}
        super().__init__()

    def names(self) -> list[str]:
        """Names of the jobs a pass has work for (InProgress or Stopping), oldest first."""
        return self.jobs.names_to_reconcile()

    def reconcile(self, name: str) -> None:
        """One idempotent pass over job `name`."""
        job = self.jobs.get(name)
        if job is None or job.status in LIFECYCLE.ended:
            return
        found = self.runtime.list({"training-job": name})
        if not found:
            self._launch(job)
            return
        for instance in found:
            ship_new_lines(self.platform.logs, name, instance, self._dir(name) / f"{instance.labels['host']}.offset")
        if any(i.is_alive for i in found):
            self._stop_if_due(job, found)
            return
        self._finish(job, found)

    # -- launching ----------------------------------------------------------------------

    def _launch(self, job: TrainingJob) -> None:
        """Prepare the job in the background (image, data), then start one instance per host."""
        if job.stop_requested:
            self._preparing.pop(job.name, None)  # a preparation still running ends unheard
            self.jobs.advance(job.name, TrainingJobStatus.STOPPED, secondary=SecondaryStatus.STOPPED,
                              message=STOPPED_MESSAGE)
            return
        if job.secondary_status not in _PREPARING:  # it ran, and the runtime forgot it
            self._fail(job, LOST_REASON)
            return
        preparing = self._preparing.get(job.name)
        if preparing is None:
            try:
                program = self.images.resolve(job.spec.training_image)
            except UnknownImage as err:
                self._fail(job, str(err))
                return
            self._preparing[job.name] = in_background(lambda: self._prepare(job, program))
            self._preparing[job.name].add_done_callback(self.wake)
            return
        if not preparing.done():
            return
        del self._preparing[job.name]
        try:
            launches = preparing.result()
        except (StagingError, EnvironmentBuildError) as err:
            self._fail(job, str(err))
            return
        except Exception as err:  # a bug or a broken machine: the job says so rather than retrying forever
            log.exception("preparing training job %s failed", job.name)
            self._fail(job, f"InternalServerError: preparing the job failed: {type(err).__name__}: {err}")
            return
        self.jobs.advance(job.name, TrainingJobStatus.IN_PROGRESS, secondary=SecondaryStatus.TRAINING,
                          message="Training image download completed. Training in progress.")
        for spec, labels in launches:
            self.runtime.start(spec, labels)

    def _prepare(self, job: TrainingJob, program: ImageProgram) -> list[tuple[InstanceSpec, dict[str, str]]]:
        """Ready the image, stage every host's /opt/ml and build its instance spec (runs off the reconcile thread)."""
        spec = job.spec
        self.images.ready(program, lambda message: self.jobs.advance(
            job.name, TrainingJobStatus.IN_PROGRESS, secondary=SecondaryStatus.STARTING, message=message))
        self.jobs.advance(job.name, TrainingJobStatus.IN_PROGRESS, secondary=SecondaryStatus.DOWNLOADING,
                          message="Downloading input data")
        hosts = host_names(spec.instance_count)
        kind = instance_type(spec.instance_type)
        env, user_env = self._job_env(job), spec.environment
        master_port = str(free_port())
        launches = []
        for rank, host in enumerate(hosts):
            stage_host(self.platform.objects, spec, self._dir(job.name) / host, host)
            argv, program_env = self.images.command(program, self._dir(job.name) / f"{host}.env")
            host_env = env | _distribution_env(rank, len(hosts), master_port) | program_env | user_env
            launches.append((InstanceSpec(argv, self._dir(job.name) / host, kind, host_env),
                             {"training-job": job.name, "host": host}))
        return launches

    def _job_env(self, job: TrainingJob) -> dict[str, str]:
        kind = instance_type(job.spec.instance_type)
        return host_env(kind) | {"TRAINING_JOB_NAME": job.name, "TRAINING_JOB_ARN": job.arn}

    # -- while running --------------------------------------------------------------------

    def _stop_if_due(self, job: TrainingJob, found: list[Instance]) -> None:
        """Stop the instances on StopTrainingJob, past MaxRuntimeInSeconds, or when one host failed."""
        started = min(i.started_at for i in found)
        overdue = (datetime.now(UTC) - started).total_seconds() > job.spec.max_runtime_in_seconds
        if job.stop_requested or overdue or any(has_failed(i) for i in found):
            for instance in found:
                if instance.is_alive and instance.id not in self._stopping:
                    self.runtime.stop(instance.id, self.stop_grace_s)
                    self._stopping.add(instance.id)

    # -- ending ---------------------------------------------------------------------------

    def _finish(self, job: TrainingJob, found: list[Instance]) -> None:
        """Every instance has ended: upload outputs as the outcome allows, end the job, remove them."""
        reason = None if job.stop_requested else _failure_reason(found)
        if reason is not None:
            self._fail(job, reason)
        elif job.stop_requested or any(i.status is InstanceStatus.STOPPED for i in found):
            self._upload(job, found)
            secondary = SecondaryStatus.STOPPED if job.stop_requested else SecondaryStatus.MAX_RUNTIME_EXCEEDED
            message = (STOPPED_MESSAGE if job.stop_requested
                       else "Training job exceeded the MaxRuntimeInSeconds of its StoppingCondition")
            self.jobs.advance(job.name, TrainingJobStatus.STOPPED, secondary=secondary, message=message,
                              **self._outputs(job, found))
        else:
            self.jobs.advance(job.name, TrainingJobStatus.IN_PROGRESS, secondary=SecondaryStatus.UPLOADING,
                              message="Uploading generated training model")
            self._upload(job, found)
            self.jobs.advance(job.name, TrainingJobStatus.COMPLETED, secondary=SecondaryStatus.COMPLETED,
                              message="Training job completed", **self._outputs(job, found))
        for instance in found:
            self.runtime.remove(instance.id)
            self._stopping.discard(instance.id)

    def _upload(self, job: TrainingJob, found: list[Instance]) -> None:
        """algo-1's model dir as model.tar.gz and output/data as output.tar.gz."""
        master = next(i for i in found if i.labels["host"] == "algo-1")
        output_path = job.spec.s3_output_path
        for directory, file_name in (("model", "model.tar.gz"), ("output/data", "output.tar.gz")):
            upload_directory(self.platform.objects, master.opt_ml / directory,
                             artifact_uri(output_path, job.name, file_name), self._dir(job.name))

    def _outputs(self, job: TrainingJob, found: list[Instance]) -> dict[str, Any]:
        return {"model_artifacts": artifact_uri(job.spec.s3_output_path, job.name, "model.tar.gz"),
                "final_metrics": final_metrics(job.spec.metric_definitions, [i.log_path for i in found])}

    def _fail(self, job: TrainingJob, reason: str) -> None:
        self.jobs.advance(job.name, TrainingJobStatus.FAILED, secondary=SecondaryStatus.FAILED,
                          message="Training job failed",
                          failure_reason=fit_reason(explain_failure(reason, [job.spec.training_image])))

    def _dir(self, name: str) -> Path:
        return self.root / name


def _failure_reason(found: list[Instance]) -> str | None:
    return failure_reason(found, "the training process", "the training job", LOST_REASON, _last_words)


def _last_words(failed: Instance) -> str:
    """What the program wrote to /opt/ml/output/failure, as SageMaker reads it, else its log's tail."""
    failure_file = failed.opt_ml / "output/failure"
    detail = failure_file.read_text().strip() if failure_file.is_file() else ""
    return detail or log_tail(failed.log_path)


def _distribution_env(rank: int, world_size: int, master_port: str) -> dict[str, str]:
    """torch.distributed's env:// rendezvous, as torchrun sets it with one process per host.

    The hosts share this machine, so algo-1 is reached over loopback."""
    return {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": master_port, "RANK": str(rank),
            "WORLD_SIZE": str(world_size), "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1", "NODE_RANK": str(rank)}
