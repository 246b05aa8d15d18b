"""Bad SageMaker requests get AWS's error types and messages, never a 500 or a traceback."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.helpers import signed_headers

NAME_PATTERN = "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"


def training_job(**changes: Any) -> dict[str, Any]:
    """A CreateTrainingJob request that the model accepts, with some members changed or removed."""
    request: dict[str, Any] = {
        "TrainingJobName": "good-name",
        "AlgorithmSpecification": {"TrainingImage": "modelbay/sklearn", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::000000000000:role/SageMakerRole",
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    for key, value in changes.items():
        if value is None:
            request.pop(key)
        else:
            request[key] = value
    return request


CASES = [
    pytest.param("create_training_job", training_job(TrainingJobName="x y"), "ValidationException",
                 "1 validation error detected: Value 'x y' at 'trainingJobName' failed to satisfy constraint: "
                 f"Member must satisfy regular expression pattern: {NAME_PATTERN}", id="pattern"),
    pytest.param("create_training_job", training_job(RoleArn=None), "ValidationException",
                 "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: "
                 "Member must not be null", id="required"),
    pytest.param("create_training_job", training_job(TrainingJobName="x y", RoleArn=None),
                 "ValidationException", "2 validation errors detected: Value null at 'roleArn' failed to satisfy "
                 "constraint: Member must not be null; Value 'x y' at 'trainingJobName' failed to satisfy "
                 f"constraint: Member must satisfy regular expression pattern: {NAME_PATTERN}", id="two-errors"),
    pytest.param("create_training_job", training_job(TrainingJobName="a" * 64),
                 "ValidationException", "2 validation errors detected: Value '" + "a" * 64 + "' at 'trainingJobName' "
                 "failed to satisfy constraint: Member must have length less than or equal to 63; ", id="length"),
    pytest.param("create_training_job",
                 training_job(ResourceConfig={"InstanceType": "ml.nope", "InstanceCount": 1, "VolumeSizeInGB": 10}),
                 "ValidationException", "at 'resourceConfig.instanceType' failed to satisfy constraint: "
                 "Member must satisfy enum value set: [", id="nested-enum"),
    pytest.param("create_training_job", training_job(OutputDataConfig=None), "ValidationException",
                 "1 validation error detected: Value null at 'outputDataConfig' failed to satisfy constraint: "
                 "Member must not be null", id="missing-output"),
    pytest.param("create_training_job", training_job(OutputDataConfig={"S3OutputPath": "bucket/output"}),
                 "ValidationException", "1 validation error detected: Value 'bucket/output' at "
                 "'outputDataConfig.s3OutputPath' failed to satisfy constraint: Member must satisfy regular "
                 "expression pattern: (https|s3)://([^/]+)/?(.*)", id="output-not-s3"),
    pytest.param("create_training_job", training_job(InputDataConfig=[{"ChannelName": "train", "DataSource": {
                 "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "bucket/data"}}}]),
                 "ValidationException", "1 validation error detected: Value 'bucket/data' at "
                 "'inputDataConfig.1.member.dataSource.s3DataSource.s3Uri' failed to satisfy constraint: Member "
                 "must satisfy regular expression pattern: (https|s3)://([^/]+)/?(.*)", id="channel-not-s3"),
    pytest.param("create_training_job", training_job(InputDataConfig=[]), "ValidationException",
                 "1 validation error detected: Value '[]' at 'inputDataConfig' failed to satisfy constraint: "
                 "Member must have length greater than or equal to 1", id="no-channels"),
    pytest.param("create_training_job", training_job(InputDataConfig=[{"ChannelName": "my train", "DataSource": {
                 "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/data"}}}]),
                 "ValidationException", "1 validation error detected: Value 'my train' at "
                 "'inputDataConfig.1.member.channelName' failed to satisfy constraint: Member must satisfy regular "
                 "expression pattern: [A-Za-z0-9\\.\\-_]+", id="channel-name-pattern"),
    pytest.param("create_training_job", training_job(InputDataConfig=[{"ChannelName": "c" * 65, "DataSource": {
                 "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/data"}}}]),
                 "ValidationException", "1 validation error detected: Value '" + "c" * 65 + "' at "
                 "'inputDataConfig.1.member.channelName' failed to satisfy constraint: Member must have length "
                 "less than or equal to 64", id="channel-name-length"),
    pytest.param("create_training_job", training_job(AlgorithmSpecification={
                 "TrainingImage": "modelbay/sklearn", "TrainingInputMode": "Stream"}), "ValidationException",
                 "1 validation error detected: Value 'Stream' at 'algorithmSpecification.trainingInputMode' failed "
                 "to satisfy constraint: Member must satisfy enum value set: [Pipe, File, FastFile]", id="input-mode"),
    pytest.param("create_training_job",
                 training_job(ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": -1,
                                              "VolumeSizeInGB": 10}),
                 "ValidationException", "1 validation error detected: Value '-1' at 'resourceConfig.instanceCount' "
                 "failed to satisfy constraint: Member must have value greater than or equal to 0",
                 id="instance-count-range"),
    pytest.param("create_training_job", training_job(StoppingCondition={"MaxRuntimeInSeconds": 0}),
                 "ValidationException", "1 validation error detected: Value '0' at "
                 "'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: Member must have value "
                 "greater than or equal to 1", id="max-runtime-range"),
    pytest.param("create_training_job", training_job(AlgorithmSpecification=None), "ValidationException",
                 "AlgorithmSpecification is required: give its TrainingImage and TrainingInputMode", id="no-algorithm"),
    pytest.param("create_training_job", training_job(AlgorithmSpecification={
                 "AlgorithmName": "xgboost", "TrainingInputMode": "File"}), "ValidationException",
                 "AlgorithmSpecification.TrainingImage is required: AlgorithmName", id="algorithm-name"),
    pytest.param("create_training_job", training_job(ResourceConfig=None), "ValidationException",
                 "ResourceConfig.InstanceType and ResourceConfig.InstanceCount are required", id="no-resources"),
    pytest.param("create_training_job",
                 training_job(ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 0, "VolumeSizeInGB": 1}),
                 "ValidationException", "ResourceConfig.InstanceCount must be at least 1", id="no-instances"),
    pytest.param("create_training_job",
                 training_job(ResourceConfig={"InstanceType": "ml.c5.large", "InstanceCount": 1,
                                              "VolumeSizeInGB": 1}),
                 "ValidationException", "1 validation error detected: Value 'ml.c5.large' at "
                 "'resourceConfig.instanceType' failed to satisfy constraint: Member must satisfy enum value set: "
                 "[ml.m4.xlarge, ", id="type-not-for-training"),
    pytest.param("create_training_job", training_job(InputDataConfig=[
                 {"ChannelName": name, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                                       "S3Uri": "s3://bucket/data"}}}
                 for name in ("train", "test", "train")]), "ValidationException",
                 "InputDataConfig: channel names must be unique; repeated: train", id="repeated-channel"),
    pytest.param("create_training_job", training_job(InputDataConfig=[
                 {"ChannelName": "train", "CompressionType": "Gzip", "DataSource": {"S3DataSource": {
                     "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/data"}}}]), "ValidationException",
                 "Invalid compression type for channel train: File mode only supports NONE, got Gzip instead",
                 id="gzip-in-file-mode"),
    pytest.param("create_training_job", training_job(InputDataConfig=[
                 {"ChannelName": "train", "InputMode": "Pipe", "DataSource": {"S3DataSource": {
                     "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/data"}}}]), "ValidationException",
                 "Channel train: Pipe input mode is not available in modelbay yet", id="pipe-mode"),
    pytest.param("create_training_job", training_job(StoppingCondition={"MaxRuntimeInSeconds": 2419201}),
                 "ValidationException", "StoppingCondition.MaxRuntimeInSeconds must be at most 2419200 (28 days)",
                 id="max-runtime-too-long"),
    pytest.param("list_tags", {"ResourceArn": "arn:aws:sagemaker:us-east-1:000000000000:model/m", "MaxResults": 0},
                 "ValidationException", "Value '0' at 'maxResults' failed to satisfy constraint: "
                 "Member must have value greater than or equal to 50", id="range"),
    pytest.param("add_tags", {"ResourceArn": "arn:aws:sagemaker:us-east-1:000000000000:model/m",
                              "Tags": [{"Key": "k" * 129, "Value": "v"}]},
                 "ValidationException", "at 'tags.1.member.key' failed to satisfy constraint: "
                 "Member must have length less than or equal to 128", id="list-member"),
    pytest.param("add_tags", {"ResourceArn": "not-an-arn", "Tags": [{"Key": "k", "Value": "v"}]},
                 "ValidationException", "not-an-arn", id="not-a-sagemaker-arn"),
    pytest.param("describe_feature_group", {"FeatureGroupName": "g"}, "NotImplemented",
                 "SageMaker operation DescribeFeatureGroup is not implemented by modelbay yet.",
                 id="not-implemented"),
]


@pytest.fixture(scope="module")
def unchecked(server: Any) -> Any:
    """A sagemaker client that sends what it is given: botocore's own checks turned off."""
    return client(server.url, "sagemaker", parameter_validation=False)


