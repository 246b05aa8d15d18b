"""SageMaker's batch transform records: CreateTransformJob, DescribeTransformJob, ListTransformJobs, StopTransformJob.

These functions record desired state only; the transform controller runs each job (the
model's containers over the input objects) and moves it through its statuses
(TransformJobRepository.advance).
"""

from __future__ import annotations

from typing import Any

from modelbay.errors import ValidationError
from modelbay.services.base import Context, Handler, present
from modelbay.services.listing import list_page
from modelbay.services.sagemaker.compiled_models import check_instance_family
from modelbay.services.sagemaker.jobs import name_in_use
from modelbay.services.sagemaker.kms_key_ids import check_transform_keys
from modelbay.services.sagemaker.models import get_model
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.services.sagemaker.trial_components import job_trial_component
from modelbay.serving.batch.jsonpath import JsonPathError, parse
from modelbay.store.metadata import RecordExists, StatusConflict, TransformJob, TransformJobNotFound, TransformJobSpec
from modelbay.store.metadata.job_trial_components import TRANSFORM

MAX_PAYLOAD_MB = 100  # SageMaker's bound on MaxPayloadInMB, and on MaxPayloadInMB x MaxConcurrentTransforms
# The CreateTransformJob members that DescribeTransformJob gives back as they were sent.
ECHOED_MEMBERS = ("ModelName", "MaxConcurrentTransforms", "ModelClientConfig", "MaxPayloadInMB", "BatchStrategy",
                  "Environment", "TransformInput", "TransformOutput", "TransformResources", "DataProcessing",
                  "ExperimentConfig")
# What SageMaker does when the request leaves these out (shown by DescribeTransformJob, followed by the controller).
DEFAULTS: dict[str, dict[str, Any]] = {
    "TransformInput": {"CompressionType": "None", "SplitType": "None"},
    "TransformOutput": {"AssembleWith": "None"},
    "DataProcessing": {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"}}
DEFAULT_MAX_PAYLOAD_MB = 6
AVAILABLE_DATA_TYPES = ("S3Prefix", "ManifestFile")
AVAILABLE_SPLIT_TYPES = ("None", "Line")


def create_transform_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record the job as InProgress with its tags; ResourceInUse if a job has the name."""
    request = _stored_request(params)
    check_runnable(ctx, params, request)
    check_transform_keys(ctx, params)
    name: str = params["TransformJobName"]
    arn = ctx.arn("sagemaker", f"transform-job/{name.lower()}")
    tags = creation_tags(params)
    try:
        with job_trial_component(ctx, TRANSFORM, name, arn, params.get("ExperimentConfig")):
            ctx.metadata.transform_jobs.create(name, arn, request)
    except RecordExists as err:
        raise name_in_use("transform job", err) from err
    store_tags(ctx, arn, tags)
    return {"TransformJobArn": arn}


def _stored_request(params: dict[str, Any]) -> dict[str, Any]:
    """The members DescribeTransformJob echoes, with the defaults it shows filled in (member by member)."""
    echoed = {key: value for key, value in params.items() if key in ECHOED_MEMBERS}
    return {"MaxPayloadInMB": DEFAULT_MAX_PAYLOAD_MB} | echoed | {
        member: defaults | echoed.get(member, {}) for member, defaults in DEFAULTS.items()}


def check_runnable(ctx: Context, params: dict[str, Any], request: dict[str, Any]) -> None:
    """Refuse what modelbay cannot run, naming the member: a missing model, a compiled model on another instance
    family, bad filters.

    `request` is what will be stored of `params` (_stored_request).
    """
    spec = TransformJobSpec.from_request(request)
    check_instance_family(ctx, get_model(ctx, spec.model_name), spec.instance_type, "TransformResources")
    if "DataCaptureConfig" in params:
        raise ValidationError("DataCaptureConfig: batch data capture is not available in modelbay yet.")
    _check_input(request["TransformInput"])
    _check_payload(spec.max_payload_mb, spec.max_concurrent_transforms)
    for member, expression in (("InputFilter", spec.input_filter), ("OutputFilter", spec.output_filter)):
        try:
            parse(expression)
        except JsonPathError as err:
            raise ValidationError(f"DataProcessing.{member}: {err}") from err


def _check_input(transform_input: dict[str, Any]) -> None:
    data_type = transform_input["DataSource"]["S3DataSource"]["S3DataType"]
    if data_type not in AVAILABLE_DATA_TYPES:
        raise ValidationError(f"TransformInput.DataSource.S3DataSource.S3DataType {data_type} is not available in "
                              f"modelbay; use {' or '.join(AVAILABLE_DATA_TYPES)}.")
    if transform_input["CompressionType"] != "None":
        raise ValidationError("TransformInput.CompressionType Gzip is not available in modelbay yet; give "
                              "uncompressed input (CompressionType None).")
    split = transform_input["SplitType"]
    if split not in AVAILABLE_SPLIT_TYPES:
        raise ValidationError(f"TransformInput.SplitType {split} is not available in modelbay; use "
                              f"{' or '.join(AVAILABLE_SPLIT_TYPES)}.")


def _check_payload(max_payload_mb: int, max_concurrent: int) -> None:
    if max_payload_mb > MAX_PAYLOAD_MB:
        raise ValidationError(f"MaxPayloadInMB must be at most {MAX_PAYLOAD_MB}, not {max_payload_mb}.")
    if max_payload_mb * max_concurrent > MAX_PAYLOAD_MB:
        raise ValidationError(f"MaxPayloadInMB ({max_payload_mb}) multiplied by MaxConcurrentTransforms "
                              f"({max_concurrent}) must not exceed {MAX_PAYLOAD_MB}.")


def describe_transform_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The job's request and state as DescribeTransformJobResponse; ValidationException if it is unknown."""
    name = params["TransformJobName"]
    job = ctx.metadata.transform_jobs.get(name)
    if job is None:
        raise _not_found(name)
    return {"TransformJobName": job.name, "TransformJobArn": job.arn, "TransformJobStatus": job.status,
            "CreationTime": job.creation_time} | job.request | present(
        FailureReason=job.failure_reason, TransformStartTime=job.transform_start_time,
        TransformEndTime=job.transform_end_time)


def list_transform_jobs(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return list_page(params, ctx.metadata.transform_jobs.list, "TransformJobSummaries", _summary)


def stop_transform_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Move an InProgress job to Stopping; the controller stops it. ValidationException if unknown or not InProgress."""
    name = params["TransformJobName"]
    try:
        ctx.metadata.transform_jobs.request_stop(name)
    except TransformJobNotFound as err:
        raise _not_found(name) from err
    except StatusConflict as err:
        raise ValidationError(f"The request was rejected because the transform job is in status {err.status}.") from err
    return {}


def _not_found(name: str) -> ValidationError:
    return ValidationError(f"Could not find requested job with name {name}")


def _summary(job: TransformJob) -> dict[str, Any]:
    return {"TransformJobName": job.name, "TransformJobArn": job.arn, "CreationTime": job.creation_time,
            "LastModifiedTime": job.last_modified_time, "TransformJobStatus": job.status} | present(
        TransformEndTime=job.transform_end_time, FailureReason=job.failure_reason)


OPERATIONS: dict[str, Handler] = {
    "CreateTransformJob": create_transform_job, "DescribeTransformJob": describe_transform_job,
    "ListTransformJobs": list_transform_jobs, "StopTransformJob": stop_transform_job}
