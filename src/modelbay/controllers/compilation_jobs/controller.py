"""CompilationController: runs each compilation job's compiler on one host and moves the job through its statuses.

The shared passes are HostJobController's (host_jobs.py): one instance labelled {"compilation-job": <job>,
"host": "algo-1"}, started once prepared, stopped when due (StopCompilationJob, MaxRuntimeInSeconds), ended.
What is compilation's own: the host runs the compiler recipe's program (frameworks.compiler_recipe) on a
catalog instance type, since the request names none; its `/opt/ml` is staged by staging.py; a job is
InProgress once its compiler starts (Starting before); at the end the compiled model (`/opt/ml/model/`) is
packed and uploaded as SageMaker names it, its sha256 recorded as ModelDigests, and the compiler's check that
the compiled model answers as the original did is shown in the job's `modelbay:verification` tag. A failed
compiler's reason is what it wrote to `/opt/ml/output/failure`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from modelbay.compilation_targets import UnsupportedTarget, resolve
from modelbay.controllers.compilation_jobs.staging import (
    MODEL_DIR,
    failure_detail,
    read_manifest,
    stage_compiler,
)
from modelbay.controllers.host_jobs import HostJobController
from modelbay.controllers.images import ImageProgram, Images
from modelbay.controllers.instance_env import host_env
from modelbay.controllers.model_hosts import Launch
from modelbay.controllers.staging import StagingError
from modelbay.controllers.uploads import upload_directory
from modelbay.errors import AwsError
from modelbay.instance_types import instance_type
from modelbay.platform import Platform
from modelbay.runtime.base import Instance, InstanceStatus, Runtime
from modelbay.runtime.frameworks import compiler_recipe
from modelbay.statuses import CompilationJobStatus
from modelbay.store.metadata.compilation_jobs import CompilationJob, CompilationJobRepository
from modelbay.store.objects.base import ObjectStoreError
from modelbay.store.objects.uris import S3Location, parse_uri

log = logging.getLogger(__name__)

LOG_GROUP = "/aws/sagemaker/CompilationJobs"
LOST_REASON = "InternalServerError: the compilation job's instance ended without a recorded exit (the machine may " \
              "have restarted)"
HOST = "algo-1"
VERIFICATION_TAG = "modelbay:verification"
# What the tag keeps of the manifest's "verification" (a tag value holds at most 256 characters)
VERIFICATION_KEYS = ("passed", "samples", "max_abs_diff", "tolerance")


class CompilationController(HostJobController[CompilationJob]):
    """Keeps each Starting, InProgress or Stopping compilation job's compiler in step with the job.

    `stop_grace_s` is the time between SIGTERM and SIGKILL when a job is stopped.
    """

    label, kind, program, role = "compilation-job", "compilation job", "the compiler", "compile"
    log_group, folder, lost_reason = LOG_GROUP, "compilation", LOST_REASON
    volume_key_member = "OutputConfig.KmsKeyId"  # never a volume key: the compiler's volume is not encrypted
    jobs: CompilationJobRepository

    def __init__(self, platform: Platform, runtime: Runtime, images: Images, stop_grace_s: float = 30.0) -> None:
        super().__init__(platform, runtime, images, platform.metadata.compilation_jobs, stop_grace_s)

    # -- launching ----------------------------------------------------------------------

    def _image(self, job: CompilationJob) -> str:
        """The compiler's framework image by the short name Images.resolve knows it by, tagged with the job's
        FrameworkVersion (a version without a recipe is replaced, and the job's log and FailureReason say so)."""
        recipe = compiler_recipe(job.spec.framework, job.spec.framework_version).recipe
        version = job.spec.framework_version or recipe.version
        return f"modelbay/{recipe.framework}:{version}" if version else f"modelbay/{recipe.framework}"

    def _volume_kms_key_id(self, job: CompilationJob) -> str | None:
        return None

    def _has_run(self, job: CompilationJob) -> bool:
        return job.compilation_start_time is not None

    def _record_stop(self, job: CompilationJob) -> None:
        self.jobs.advance(job.name, CompilationJobStatus.STOPPED)

    def _record_start(self, job: CompilationJob) -> None:
        self.jobs.advance(job.name, CompilationJobStatus.INPROGRESS)  # sets CompilationStartTime

    def _prepare(self, job: CompilationJob, program: ImageProgram) -> Launch:
        """Ready the compiler's image, stage its host's /opt/ml and build its instance (off the reconcile thread)."""
        spec = job.spec
        try:
            target = resolve(spec.output_config, spec.framework)  # this machine may have lost a cross compiler
        except UnsupportedTarget as err:
            raise StagingError(f"ClientError: {err}") from err
        self.images.ready(program, lambda message: log.info("compilation job %s: %s", job.name, message))
        opt_ml = self._dir(job.name) / HOST
        stage_compiler(self.platform.objects, spec, target, opt_ml)
        argv, program_env, entrypoint = self.images.entrypoint_command(program, self._dir(job.name) / f"{HOST}.env",
                                                                       ())
        env = host_env(instance_type(spec.instance_type), self.images.runs_images) | program_env | {
            "COMPILATION_JOB_NAME": job.name, "COMPILATION_JOB_ARN": job.arn}
        return [(self._host_spec(job, HOST, argv, opt_ml, env, program, entrypoint), self._labels(job, HOST))]

    # -- ending ---------------------------------------------------------------------------

    def _finish(self, job: CompilationJob, found: list[Instance]) -> None:
        """The compiler has ended: end the job as it did (uploading the compiled model when it succeeded)."""
        [instance] = found
        manifest = read_manifest(instance.opt_ml)
        if manifest is not None:
            self._tag_verification(job, manifest)
        reason = None if job.stop_requested else self._compiler_failure(found)
        if reason is not None:
            self._fail(job, reason)
        elif job.stop_requested:
            self.jobs.advance(job.name, CompilationJobStatus.STOPPED)
        elif instance.status is InstanceStatus.STOPPED:
            self._fail(job, "MaxRuntimeExceeded: the compilation job ran past StoppingCondition.MaxRuntimeInSeconds "
                            f"({job.spec.max_runtime_in_seconds} s)")
        elif manifest is None:
            self._fail(job, "InternalServerError: the compiler ended without writing the compiled model's manifest")
        else:
            self._complete(job, instance, manifest)

    def _compiler_failure(self, found: list[Instance]) -> str | None:
        """Why the compilation failed: the compiler's own reason (a ClientError, as Neo words a model it cannot
        compile), else the shared reason of a failed host (out of memory, lost, stopped by the server)."""
        [instance] = found
        failed = instance.status is InstanceStatus.EXITED and instance.exit_code != 0
        if failed and (detail := failure_detail(instance.opt_ml)):
            return f"ClientError: {detail}"
        return self._failure_reason(found)

    def _complete(self, job: CompilationJob, instance: Instance, manifest: dict[str, Any]) -> None:
        uri = job.spec.model_artifact
        try:
            upload_directory(self.platform.objects, instance.opt_ml / MODEL_DIR, uri, self._dir(job.name),
                             job.spec.kms_key_id, self.platform.kms)
            digest = self._digest(uri)
        except (ObjectStoreError, OSError, ValueError, AwsError) as err:  # AwsError: KMS refused the output key
            self._fail(job, f"ClientError: uploading the compiled model to {uri} failed: {type(err).__name__}: {err}")
            return
        self.jobs.advance(job.name, CompilationJobStatus.COMPLETED, model_artifact=uri, artifact_digest=digest,
                          derived_information=_derived_information(job, manifest))

    def _digest(self, uri: str) -> str:
        """The sha256 hex of the object at `uri` as stored (ModelDigests.ArtifactDigest)."""
        location = parse_uri(uri)
        assert isinstance(location, S3Location)  # S3OutputLocation is an s3:// URI (botocore's pattern)
        digest = hashlib.sha256()
        with self.platform.objects.open(location.bucket, location.key, keys=self.platform.kms) as stored:
            for chunk in iter(lambda: stored.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def _tag_verification(self, job: CompilationJob, manifest: dict[str, Any]) -> None:
        """Show the compiler's same-answers check on the job: its `modelbay:verification` tag (ListTags)."""
        verification = manifest.get("verification")
        if not isinstance(verification, dict):
            return
        value = json.dumps({key: verification.get(key) for key in VERIFICATION_KEYS}, separators=(",", ":"))
        self.platform.metadata.tags.add(job.arn, [(VERIFICATION_TAG, value)])

    def _fail(self, job: CompilationJob, reason: str) -> None:
        self.jobs.advance(job.name, CompilationJobStatus.FAILED, failure_reason=self._explained(job, reason))


def _derived_information(job: CompilationJob, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """DerivedInformation: the input shape the compiler found, where the request gave no DataInputConfig."""
    given = manifest.get("input")
    if job.spec.data_input_config is not None or not isinstance(given, dict) or "shape" not in given:
        return None
    return {"DerivedDataInputConfig": json.dumps({given.get("name", "input0"): given["shape"]})}
