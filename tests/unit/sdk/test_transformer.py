"""Model.transformer and Transformer: CreateTransformJob requests and waiting, through offline boto3 clients."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from modelbay.sdk import Model, Transformer, TransformJobFailed
from tests.unit.sdk.offline import BUCKET, OfflineSession

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def job(status: str, **more: Any) -> dict[str, Any]:
    """A DescribeTransformJob answer."""
    return {"TransformJobName": "j", "TransformJobArn": "arn", "TransformJobStatus": status, "ModelName": "m",
            "CreationTime": NOW, "TransformInput": {"DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": "s3://in/"}}},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}} | more


def test_model_transformer_creates_the_model_and_sends_every_setting(offline: OfflineSession) -> None:
    offline.sagemaker.answer("DescribeTransformJob", job("InProgress"), job("Completed"))
    transformer = Model("img", name="m", session=offline).transformer(  # type: ignore[arg-type]
        2, "ml.c5.large", output_path="s3://out/x", strategy="MultiRecord", assemble_with="Line",
        accept="text/csv", max_payload=1, max_concurrent_transforms=4, env={"A": "1"})
    transformer.transform("s3://in/", content_type="text/csv", split_type="Line", input_filter="$[1:]",
                          join_source="Input", output_filter="$[0,-1]", job_name="j")
    assert offline.sagemaker.operations() == ["CreateModel", "CreateTransformJob", "DescribeTransformJob",
                                              "DescribeTransformJob"]
    assert offline.sagemaker.sent("CreateTransformJob") == [{
        "TransformJobName": "j", "ModelName": "m",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://in/"}},
                           "ContentType": "text/csv", "SplitType": "Line"},
        "TransformOutput": {"S3OutputPath": "s3://out/x", "Accept": "text/csv", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.c5.large", "InstanceCount": 2},
        "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 1, "MaxConcurrentTransforms": 4, "Environment": {"A": "1"},
        "DataProcessing": {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}}]
    assert transformer.latest_transform_job == "j"


def test_defaults_name_the_job_after_the_model_and_write_under_the_default_bucket(offline: OfflineSession) -> None:
    transformer = Transformer("my-model", session=offline)  # type: ignore[arg-type]
    transformer.transform("s3://in/manifest", data_type="ManifestFile", wait=False)
    [request] = offline.sagemaker.sent("CreateTransformJob")
    name = request["TransformJobName"]
    assert re.fullmatch(r"my-model-\d{4}(-\d{2}){5}-\d{3}", name)
    assert request == {
        "TransformJobName": name, "ModelName": "my-model",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://in/manifest"}}},
        "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/{name}"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}
    assert offline.sagemaker.operations() == ["CreateTransformJob"]  # no wait


def test_a_failed_job_raises_with_its_reason_after_printing_its_log(offline: OfflineSession,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    offline.sagemaker.answer("DescribeTransformJob", job("InProgress"), job("Failed", FailureReason="ClientError: 415"))
    offline.logs.answer("DescribeLogStreams", {"logStreams": [{"logStreamName": "j/i-1"}]})
    offline.logs.answer("GetLogEvents", {"events": [{"timestamp": 1, "message": "loading model"},
                                                    {"timestamp": 2, "message": "unsupported type"}],
                                         "nextForwardToken": "f/1"}, {"events": [], "nextForwardToken": "f/1"})
    transformer = Transformer("m", session=offline)  # type: ignore[arg-type]
    with pytest.raises(TransformJobFailed, match="transform job j failed: ClientError: 415") as failed:
        transformer.transform("s3://in/", job_name="j", logs=True)
    assert (failed.value.job_name, failed.value.reason) == ("j", "ClientError: 415")
    assert capsys.readouterr().out == "loading model\nunsupported type\n"
    assert offline.logs.sent("DescribeLogStreams") == [
        {"logGroupName": "/aws/sagemaker/TransformJobs", "logStreamNamePrefix": "j/"}]


def test_a_stopped_job_does_not_raise(offline: OfflineSession) -> None:
    offline.sagemaker.answer("DescribeTransformJob", job("Stopping"), job("Stopped"))
    Transformer("m", session=offline).transform("s3://in/", job_name="j")  # type: ignore[arg-type]
    assert offline.sagemaker.operations()[-1] == "DescribeTransformJob"


def test_local_data_and_a_wait_before_any_job_are_refused(offline: OfflineSession) -> None:
    transformer = Transformer("m", session=offline)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be an s3:// URI, not '/data/in': .*upload_data"):
        transformer.transform("/data/in")
    with pytest.raises(RuntimeError, match="call transform"):
        transformer.wait()
    assert offline.sagemaker.calls == []
