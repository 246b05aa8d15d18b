"""SageMaker Edge Manager's packaging: CreateEdgePackagingJob, DescribeEdgePackagingJob, ListEdgePackagingJobs,
StopEdgePackagingJob.

These functions record desired state only; the edge packaging controller packages each job's compiled model
(controllers/edge_packaging_jobs/) and moves it through its statuses.
"""

from __future__ import annotations

from typing import Any

from modelbay.errors import ResourceNotFound, ValidationError
from modelbay.services.base import Context, Handler, present
from modelbay.services.listing import capital_sort, list_filter, list_page
from modelbay.services.sagemaker.jobs import name_in_use
from modelbay.services.sagemaker.kms_key_ids import check_usable
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.statuses import CompilationJobStatus
from modelbay.store.metadata import RecordExists, StatusConflict
from modelbay.store.metadata.edge_packaging_jobs import EdgePackagingJob, EdgePackagingJobNotFound, PackagingJobFilter

# The CreateEdgePackagingJob members DescribeEdgePackagingJob gives back as they were sent.
ECHOED_MEMBERS = ("CompilationJobName", "ModelName", "ModelVersion", "RoleArn", "OutputConfig", "ResourceKey")
# ListEdgePackagingJobs' SortBy values as the store's sort keys (MODEL_NAME is not one of them).
SORT_KEYS = ("NAME", "CREATION_TIME", "LAST_MODIFIED_TIME", "STATUS")  # ListEdgePackagingJobs sorts by these


def create_edge_packaging_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record the job STARTING with its tags; ResourceInUse if a job has the name."""
    _check_packageable(ctx, params)
    name: str = params["EdgePackagingJobName"]
    arn = ctx.arn("sagemaker", f"edge-packaging-job/{name.lower()}")
    tags = creation_tags(params)
    try:
        ctx.metadata.edge_packaging_jobs.create(name, arn, {key: value for key, value in params.items()
                                                            if key in ECHOED_MEMBERS})
    except RecordExists as err:
        raise name_in_use("edge packaging job", err) from err
    store_tags(ctx, arn, tags)
    return {}


def _check_packageable(ctx: Context, params: dict[str, Any]) -> None:
    """Refuse what modelbay cannot package, naming the member: a compilation job that has not COMPLETED, an output
    location outside S3, a Greengrass component, an unusable key."""
    compilation_name = params["CompilationJobName"]
    compilation = ctx.metadata.compilation_jobs.get(compilation_name)
    if compilation is None:
        raise ValidationError(f"CompilationJobName: compilation job {compilation_name} does not exist.")
    if compilation.status != CompilationJobStatus.COMPLETED:
        raise ValidationError(f"CompilationJobName: compilation job {compilation_name} is {compilation.status}; "
                              "only a COMPLETED compilation job's model can be packaged.")
    output = params["OutputConfig"]
    if not output["S3OutputLocation"].startswith("s3://"):
        raise ValidationError("OutputConfig.S3OutputLocation must be an s3:// URI in modelbay.")
    if "PresetDeploymentType" in output:
        raise ValidationError("OutputConfig.PresetDeploymentType: Greengrass V2 components are not available in "
                              "modelbay; its edge agent (modelbay edge-agent) deploys packages itself.")
    check_usable(ctx, output.get("KmsKeyId"), "OutputConfig.KmsKeyId")


def describe_edge_packaging_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The job's request and state as DescribeEdgePackagingJobResponse; ResourceNotFound if it is unknown."""
    job = _get(ctx, params["EdgePackagingJobName"])
    return {"EdgePackagingJobArn": job.arn, "EdgePackagingJobName": job.name} | job.request | {
        "EdgePackagingJobStatus": job.status, "CreationTime": job.creation_time,
        "LastModifiedTime": job.last_modified_time} | present(
        EdgePackagingJobStatusMessage=job.status_message, ModelArtifact=job.model_artifact,
        ModelSignature=job.model_signature)


def list_edge_packaging_jobs(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    filters = PackagingJobFilter(**vars(list_filter(params)), model_name_contains=params.get("ModelNameContains"))
    return list_page(capital_sort(params, SORT_KEYS), ctx.metadata.edge_packaging_jobs.list,
                     "EdgePackagingJobSummaries", _summary, filters)


def stop_edge_packaging_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Move a STARTING or INPROGRESS job to STOPPING; the controller ends it STOPPED."""
    name = params["EdgePackagingJobName"]
    try:
        ctx.metadata.edge_packaging_jobs.request_stop(name)
    except EdgePackagingJobNotFound as err:
        raise _not_found(name) from err
    except StatusConflict as err:
        raise ValidationError(f"Edge packaging job {name} is {err.status}: only a STARTING or INPROGRESS job can be "
                              "stopped.") from err
    return {}


def _get(ctx: Context, name: str) -> EdgePackagingJob:
    job = ctx.metadata.edge_packaging_jobs.get(name)
    if job is None:
        raise _not_found(name)
    return job


def _not_found(name: str) -> ResourceNotFound:
    return ResourceNotFound(f"Edge packaging job {name} does not exist.")


def _summary(job: EdgePackagingJob) -> dict[str, Any]:
    return {"EdgePackagingJobArn": job.arn, "EdgePackagingJobName": job.name, "EdgePackagingJobStatus": job.status,
            "CompilationJobName": job.spec.compilation_job_name, "ModelName": job.spec.model_name,
            "ModelVersion": job.spec.model_version, "CreationTime": job.creation_time,
            "LastModifiedTime": job.last_modified_time}


OPERATIONS: dict[str, Handler] = {
    "CreateEdgePackagingJob": create_edge_packaging_job, "DescribeEdgePackagingJob": describe_edge_packaging_job,
    "ListEdgePackagingJobs": list_edge_packaging_jobs, "StopEdgePackagingJob": stop_edge_packaging_job}