@pytest.mark.parametrize(("operation", "request_params", "code", "message"), CASES)
def test_bad_request_gets_the_aws_error(unchecked: Any, operation: str, request_params: dict[str, Any],
                                        code: str, message: str) -> None:
    with pytest.raises(ClientError) as caught:
        getattr(unchecked, operation)(**request_params)
    error = caught.value.response["Error"]
    assert error["Code"] == code
    assert message in error["Message"]
    assert caught.value.response["ResponseMetadata"]["RequestId"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 501)


def test_too_many_tags_is_a_resource_limit(sagemaker: Any, unique: str) -> None:
    arn = f"arn:aws:sagemaker:us-east-1:000000000000:model/{unique}"
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(40)])
    with pytest.raises(ClientError) as caught:
        sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": f"x{i}", "Value": "v"} for i in range(11)])
    assert caught.value.response["Error"]["Code"] == "ResourceLimitExceeded"
    assert len(sagemaker.list_tags(ResourceArn=arn, MaxResults=100)["Tags"]) == 40


def raw(server: Any, target: str | None, body: bytes, content_type: str = "application/x-amz-json-1.1",
        service: str = "sagemaker") -> httpx.Response:
    """A hand-made request, signed, as a non-botocore client might send it."""
    headers = {"Content-Type": content_type} | ({"X-Amz-Target": target} if target else {})
    return httpx.post(server.url + "/", content=body,
                      headers=signed_headers("POST", server.url + "/", service, headers, body))


