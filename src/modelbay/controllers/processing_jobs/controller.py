"""ProcessingController: runs each InProgress processing job's instances and moves the job through its statuses.

The shared passes are HostJobController's (host_jobs.py): instances labelled {"processing-job": <job>,
"host": "algo-<n>"}, started once prepared, stopped when due, ended together. What is processing's own:
the inputs staged at their LocalPaths, the ContainerEntrypoint and ContainerArguments run, the outputs
uploaded once the job has completed, and ExitMessage from /opt/ml/output/message.
"""

from __future__ import annotations

import logging

from modelbay.controllers.host_jobs import HostJobController, host_names
from modelbay.controllers.images import ImageProgram, Images
from modelbay.controllers.instance_env import SESSION_SLACK_S, api_env, host_env
from modelbay.controllers.model_hosts import Launch
from modelbay.controllers.processing_jobs.staging import stage_host, upload_outputs
from modelbay.controllers.reasons import fit_reason
from modelbay.errors import AwsError
from modelbay.instance_types import instance_type
from modelbay.platform import Platform
from modelbay.runtime.base import Instance, InstanceStatus, Runtime
from modelbay.statuses import ProcessingJobStatus
from modelbay.store.metadata.processing_jobs import ProcessingJob, ProcessingJobRepository
from modelbay.store.objects.base import ObjectStoreError

log = logging.getLogger(__name__)

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
LOST_REASON = "InternalServerError: the processing job's instances ended without a recorded exit (the machine may " \
              "have restarted)"
MESSAGE_FILE = "output/message"  # what the container leaves for ExitMessage, under /opt/ml


class ProcessingController(HostJobController[ProcessingJob]):
    """Keeps each InProgress or Stopping processing job's instances in step with the job.

    `stop_grace_s` is the time between SIGTERM and SIGKILL when a job is stopped.
    """

    label, kind, program, role = "processing-job", "processing job", "the processing job's program", "process"
    log_group, folder, lost_reason = LOG_GROUP, "processing", LOST_REASON
    volume_key_member = "ProcessingResources.ClusterConfig.VolumeKmsKeyId"
    jobs: ProcessingJobRepository

    def __init__(self, platform: Platform, runtime: Runtime, images: Images, stop_grace_s: float = 30.0) -> None:
        super().__init__(platform, runtime, images, platform.metadata.processing_jobs, stop_grace_s)

    # -- launching ----------------------------------------------------------------------

    def _image(self, job: ProcessingJob) -> str:
        return job.spec.image_uri

    def _volume_kms_key_id(self, job: ProcessingJob) -> str | None:
        key_id: str | None = job.request["ProcessingResources"]["ClusterConfig"].get("VolumeKmsKeyId")
        return key_id

    def _has_run(self, job: ProcessingJob) -> bool:
        return job.processing_start_time is not None

    def _record_stop(self, job: ProcessingJob) -> None:
        self.jobs.advance(job.name, ProcessingJobStatus.STOPPED)

    def _record_start(self, job: ProcessingJob) -> None:
        self.jobs.advance(job.name, ProcessingJobStatus.IN_PROGRESS)  # sets ProcessingStartTime

    def _prepare(self, job: ProcessingJob, program: ImageProgram) -> Launch:
        """Ready the image, stage every host's /opt/ml and build its instance spec (runs off the reconcile thread)."""
        spec = job.spec
        self.images.ready(program, lambda message: log.info("processing job %s: %s", job.name, message))
        kind = instance_type(spec.instance_type)
        credentials = api_env(self.platform, job.request.get("RoleArn", ""), f"SageMaker-{job.name}"[:64],
                              spec.max_runtime_in_seconds + SESSION_SLACK_S)
        env = host_env(kind, self.images.runs_images) | credentials | {
            "PROCESSING_JOB_NAME": job.name, "PROCESSING_JOB_ARN": job.arn}
        launches = []
        hosts = host_names(spec.instance_count)
        for host in hosts:
            opt_ml = self._dir(job.name) / host
            stage_host(self.platform.objects, job, opt_ml, host)
            argv, program_env, entrypoint = self.images.entrypoint_command(
                program, self._dir(job.name) / f"{host}.env", spec.entrypoint, spec.arguments)
            launches.append((self._host_spec(job, host, argv, opt_ml, env | program_env | spec.environment, program,
                                             entrypoint), self._labels(job, host)))
        return launches

    # -- ending ---------------------------------------------------------------------------

    def _finish(self, job: ProcessingJob, found: list[Instance]) -> None:
        """Every instance has ended: end the job as they did (uploading outputs when it completed)."""
        reason = None if job.stop_requested else self._failure_reason(found)
        if reason is not None:
            self._fail(job, reason, _exit_message(found, default=reason))
        elif job.stop_requested:
            self.jobs.advance(job.name, ProcessingJobStatus.STOPPED)
        elif any(i.status is InstanceStatus.STOPPED for i in found):
            self._fail(job, "MaxRuntimeExceeded: the processing job ran past StoppingCondition.MaxRuntimeInSeconds "
                            f"({job.spec.max_runtime_in_seconds} s)")
        else:
            self._complete(job, found)

    def _complete(self, job: ProcessingJob, found: list[Instance]) -> None:
        try:
            for instance in sorted(found, key=lambda i: i.labels["host"]):
                upload_outputs(self.platform.objects, job.spec.outputs, instance.opt_ml,
                               job.request.get("ProcessingOutputConfig", {}).get("KmsKeyId"), self.platform.kms)
        except (ObjectStoreError, OSError, ValueError, AwsError) as err:  # AwsError: KMS refused the output key
            self._fail(job, f"ClientError: uploading the processing outputs failed: {type(err).__name__}: {err}")
            return
        self.jobs.advance(job.name, ProcessingJobStatus.COMPLETED, exit_message=_exit_message(found))

    def _fail(self, job: ProcessingJob, reason: str, exit_message: str | None = None) -> None:
        self.jobs.advance(job.name, ProcessingJobStatus.FAILED, failure_reason=self._explained(job, reason),
                          exit_message=None if exit_message is None else fit_reason(exit_message))


def _exit_message(found: list[Instance], default: str | None = None) -> str | None:
    """What the first host left in /opt/ml/output/message, else `default`."""
    for instance in sorted(found, key=lambda i: i.labels["host"]):
        message = instance.opt_ml / MESSAGE_FILE
        if message.is_file():
            return message.read_text(errors="replace").strip() or default
    return default
