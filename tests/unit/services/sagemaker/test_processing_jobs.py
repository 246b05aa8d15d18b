"""The processing-job operations as service functions over a real SQLite metadata store (no execution)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelbay.errors import ResourceInUse, ValidationError
from modelbay.services.base import Context
from modelbay.services.sagemaker.processing_jobs import ECHOED_MEMBERS, OPERATIONS
from tests.helpers import T0

MODEL = botocore.session.get_session().get_service_model("sagemaker")
DESCRIBE_SHAPE = MODEL.operation_model("DescribeProcessingJob").output_shape
S3_INPUT = {"S3Uri": "s3://b/in", "LocalPath": "/opt/ml/processing/input", "S3DataType": "S3Prefix",
            "S3InputMode": "File"}


def _request(name: str, **extra: Any) -> dict[str, Any]:
    return {"ProcessingJobName": name, "RoleArn": "arn:aws:iam::123456789012:role/r",
            "AppSpecification": {"ImageUri": "modelbay/python", "ContainerEntrypoint": ["python3", "x.py"]},
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                      "VolumeSizeInGB": 1}}} | extra


def _call(ctx: Context, operation: str, **params: Any) -> Any:
    """Call the operation's function and check its output against botocore's output shape (or none)."""
    output = OPERATIONS[operation](ctx, params)
    if MODEL.operation_model(operation).output_shape is None:  # StopProcessingJob answers nothing
        assert output == {}
        return output
    report = ParamValidator().validate(output, MODEL.operation_model(operation).output_shape)
    assert not report.has_errors(), report.generate_report()
    return output


def test_operations_and_echoed_members_are_the_models() -> None:
    assert set(OPERATIONS) == {"CreateProcessingJob", "DescribeProcessingJob", "ListProcessingJobs",
                               "StopProcessingJob"}
    create_members = set(MODEL.operation_model("CreateProcessingJob").input_shape.members)
    assert set(ECHOED_MEMBERS) == (create_members & set(DESCRIBE_SHAPE.members)) - {"ProcessingJobName"}


def test_create_then_describe_gives_the_request_back_with_the_state(ctx: Context) -> None:
    request = _request("My-Job", ProcessingInputs=[{"InputName": "in", "S3Input": S3_INPUT}],
                       Environment={"A": "1"})
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:processing-job/my-job"
    assert _call(ctx, "CreateProcessingJob", **request, Tags=[{"Key": "k", "Value": "v"}]) == {
        "ProcessingJobArn": arn}
    assert ctx.metadata.tags.list(arn).items == [("k", "v")]
    created = T0 + timedelta(seconds=1)
    assert _call(ctx, "DescribeProcessingJob", ProcessingJobName="My-Job") == request | {
        "ProcessingJobArn": arn, "ProcessingJobStatus": "InProgress", "CreationTime": created,
        "LastModifiedTime": created}
    with pytest.raises(ResourceInUse, match="a processing job with this name already exists"):
        _call(ctx, "CreateProcessingJob", **request)


@pytest.mark.parametrize(("change", "message"), [
    ({"LocalPath": "/opt/ml/input"}, "must be a normalized path under /opt/ml/processing/"),
    ({"LocalPath": "/opt/ml/processing/../model"}, "must be a normalized path"),
    ({"S3InputMode": "Pipe"}, "Pipe input mode is not available"),
    ({"S3CompressionType": "Gzip"}, "Gzip can only be used when Pipe mode is specified as the S3InputMode"),
])
def test_create_refuses_inputs_sagemaker_or_modelbay_refuses(ctx: Context, change: dict[str, str],
                                                             message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _call(ctx, "CreateProcessingJob",
              **_request("j", ProcessingInputs=[{"InputName": "in", "S3Input": S3_INPUT | change}]))
    assert ctx.metadata.processing_jobs.get("j") is None


def test_create_refuses_repeated_names_and_other_sources(ctx: Context) -> None:
    output = {"OutputName": "in", "S3Output": {"S3Uri": "s3://b/o", "LocalPath": "/opt/ml/processing/o",
                                               "S3UploadMode": "EndOfJob"}}
    with pytest.raises(ValidationError, match="repeated: in"):
        _call(ctx, "CreateProcessingJob", **_request("j", ProcessingInputs=[{"InputName": "in", "S3Input": S3_INPUT}],
                                                     ProcessingOutputConfig={"Outputs": [output]}))
    with pytest.raises(ValidationError, match="only S3Input is available"):
        _call(ctx, "CreateProcessingJob", **_request("j", ProcessingInputs=[
            {"InputName": "in", "DatasetDefinition": {"LocalPath": "/opt/ml/processing/d"}}]))


def test_stop_and_list(ctx: Context) -> None:
    for name in ("a", "b"):
        _call(ctx, "CreateProcessingJob", **_request(name))
    assert _call(ctx, "StopProcessingJob", ProcessingJobName="a") == {}
    with pytest.raises(ValidationError, match="is in status Stopping"):
        _call(ctx, "StopProcessingJob", ProcessingJobName="a")
    with pytest.raises(ValidationError, match="Could not find requested job with name nope"):
        _call(ctx, "StopProcessingJob", ProcessingJobName="nope")
    listed = _call(ctx, "ListProcessingJobs", StatusEquals="Stopping")["ProcessingJobSummaries"]
    assert [(s["ProcessingJobName"], s["ProcessingJobStatus"]) for s in listed] == [("a", "Stopping")]