@pytest.mark.parametrize(("target", "body", "content_type", "status", "code", "words"), [
    ("SageMaker.CreateUnicorn", b"{}", "application/x-amz-json-1.1", 400, "UnknownOperationException",
     "CreateUnicorn"),
    ("Unicorns.AddTags", b"{}", "application/x-amz-json-1.1", 400, "UnknownOperationException", "Unicorns.AddTags"),
    ("SageMaker.ListTags", b'{"ResourceArn": ', "application/x-amz-json-1.1", 400, "SerializationException", ""),
    ("SageMaker.ListTags", b"[1, 2]", "application/x-amz-json-1.1", 400, "SerializationException", ""),
    ("SageMaker.ListTags", b'{"ResourceArn": 5}', "application/x-amz-json-1.1", 400, "SerializationException",
     "resourceArn"),
    ("SageMaker.ListTags", b"{}", "text/plain", 415, "UnsupportedMediaTypeException", "text/plain"),
    ("SageMaker.ListTags", b'{"ResourceArn": "' + b"a" * (17 * 1024 * 1024) + b'"}', "application/x-amz-json-1.1",
     413, "RequestEntityTooLargeException", ""),
    ("SageMaker.DescribeModel", b'{"ModelName": "\\ud800"}', "application/x-amz-json-1.1", 400,
     "SerializationException", "surrogate"),
    ("SageMaker.CreateModel", b'{"ModelName": "m", "ExecutionRoleArn": "arn:aws:iam::000000000000:role/r", '
     b'"PrimaryContainer": {"Image": "i", "Environment": {"K": "\\udc00"}}}', "application/x-amz-json-1.1", 400,
     "SerializationException", "surrogate"),
], ids=["unknown-operation", "foreign-target", "malformed-json", "not-an-object", "wrong-type", "content-type",
        "oversized", "surrogate-in-a-pattern", "surrogate-never-stored"])
def test_malformed_requests(server: Any, target: str, body: bytes, content_type: str, status: int, code: str,
                            words: str) -> None:
    response = raw(server, target, body, content_type)
    assert response.status_code == status
    assert response.headers["x-amzn-ErrorType"].split(":")[0] == code
    assert response.json()["__type"] == code
    assert words in response.json()["message"]
    assert "Traceback" not in response.text
    assert response.headers["x-amzn-RequestId"]


def test_a_scope_naming_an_api_we_do_not_serve(server: Any) -> None:
    response = raw(server, "AmazonEC2.DescribeInstances", b"{}", service="ec2")
    assert response.status_code == 400
    body = json.loads(response.text)
    assert body["__type"] == "UnknownServiceException"
    assert "'ec2'" in body["message"]
