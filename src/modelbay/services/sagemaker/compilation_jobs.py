"""SageMaker Neo's compilation-job records: CreateCompilationJob, DescribeCompilationJob, ListCompilationJobs,
StopCompilationJob, DeleteCompilationJob.

These functions record desired state only; the compilation controller runs each job (the compiler program on
one host, the model staged from InputConfig.S3Uri, the compiled model uploaded to ModelArtifacts) and moves it
through its statuses (CompilationJobRepository.advance). Create refuses, with the reason, a target this machine
cannot build for (compilation_targets.resolve) rather than pretend to compile for it; a model that cannot be
read fails the job later, as on SageMaker.
"""

from __future__ import annotations

import json
from typing import Any

from modelbay.compilation_targets import Target, UnsupportedTarget, inference_image, resolve
from modelbay.errors import ResourceNotFound, ValidationError
from modelbay.services.base import Context, Handler, present
from modelbay.services.listing import list_page
from modelbay.services.sagemaker.jobs import name_in_use
from modelbay.services.sagemaker.kms_key_ids import check_usable
from modelbay.services.sagemaker.network_config import check_vpc
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.store.metadata import CompilationJob, CompilationJobNotFound, RecordExists, StatusConflict

# The CreateCompilationJob members that DescribeCompilationJob gives back as they were sent.
ECHOED_MEMBERS = ("RoleArn", "InputConfig", "OutputConfig", "VpcConfig", "StoppingCondition")
MAX_RUNTIME_S = 28 * 24 * 3600  # StoppingCondition's longest


def create_compilation_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record the job as Starting with its tags; ValidationException for what cannot be compiled here,
    ResourceInUse if a job has the name."""
    target = check_compilable(params)
    check_usable(ctx, params["OutputConfig"].get("KmsKeyId"), "OutputConfig.KmsKeyId")
    name: str = params["CompilationJobName"]
    arn = ctx.arn("sagemaker", f"compilation-job/{name.lower()}")
    tags = creation_tags(params)
    request = {key: value for key, value in params.items() if key in ECHOED_MEMBERS}
    image = inference_image(params["InputConfig"]["Framework"], target, ctx.principal.account_id, ctx.region)
    try:
        ctx.metadata.compilation_jobs.create(name, arn, request, image)
    except RecordExists as err:
        raise name_in_use("compilation job", err) from err
    store_tags(ctx, arn, tags)
    return {"CompilationJobArn": arn}


def check_compilable(params: dict[str, Any]) -> Target:
    """Refuse what SageMaker refuses, or modelbay cannot compile, naming the member; answer the resolved target."""
    if "ModelPackageVersionArn" in params:
        raise ValidationError("ModelPackageVersionArn is not available in modelbay: give InputConfig (the model "
                              "package's ModelDataUrl as S3Uri, its framework)")
    if "InputConfig" not in params:
        raise ValidationError("InputConfig is required (the model's S3Uri and Framework)")
    output = params["OutputConfig"]
    if ("TargetDevice" in output) == ("TargetPlatform" in output):
        raise ValidationError("OutputConfig must specify exactly one of TargetDevice or TargetPlatform")
    _check_json(params["InputConfig"], "DataInputConfig", "InputConfig")
    if "VpcConfig" in params:
        check_vpc(params["VpcConfig"])
    if params["StoppingCondition"].get("MaxRuntimeInSeconds", 0) > MAX_RUNTIME_S:
        raise ValidationError(f"StoppingCondition.MaxRuntimeInSeconds must be at most {MAX_RUNTIME_S} (28 days)")
    try:
        return resolve(output, params["InputConfig"]["Framework"])
    except UnsupportedTarget as err:
        raise ValidationError(str(err)) from err


def _check_json(config: dict[str, Any], member: str, where: str) -> None:
    if member not in config:
        return
    try:
        json.loads(config[member])
    except ValueError as err:
        raise ValidationError(f"{where}.{member} is not valid JSON ({err}): give the model's input shapes, such "
                              'as {"input0": [1, 10]}') from err


def describe_compilation_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The job's request and state as DescribeCompilationJobResponse; ResourceNotFound if it is unknown.

    The model requires ModelArtifacts and FailureReason throughout: the artifact is where the compiled model is, or
    will be once uploaded; the reason is empty until the job fails.
    """
    name = params["CompilationJobName"]
    job = ctx.metadata.compilation_jobs.get(name)
    if job is None:
        raise _not_found(name)
    digests = None if job.artifact_digest is None else {"ArtifactDigest": job.artifact_digest}
    return job.request | {
        "CompilationJobName": job.name, "CompilationJobArn": job.arn, "CompilationJobStatus": job.status,
        "CreationTime": job.creation_time, "LastModifiedTime": job.last_modified_time,
        "FailureReason": job.failure_reason or "",
        "ModelArtifacts": {"S3ModelArtifacts": job.model_artifact or job.spec.model_artifact}} | present(
        CompilationStartTime=job.compilation_start_time, CompilationEndTime=job.compilation_end_time,
        InferenceImage=job.inference_image, ModelDigests=digests, DerivedInformation=job.derived_information)


def list_compilation_jobs(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return list_page(params, ctx.metadata.compilation_jobs.list, "CompilationJobSummaries", _summary)


def stop_compilation_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Move a Starting or InProgress job to Stopping; the controller stops its compiler. ResourceNotFound if it is
    unknown, ValidationException if it has ended."""
    name = params["CompilationJobName"]
    try:
        ctx.metadata.compilation_jobs.request_stop(name)
    except CompilationJobNotFound as err:
        raise _not_found(name) from err
    except StatusConflict as err:
        raise ValidationError(f"The request was rejected because the compilation job is in status "
                              f"{err.status}.") from err
    return {}


def delete_compilation_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete an ended job (its artifact and logs stay). SageMaker deletes only COMPLETED, FAILED or STOPPED jobs:
    one still running is refused with a ValidationException (stop it first)."""
    name = params["CompilationJobName"]
    try:
        ctx.metadata.compilation_jobs.delete(name)
    except CompilationJobNotFound as err:
        raise _not_found(name) from err
    except StatusConflict as err:
        raise ValidationError(f"Cannot delete compilation job {name} in status {err.status}: only a COMPLETED, "
                              f"FAILED or STOPPED job can be deleted; stop it first.") from err
    return {}


def _not_found(name: str) -> ResourceNotFound:
    return ResourceNotFound(f"Could not find compilation job with name {name}")


def _summary(job: CompilationJob) -> dict[str, Any]:
    platform = job.spec.output_config.get("TargetPlatform", {})
    return {"CompilationJobName": job.name, "CompilationJobArn": job.arn, "CreationTime": job.creation_time,
            "LastModifiedTime": job.last_modified_time, "CompilationJobStatus": job.status} | present(
        CompilationStartTime=job.compilation_start_time, CompilationEndTime=job.compilation_end_time,
        CompilationTargetDevice=job.target_device, CompilationTargetPlatformOs=platform.get("Os"),
        CompilationTargetPlatformArch=platform.get("Arch"),
        CompilationTargetPlatformAccelerator=platform.get("Accelerator"))


OPERATIONS: dict[str, Handler] = {
    "CreateCompilationJob": create_compilation_job, "DescribeCompilationJob": describe_compilation_job,
    "ListCompilationJobs": list_compilation_jobs, "StopCompilationJob": stop_compilation_job,
    "DeleteCompilationJob": delete_compilation_job}
