"""Model Monitor's data quality job definitions: CreateDataQualityJobDefinition, DescribeDataQualityJobDefinition,
ListDataQualityJobDefinitions, DeleteDataQualityJobDefinition.

A job definition says what each execution of a schedule naming it runs (the SDK's DefaultModelMonitor
creates one, then the schedule): the analyzer image, the endpoint whose captured data it reads, the
baseline, where its results go. Like models, it never changes; a schedule that uses it keeps it from
being deleted. `check_job` is also what CreateMonitoringSchedule checks of an inline job definition.
"""

from __future__ import annotations

import posixpath
from dataclasses import asdict
from typing import Any

from modelbay.errors import ResourceInUse, ResourceNotFound, ValidationError
from modelbay.services.base import Context, Handler
from modelbay.services.listing import list_filter, list_page
from modelbay.services.sagemaker.kms_key_ids import check_volume_key
from modelbay.services.sagemaker.processing_jobs import LOCAL_ROOT
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.store.metadata import (
    DataQualityJobDefinition,
    JobDefinitionFilter,
    MonitoringJobSpec,
    MonitoringScheduleFilter,
    RecordExists,
)

# The CreateDataQualityJobDefinition members that DescribeDataQualityJobDefinition gives back as they were sent.
ECHOED_MEMBERS = ("DataQualityBaselineConfig", "DataQualityAppSpecification", "DataQualityJobInput",
                  "DataQualityJobOutputConfig", "JobResources", "NetworkConfig", "RoleArn", "StoppingCondition")


def create_data_quality_job_definition(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record the definition and its tags; ValidationException for what modelbay cannot run, ResourceInUse if the
    name is taken."""
    job_input = params["DataQualityJobInput"]
    if "BatchTransformInput" in job_input:
        raise ValidationError("DataQualityJobInput.BatchTransformInput is not available in modelbay yet: monitor an "
                              "endpoint's captured data (EndpointInput).")
    if "EndpointInput" not in job_input:
        raise ValidationError("DataQualityJobInput must have an EndpointInput.")
    request = {key: value for key, value in params.items() if key in ECHOED_MEMBERS}
    check_job(ctx, MonitoringJobSpec.from_definition(request))
    name: str = params["JobDefinitionName"]
    arn = _arn(ctx, name)
    tags = creation_tags(params)
    try:
        ctx.metadata.data_quality_job_definitions.create(name, arn, request)
    except RecordExists as err:
        raise ResourceInUse(f"Job definition with name {name} already exists ({err.arn}).") from err
    store_tags(ctx, arn, tags)
    return {"JobDefinitionArn": arn}


def check_job(ctx: Context, job: MonitoringJobSpec) -> None:
    """Refuse a monitoring job modelbay cannot run, naming the member (its processing jobs' volume key included)."""
    check_volume_key(ctx, job.cluster.get("VolumeKmsKeyId"), "ClusterConfig.VolumeKmsKeyId")
    if job.endpoint_input.get("S3InputMode") == "Pipe":
        raise ValidationError("EndpointInput.S3InputMode Pipe is not available in modelbay yet; use File")
    for member, path in (("EndpointInput.LocalPath", job.input_path),
                         ("MonitoringOutputs.S3Output.LocalPath", job.output["LocalPath"])):
        if not path.startswith(LOCAL_ROOT) or posixpath.normpath(path) != path.rstrip("/"):
            raise ValidationError(f"{member} {path!r} must be a normalized path under {LOCAL_ROOT}")


def describe_data_quality_job_definition(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The request it was created with, its name, ARN and CreationTime; ResourceNotFound if there is none."""
    found = get_job_definition(ctx, params["JobDefinitionName"])
    return {"JobDefinitionName": found.name, "JobDefinitionArn": found.arn,
            "CreationTime": found.creation_time} | found.request


def list_data_quality_job_definitions(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of definitions, narrowed by the request's filters (EndpointName among them)."""
    filters = JobDefinitionFilter(**asdict(list_filter(params)), endpoint_name=params.get("EndpointName"))
    return list_page(params, ctx.metadata.data_quality_job_definitions.list, "JobDefinitionSummaries", _summary,
                     filters)


def delete_data_quality_job_definition(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete it and its tags; ResourceNotFound if absent, ResourceInUse while a schedule names it."""
    name = params["JobDefinitionName"]
    users = ctx.metadata.monitoring_schedules.list(MonitoringScheduleFilter(job_definition_name=name), limit=1)
    if users.items:
        raise ResourceInUse(f"Job definition {_arn(ctx, name)} is in use by monitoring schedule "
                            f"{users.items[0].name}; delete the schedule first.")
    if ctx.metadata.data_quality_job_definitions.delete(name) is None:
        raise _not_found(ctx, name)
    return {}


def get_job_definition(ctx: Context, name: str) -> DataQualityJobDefinition:
    """The definition named so; ResourceNotFound if there is none."""
    found: DataQualityJobDefinition | None = ctx.metadata.data_quality_job_definitions.get(name)
    if found is None:
        raise _not_found(ctx, name)
    return found


def _arn(ctx: Context, name: str) -> str:
    return ctx.arn("sagemaker", f"data-quality-job-definition/{name.lower()}")


def _not_found(ctx: Context, name: str) -> ResourceNotFound:
    return ResourceNotFound(f"Job definition {_arn(ctx, name)} does not exist.")


def _summary(found: DataQualityJobDefinition) -> dict[str, Any]:
    return {"MonitoringJobDefinitionName": found.name, "MonitoringJobDefinitionArn": found.arn,
            "CreationTime": found.creation_time, "EndpointName": found.endpoint_name or ""}


OPERATIONS: dict[str, Handler] = {
    "CreateDataQualityJobDefinition": create_data_quality_job_definition,
    "DescribeDataQualityJobDefinition": describe_data_quality_job_definition,
    "ListDataQualityJobDefinitions": list_data_quality_job_definitions,
    "DeleteDataQualityJobDefinition": delete_data_quality_job_definition,
}
