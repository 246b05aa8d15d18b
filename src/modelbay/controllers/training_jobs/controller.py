"""TrainingController: runs each InProgress training job's instances and moves the job through its statuses.

The shared passes are HostJobController's (host_jobs.py): instances labelled {"training-job": <job>,
"host": "algo-<n>"}, started once prepared, stopped when due, ended together. What is training's own:
the channels and source dir staged on each host, torch.distributed's rendezvous, the SecondaryStatus
transitions, and at the end algo-1's model and output data uploaded and the final metrics read from the logs;
CheckpointConfig's directory restored before the start and synced while the job runs (checkpoints.py), and managed
spot training's interruptions, waits for capacity and MaxWaitTimeInSeconds (spot.py). On a cluster, a host lost with
its node fails the job naming the node (host_failures.py), unless the job is a spot job: then the loss is an
interruption whose capacity is back at once, and the job resumes from its checkpoints on the nodes that remain.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelbay.controllers.background import in_background
from modelbay.controllers.host_failures import lost_with_node, node_loss
from modelbay.controllers.host_jobs import HostJobController, host_names
from modelbay.controllers.images import ImageProgram, Images
from modelbay.controllers.instance_env import SESSION_SLACK_S, api_env, free_port, host_env
from modelbay.controllers.instance_logs import LOG_GROUP, final_metrics, log_tail, metric_values
from modelbay.controllers.model_hosts import Launch
from modelbay.controllers.training_jobs import checkpoints
from modelbay.controllers.training_jobs.artifacts import artifact_uri
from modelbay.controllers.training_jobs.spot import (
    INTERRUPTED_MESSAGE,
    MAX_WAIT_MESSAGE,
    RESTARTING_MESSAGE,
    SpotMarket,
    interruption_due,
    max_wait_exceeded,
)
from modelbay.controllers.training_jobs.staging import stage_host
from modelbay.controllers.uploads import upload_directory
from modelbay.instance_types import instance_type
from modelbay.platform import Platform
from modelbay.runtime.base import Instance, InstanceStatus, Runtime
from modelbay.statuses import SecondaryStatus, TrainingJobStatus
from modelbay.store.metadata.lineage_records import record_training_job_inputs, record_training_job_output
from modelbay.store.metadata.training_jobs import STOPPING_MESSAGE, TrainingJob, TrainingJobRepository

log = logging.getLogger(__name__)

MASTER_PORT = "7777"  # where SageMaker's PyTorch toolkit has the hosts meet

STOPPED_MESSAGE = "Training job stopped"
# The secondary statuses of a job being prepared, before its instances start.
_PREPARING = frozenset({SecondaryStatus.STARTING, SecondaryStatus.DOWNLOADING})
LOST_REASON = "The training process ended without a recorded exit (the machine may have restarted)"


class TrainingController(HostJobController[TrainingJob]):
    """Keeps each InProgress or Stopping training job's instances in step with the job.

    `images` turns a TrainingImage into what an instance runs; `stop_grace_s` is the time between
    SIGTERM and SIGKILL when a job is stopped.
    """

    label, kind, program, role = "training-job", "training job", "the training process", "train"
    log_group, folder, lost_reason = LOG_GROUP, "training", LOST_REASON
    volume_key_member = "ResourceConfig.VolumeKmsKeyId"
    jobs: TrainingJobRepository

    def __init__(self, platform: Platform, runtime: Runtime, images: Images,
                 stop_grace_s: float = 120.0) -> None:
        super().__init__(platform, runtime, images, platform.metadata.training_jobs, stop_grace_s)
        self.spot = SpotMarket.from_settings(platform.settings)
        self._syncing: dict[str, tuple[float, Future[None]]] = {}  # a job's checkpoint sync: when it started, its end

    # -- launching ----------------------------------------------------------------------

    def _image(self, job: TrainingJob) -> str:
        return job.spec.training_image

    def _volume_kms_key_id(self, job: TrainingJob) -> str | None:
        key_id: str | None = job.request["ResourceConfig"].get("VolumeKmsKeyId")
        return key_id

    def _has_run(self, job: TrainingJob) -> bool:
        return job.secondary_status not in _PREPARING

    def _record_stop(self, job: TrainingJob) -> None:
        self.jobs.advance(job.name, TrainingJobStatus.STOPPED, secondary=SecondaryStatus.STOPPED,
                          message=STOPPED_MESSAGE)

    def _record_start(self, job: TrainingJob) -> None:
        """Training, and for a spot job, when spot capacity is next taken back."""
        interrupt_at = self.spot.next_interruption(job.name, job.interruptions, job.spec.instance_count,
                                                   datetime.now(UTC)) if job.is_spot else None
        self.jobs.advance(job.name, TrainingJobStatus.IN_PROGRESS, secondary=SecondaryStatus.TRAINING,
                          message="Training image download completed. Training in progress.", interrupt_at=interrupt_at)
        record_training_job_inputs(self.platform.metadata.lineage, job.arn, job.spec)

    def _launch(self, job: TrainingJob) -> None:
        """A held job (a trial waiting for capacity) waits until released or stopped; a spot job past
        MaxWaitTimeInSeconds ends; an interrupted one starts again once capacity is back."""
        if job.held and not job.stop_requested:
            return
        if job.is_spot and not job.stop_requested:
            now = datetime.now(UTC)
            if max_wait_exceeded(job, now):
                self._preparing.pop(job.name, None)  # a preparation still running ends unheard
                self._end_max_wait(job, [])
                return
            if job.secondary_status is SecondaryStatus.INTERRUPTED:
                if job.spot_capacity_at is not None and now < job.spot_capacity_at:
                    return
                job = self.jobs.advance(job.name, TrainingJobStatus.IN_PROGRESS, secondary=SecondaryStatus.STARTING,
                                        message=RESTARTING_MESSAGE)
        super()._launch(job)

    def _prepare(self, job: TrainingJob, program: ImageProgram) -> Launch:
        """Ready the image, stage every host's /opt/ml and build its instance spec (runs off the reconcile thread)."""
        spec = job.spec
        self.images.ready(program, lambda message: self.jobs.advance(
            job.name, TrainingJobStatus.IN_PROGRESS, secondary=SecondaryStatus.STARTING, message=message))
        self.jobs.advance(job.name, TrainingJobStatus.IN_PROGRESS, secondary=SecondaryStatus.DOWNLOADING,
                          message="Downloading input data")
        hosts = host_names(spec.instance_count)
        env, user_env = self._job_env(job), spec.environment
        master = _master(self.runtime)
        launches = []
        for rank, host in enumerate(hosts):
            stage_host(self.platform.objects, spec, self._dir(job.name) / host, host)
            if spec.checkpoint is not None:
                checkpoints.restore(self.platform.objects, spec.checkpoint, self._dir(job.name) / host,
                                    self._manifest(job.name, host))
            argv, program_env = self.images.command(program, self._dir(job.name) / f"{host}.env")
            host_env = env | _distribution_env(rank, len(hosts), *master) | program_env | user_env
            launches.append((self._host_spec(job, host, argv, self._dir(job.name) / host, host_env, program),
                             self._labels(job, host)))
        return launches

    def _job_env(self, job: TrainingJob) -> dict[str, str]:
        kind = instance_type(job.spec.instance_type)
        credentials = api_env(self.platform, job.request.get("RoleArn", ""), f"SageMaker-{job.name}"[:64],
                              job.spec.max_runtime_in_seconds + SESSION_SLACK_S)
        return host_env(kind, self.images.runs_images) | credentials | {
            "TRAINING_JOB_NAME": job.name, "TRAINING_JOB_ARN": job.arn}

    # -- while running ------------------------------------------------------------------------

    def _stop_if_due(self, job: TrainingJob, found: list[Instance]) -> None:
        """Sync checkpoints every few seconds; stop a spot job's instances when interrupted or past its max wait."""
        if job.spec.checkpoint is not None:
            self._sync_in_background(job)
        if job.is_spot and not job.stop_requested:
            now = datetime.now(UTC)
            job = self._interrupt_for_lost_node(job, found, now)
            if job.status is TrainingJobStatus.IN_PROGRESS and max_wait_exceeded(job, now):
                job = self.jobs.advance(job.name, TrainingJobStatus.STOPPING, secondary=SecondaryStatus.STOPPING,
                                        message=STOPPING_MESSAGE)
            elif job.secondary_status is not SecondaryStatus.INTERRUPTED and interruption_due(job, now):
                job = self.jobs.advance(job.name, TrainingJobStatus.IN_PROGRESS,
                                        secondary=SecondaryStatus.INTERRUPTED, message=INTERRUPTED_MESSAGE,
                                        capacity_at=self.spot.capacity_back(now))
            if job.status is TrainingJobStatus.STOPPING or job.secondary_status is SecondaryStatus.INTERRUPTED:
                self._stop(found)
                return
        super()._stop_if_due(job, found)

    def _interrupt_for_lost_node(self, job: TrainingJob, found: list[Instance], now: datetime) -> TrainingJob:
        """A spot job one of whose hosts was lost with its node is interrupted, as when spot capacity is taken back,
        with its capacity back at once: it resumes from its checkpoints on the nodes that remain."""
        lost = lost_with_node(found)
        if lost is None or job.status is not TrainingJobStatus.IN_PROGRESS or (
                job.secondary_status is SecondaryStatus.INTERRUPTED):
            return job
        return self.jobs.advance(job.name, TrainingJobStatus.IN_PROGRESS, secondary=SecondaryStatus.INTERRUPTED,
                                 message=f"The job stopped because {node_loss(lost, f'the {self.kind}')}.",
                                 capacity_at=now)

    def _sync_in_background(self, job: TrainingJob) -> None:
        """Start a sync of the job's checkpoints if none is under way and the last began SYNC_INTERVAL_S ago."""
        started, syncing = self._syncing.get(job.name, (0.0, None))
        if (syncing is not None and not syncing.done()) or time.monotonic() - started < checkpoints.SYNC_INTERVAL_S:
            return
        if syncing is not None and syncing.exception() is not None:
            log.warning("syncing the checkpoints of training job %s failed: %s", job.name, syncing.exception())
        self._syncing[job.name] = (time.monotonic(), in_background(lambda: self._sync_checkpoints(job)))

    def _sync_checkpoints(self, job: TrainingJob) -> None:
        checkpoint = job.spec.checkpoint
        assert checkpoint is not None  # only jobs with a CheckpointConfig sync
        for host in host_names(job.spec.instance_count):
            checkpoints.sync(self.platform.objects, checkpoint, self._dir(job.name) / host,
                             self._manifest(job.name, host))

    def _last_sync(self, job: TrainingJob) -> None:
        """Once the instances have ended: their last checkpoints, after the sync under way if any."""
        _, syncing = self._syncing.pop(job.name, (0.0, None))
        try:
            if syncing is not None:
                syncing.exception()  # waits for it; its failure is the last sync's to tell
            self._sync_checkpoints(job)
        except Exception:  # the job's outcome stands; its checkpoints are what S3 has
            log.exception("syncing the checkpoints of training job %s failed", job.name)

    # -- ending ---------------------------------------------------------------------------

    def _finish(self, job: TrainingJob, found: list[Instance]) -> None:
        """Every instance has ended: an interrupted spot job (one that lost a host with its node, too) waits for
        capacity; else upload outputs as the outcome allows, end the job."""
        if job.spec.checkpoint is not None:
            self._last_sync(job)
        if job.is_spot and not job.stop_requested:
            job = self._interrupt_for_lost_node(job, found, datetime.now(UTC))
        if job.secondary_status is SecondaryStatus.INTERRUPTED:  # the next run's logs are new streams
            return
        if job.status is TrainingJobStatus.STOPPING and not job.stop_requested:
            self._end_max_wait(job, found)
            return
        reason = None if job.stop_requested else self._failure_reason(found)
        if reason is not None:
            self._fail(job, reason)
        elif job.stop_requested or any(i.status is InstanceStatus.STOPPED for i in found):
            self._upload(job)
            secondary = SecondaryStatus.STOPPED if job.stop_requested else SecondaryStatus.MAX_RUNTIME_EXCEEDED
            message = (STOPPED_MESSAGE if job.stop_requested
                       else "Training job exceeded the MaxRuntimeInSeconds of its StoppingCondition")
            self.jobs.advance(job.name, TrainingJobStatus.STOPPED, secondary=secondary, message=message,
                              **self._outputs(job, found))
        else:
            self.jobs.advance(job.name, TrainingJobStatus.IN_PROGRESS, secondary=SecondaryStatus.UPLOADING,
                              message="Uploading generated training model")
            self._upload(job)
            outputs = self._outputs(job, found)
            self.jobs.advance(job.name, TrainingJobStatus.COMPLETED, secondary=SecondaryStatus.COMPLETED,
                              message="Training job completed", **outputs)
            record_training_job_output(self.platform.metadata.lineage, job.arn, outputs["model_artifacts"])

    def _end_max_wait(self, job: TrainingJob, found: list[Instance]) -> None:
        """A spot job past MaxWaitTimeInSeconds: Stopping, its outputs uploaded, Stopped / MaxWaitTimeExceeded."""
        self.jobs.advance(job.name, TrainingJobStatus.STOPPING, secondary=SecondaryStatus.STOPPING,
                          message=STOPPING_MESSAGE)
        self._upload(job)
        self.jobs.advance(job.name, TrainingJobStatus.STOPPED, secondary=SecondaryStatus.MAX_WAIT_TIME_EXCEEDED,
                          message=MAX_WAIT_MESSAGE, **self._outputs(job, found))

    def _upload(self, job: TrainingJob) -> None:
        """algo-1's model dir as model.tar.gz and output/data as output.tar.gz (as its last run left them)."""
        master = self._dir(job.name) / "algo-1"
        output_path = job.spec.s3_output_path
        for directory, file_name in (("model", "model.tar.gz"), ("output/data", "output.tar.gz")):
            upload_directory(self.platform.objects, master / directory, artifact_uri(output_path, job.name, file_name),
                             self._dir(job.name), job.spec.output_kms_key_id, self.platform.kms)

    def _outputs(self, job: TrainingJob, found: list[Instance]) -> dict[str, Any]:
        return {"model_artifacts": artifact_uri(job.spec.s3_output_path, job.name, "model.tar.gz"),
                "final_metrics": final_metrics(job.spec.metric_definitions, [i.log_path for i in found])}

    def _shipped(self, job: TrainingJob, lines: list[str]) -> None:
        """Publish the MetricDefinitions' values the lines hold, as SageMaker does while the job runs."""
        values = metric_values(job.spec.metric_definitions, lines) if lines else {}
        if values:
            self.platform.publisher.training_metrics(job.name, values)

    def _manifest(self, name: str, host: str) -> Path:
        """What the host's checkpoints were at their last sync."""
        return self._dir(name) / f"{host}.checkpoints.json"

    def _fail(self, job: TrainingJob, reason: str) -> None:
        self.jobs.advance(job.name, TrainingJobStatus.FAILED, secondary=SecondaryStatus.FAILED,
                          message="Training job failed", failure_reason=self._explained(job, reason))

    def _last_words(self, failed: Instance) -> str:
        """What the program wrote to /opt/ml/output/failure, as SageMaker reads it, else its log's tail."""
        failure_file = failed.opt_ml / "output/failure"
        detail = failure_file.read_text().strip() if failure_file.is_file() else ""
        return detail or log_tail(failed.log_path)


def _master(runtime: Runtime) -> tuple[str, str]:
    """Where the hosts meet for torch.distributed: algo-1 by name on SageMaker's port where each host has a network of
    its own; by name on a free port where the hosts run on a cluster's nodes (algo-1 resolves to its node); else over
    the loopback of the machine they share, on a port free there."""
    if runtime.private_networks:
        return "algo-1", MASTER_PORT
    return ("algo-1" if runtime.spans_machines else "127.0.0.1"), str(free_port())


def _distribution_env(rank: int, world_size: int, master_addr: str, master_port: str) -> dict[str, str]:
    """torch.distributed's env:// rendezvous, as torchrun sets it with one process per host."""
    return {"MASTER_ADDR": master_addr, "MASTER_PORT": master_port, "RANK": str(rank),
            "WORLD_SIZE": str(world_size), "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1", "NODE_RANK": str(rank)}
