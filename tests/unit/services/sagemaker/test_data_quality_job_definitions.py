"""The data quality job definition operations as service functions over a real SQLite metadata store."""

from __future__ import annotations

from typing import Any

from modelbay.errors import ResourceInUse, ResourceNotFound, ValidationError
from modelbay.services.base import Context
from modelbay.store.metadata import EndpointSpec
from tests.unit.services.sagemaker.test_hosting import PREFIX, _call, _error
from tests.unit.store.metadata.test_monitoring_executions import definition

CAPTURE = {"EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": "s3://b/capture",
           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}


def endpoint(ctx: Context, name: str = "ep", capture: dict[str, Any] | None = CAPTURE) -> None:
    """An endpoint record whose config captures data to s3://b/capture (none if `capture` is None)."""
    config = {"ProductionVariants": [{"VariantName": "AllTraffic"}]} | (
        {"DataCaptureConfig": capture} if capture else {})
    ctx.metadata.endpoints.create(name, f"{PREFIX}:endpoint/{name}", "cfg", [], EndpointSpec(config, {}))


def create_definition(ctx: Context, name: str = "def", endpoint_name: str = "ep", **changes: Any) -> Any:
    return _call(ctx, "CreateDataQualityJobDefinition", JobDefinitionName=name,
                 **(definition(endpoint_name) | changes))


def test_a_definition_is_described_as_created_listed_by_endpoint_and_deleted(ctx: Context) -> None:
    created = create_definition(ctx)
    assert created == {"JobDefinitionArn": f"{PREFIX}:data-quality-job-definition/def"}
    create_definition(ctx, "other", endpoint_name="ep2")
    described = _call(ctx, "DescribeDataQualityJobDefinition", JobDefinitionName="def")
    assert described | {"CreationTime": None} == definition("ep") | {
        "JobDefinitionName": "def", "JobDefinitionArn": created["JobDefinitionArn"], "CreationTime": None}
    listed = _call(ctx, "ListDataQualityJobDefinitions", EndpointName="ep")["JobDefinitionSummaries"]
    assert [(s["MonitoringJobDefinitionName"], s["EndpointName"]) for s in listed] == [("def", "ep")]
    assert _call(ctx, "DeleteDataQualityJobDefinition", JobDefinitionName="def") == {}
    missing = _error(ctx, "DescribeDataQualityJobDefinition", JobDefinitionName="def")
    assert isinstance(missing, ResourceNotFound)
    assert str(missing) == f"Job definition {PREFIX}:data-quality-job-definition/def does not exist."


def test_a_taken_name_is_resource_in_use(ctx: Context) -> None:
    create_definition(ctx)
    taken = _error(ctx, "CreateDataQualityJobDefinition", JobDefinitionName="def", **definition("ep"))
    assert isinstance(taken, ResourceInUse)


def test_what_modelbay_cannot_run_is_refused_naming_the_member(ctx: Context) -> None:
    batch = _error(ctx, "CreateDataQualityJobDefinition", JobDefinitionName="d", **definition("ep") | {
        "DataQualityJobInput": {"BatchTransformInput": {"DataCapturedDestinationS3Uri": "s3://b/c",
                                                        "DatasetFormat": {}, "LocalPath": "/opt/ml/processing/in"}}})
    assert isinstance(batch, ValidationError) and "BatchTransformInput is not available" in str(batch)
    outside = definition("ep")
    outside["DataQualityJobInput"]["EndpointInput"]["LocalPath"] = "/tmp/input"
    wrong = _error(ctx, "CreateDataQualityJobDefinition", JobDefinitionName="d", **outside)
    assert str(wrong) == "EndpointInput.LocalPath '/tmp/input' must be a normalized path under /opt/ml/processing/"


def test_a_definition_a_schedule_uses_cannot_be_deleted(ctx: Context) -> None:
    endpoint(ctx)
    create_definition(ctx)
    _call(ctx, "CreateMonitoringSchedule", MonitoringScheduleName="s", MonitoringScheduleConfig={
        "MonitoringJobDefinitionName": "def", "MonitoringType": "DataQuality",
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}})
    in_use = _error(ctx, "DeleteDataQualityJobDefinition", JobDefinitionName="def")
    assert isinstance(in_use, ResourceInUse) and "monitoring schedule s" in str(in_use)
