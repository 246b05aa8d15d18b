"""SageMaker's processing-job records: CreateProcessingJob, DescribeProcessingJob, ListProcessingJobs,
StopProcessingJob.

These functions record desired state only; the processing controller runs each job (its image's
entrypoint on every host, inputs staged under /opt/ml/processing, outputs uploaded at the end)
and moves it through its statuses (ProcessingJobRepository.advance).
"""

from __future__ import annotations

import posixpath
from typing import Any

from modelbay.errors import ValidationError
from modelbay.services.base import Context, Handler, present
from modelbay.services.listing import list_page
from modelbay.services.sagemaker.jobs import name_in_use
from modelbay.services.sagemaker.kms_key_ids import check_processing_keys
from modelbay.services.sagemaker.network_config import check_network
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.services.sagemaker.trial_components import job_trial_component
from modelbay.store.metadata import ProcessingJob, ProcessingJobNotFound, RecordExists, StatusConflict
from modelbay.store.metadata.job_trial_components import PROCESSING

# The CreateProcessingJob members that DescribeProcessingJob gives back as they were sent.
ECHOED_MEMBERS = ("ProcessingInputs", "ProcessingOutputConfig", "ProcessingResources", "StoppingCondition",
                  "AppSpecification", "Environment", "NetworkConfig", "RoleArn", "ExperimentConfig")
LOCAL_ROOT = "/opt/ml/processing/"  # SageMaker's rule: every LocalPath lies under it
MAX_RUNTIME_S = 5 * 24 * 3600  # SageMaker's longest processing job


def create_processing_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record the job as InProgress with its tags; ResourceInUse if a job has the name."""
    check_runnable(params)
    check_processing_keys(ctx, params)
    name: str = params["ProcessingJobName"]
    arn = ctx.arn("sagemaker", f"processing-job/{name.lower()}")
    tags = creation_tags(params)
    request = {key: value for key, value in params.items() if key in ECHOED_MEMBERS}
    try:
        with job_trial_component(ctx, PROCESSING, name, arn, params.get("ExperimentConfig")):
            ctx.metadata.processing_jobs.create(name, arn, request)
    except RecordExists as err:
        raise name_in_use("processing job", err) from err
    store_tags(ctx, arn, tags)
    return {"ProcessingJobArn": arn}


def check_runnable(params: dict[str, Any]) -> None:
    """Refuse what SageMaker refuses, or modelbay cannot run, naming the member."""
    inputs = params.get("ProcessingInputs", [])
    outputs = params.get("ProcessingOutputConfig", {}).get("Outputs", [])
    names = [given["InputName"] for given in inputs] + [given["OutputName"] for given in outputs]
    if repeated := sorted({name for name in names if names.count(name) > 1}):
        raise ValidationError(f"ProcessingInputs and ProcessingOutputs names must be unique; repeated: "
                              f"{', '.join(repeated)}")
    for given in inputs:
        _check_input(given)
    for given in outputs:
        _check_output(given)
    max_runtime = params.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 0)
    if max_runtime > MAX_RUNTIME_S:
        raise ValidationError(f"StoppingCondition.MaxRuntimeInSeconds must be at most {MAX_RUNTIME_S} (5 days)")
    network = params.get("NetworkConfig", {})
    check_network(network.get("VpcConfig"), network.get("EnableInterContainerTrafficEncryption", False),
                  params["ProcessingResources"]["ClusterConfig"]["InstanceCount"], member="NetworkConfig.")


def _check_input(given: dict[str, Any]) -> None:
    name = given["InputName"]
    if "S3Input" not in given:
        raise ValidationError(f"ProcessingInput {name}: only S3Input is available in modelbay (DatasetDefinition, "
                              "for Athena and Redshift, is not)")
    s3 = given["S3Input"]
    if "LocalPath" not in s3:
        raise ValidationError(f"ProcessingInput {name}: S3Input.LocalPath is required")
    _check_local_path(f"ProcessingInput {name}", s3["LocalPath"])
    mode = s3.get("S3InputMode", "File")
    if mode == "Pipe":
        raise ValidationError(f"ProcessingInput {name}: Pipe input mode is not available in modelbay yet; use File")
    if s3.get("S3CompressionType") == "Gzip":  # SageMaker decompresses in Pipe mode only
        raise ValidationError(f"ProcessingInput {name}: S3CompressionType Gzip can only be used when Pipe mode is "
                              f"specified as the S3InputMode, got {mode}")


def _check_output(given: dict[str, Any]) -> None:
    name = given["OutputName"]
    if "S3Output" not in given:
        raise ValidationError(f"ProcessingOutput {name}: only S3Output is available in modelbay (FeatureStoreOutput "
                              "is not)")
    _check_local_path(f"ProcessingOutput {name}", given["S3Output"]["LocalPath"])


def _check_local_path(what: str, path: str) -> None:
    if not path.startswith(LOCAL_ROOT) or posixpath.normpath(path) != path.rstrip("/"):
        raise ValidationError(f"{what}: LocalPath {path!r} must be a normalized path under {LOCAL_ROOT}")


def describe_processing_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The job's request and state as DescribeProcessingJobResponse; ValidationException if it is unknown."""
    name = params["ProcessingJobName"]
    job = ctx.metadata.processing_jobs.get(name)
    if job is None:
        raise _not_found(name)
    return _summary(job) | job.request | present(ProcessingStartTime=job.processing_start_time)


def list_processing_jobs(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return list_page(params, ctx.metadata.processing_jobs.list, "ProcessingJobSummaries", _summary)


def stop_processing_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Move an InProgress job to Stopping; the controller stops it. ValidationException if unknown or not InProgress."""
    name = params["ProcessingJobName"]
    try:
        ctx.metadata.processing_jobs.request_stop(name)
    except ProcessingJobNotFound as err:
        raise _not_found(name) from err
    except StatusConflict as err:
        raise ValidationError(f"The request was rejected because the processing job is in status "
                              f"{err.status}.") from err
    return {}


def _not_found(name: str) -> ValidationError:
    return ValidationError(f"Could not find requested job with name {name}")


def _summary(job: ProcessingJob) -> dict[str, Any]:
    return {"ProcessingJobName": job.name, "ProcessingJobArn": job.arn, "CreationTime": job.creation_time,
            "LastModifiedTime": job.last_modified_time, "ProcessingJobStatus": job.status} | present(
        ProcessingEndTime=job.processing_end_time, FailureReason=job.failure_reason, ExitMessage=job.exit_message)


OPERATIONS: dict[str, Handler] = {
    "CreateProcessingJob": create_processing_job, "DescribeProcessingJob": describe_processing_job,
    "ListProcessingJobs": list_processing_jobs, "StopProcessingJob": stop_processing_job}
