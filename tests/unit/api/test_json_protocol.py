"""The AWS JSON codec in a tiny app, driven by botocore's serializer and parser and by raw HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.types import Message, Scope

from modelbay.api.json_protocol import JsonCodec
from modelbay.api.protocol import ErrorSpelling
from modelbay.errors import AwsError, InternalFailure, RequestTooLarge, ResourceInUse
from tests.unit.api.codec_harness import REQUEST_ID, FakeService, botocore_call, http_client, service_model

pytestmark = pytest.mark.anyio

SAGEMAKER = service_model("sagemaker")
KMS = service_model("kms")
MOMENT = datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=UTC)
JSON_11 = "application/x-amz-json-1.1"
VALID_TRAINING_JOB = {
    "TrainingJobName": "job-1", "RoleArn": "arn:aws:iam::000000000000:role/training",
    "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
    "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
    "StoppingCondition": {"MaxRuntimeInSeconds": 60},
}
DESCRIBED = {"TrainingJobName": "job-1",
             "TrainingJobArn": "arn:aws:sagemaker:us-east-1:000000000000:training-job/job-1",
             "ModelArtifacts": {"S3ModelArtifacts": "s3://bucket/out/model.tar.gz"}, "TrainingJobStatus": "Completed",
             "SecondaryStatus": "Completed", "AlgorithmSpecification": {"TrainingInputMode": "File"},
             "ResourceConfig": {"InstanceCount": 1, "VolumeSizeInGB": 5}, "StoppingCondition": {},
             "CreationTime": MOMENT, "TrainingEndTime": datetime(2024, 5, 6, 8, 0, tzinfo=UTC)}


class Failing:
    """A service that raises a given error."""

    def __init__(self, error: AwsError) -> None:
        self.error = error

    def __call__(self, call: Any) -> dict[str, Any]:
        raise self.error


def sagemaker_headers(operation: str, content_type: str = JSON_11) -> dict[str, str]:
    return {"X-Amz-Target": f"SageMaker.{operation}", "Content-Type": content_type}


@pytest.fixture
def service() -> FakeService:
    return FakeService({"DescribeTrainingJob": DESCRIBED, "CreateTrainingJob": {"TrainingJobArn": "arn:t"}})


@pytest.fixture
async def http(service: FakeService) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(JsonCodec(SAGEMAKER, max_body_bytes=4096), service) as client:
        yield client


async def test_botocore_round_trip_with_timestamps(http: httpx.AsyncClient, service: FakeService) -> None:
    described = await botocore_call(http, SAGEMAKER, "DescribeTrainingJob", {"TrainingJobName": "job-1"})
    assert described.pop("ResponseMetadata")["RequestId"] == REQUEST_ID
    assert described == DESCRIBED
    await botocore_call(http, SAGEMAKER, "ListTrainingJobs", {"CreationTimeAfter": MOMENT, "MaxResults": 10})
    assert service.calls[-1].params == {"CreationTimeAfter": MOMENT, "MaxResults": 10}


async def test_blobs_both_ways() -> None:
    kms = FakeService({"Encrypt": {"CiphertextBlob": b"\x00\xffcipher", "KeyId": "k"}})
    async with http_client(JsonCodec(KMS), kms) as http:
        answer = await botocore_call(http, KMS, "Encrypt", {"KeyId": "alias/k", "Plaintext": b"\x01\x02secret"})
    assert kms.calls[0].params == {"KeyId": "alias/k", "Plaintext": b"\x01\x02secret"}
    assert answer["CiphertextBlob"] == b"\x00\xffcipher"


async def test_the_response_carries_the_protocol_headers(http: httpx.AsyncClient) -> None:
    response = await http.post("/", json={"TrainingJobName": "job-1"}, headers=sagemaker_headers("DescribeTrainingJob"))
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_11
    assert response.headers["x-amzn-RequestId"] == REQUEST_ID
    assert response.json()["CreationTime"] == MOMENT.timestamp()


async def test_plain_json_is_accepted_and_unknown_members_ignored(http: httpx.AsyncClient,
                                                                 service: FakeService) -> None:
    response = await http.post("/", json={"TrainingJobName": "job-1", "Extra": 1},
                               headers=sagemaker_headers("DescribeTrainingJob", "application/json; charset=utf-8"))
    assert response.status_code == 200
    assert service.calls[0].params == {"TrainingJobName": "job-1"}


async def test_validation_errors_have_aws_wording(http: httpx.AsyncClient) -> None:
    answer = await botocore_call(http, SAGEMAKER, "CreateTrainingJob", {**VALID_TRAINING_JOB, "TrainingJobName": "x y"})
    assert answer["Error"] == {"Code": "ValidationException", "Message": (
        "1 validation error detected: Value 'x y' at 'trainingJobName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")}
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 400


async def test_every_problem_is_counted(http: httpx.AsyncClient, service: FakeService) -> None:
    params = {**VALID_TRAINING_JOB, "RoleArn": None, "ResourceConfig": {"InstanceCount": -1, "VolumeSizeInGB": 1}}
    answer = await botocore_call(http, SAGEMAKER, "CreateTrainingJob", {k: v for k, v in params.items() if v})
    assert answer["Error"]["Message"] == (
        "2 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null; "
        "Value '-1' at 'resourceConfig.instanceCount' failed to satisfy constraint: "
        "Member must have value greater than or equal to 0")
    assert service.calls == []


async def test_an_empty_body_is_an_empty_input(http: httpx.AsyncClient) -> None:
    response = await http.post("/", content=b"", headers=sagemaker_headers("DescribeTrainingJob"))
    assert response.status_code == 400
    assert response.json()["message"] == ("1 validation error detected: Value null at 'trainingJobName' "
                                          "failed to satisfy constraint: Member must not be null")


@pytest.mark.parametrize(("target", "message"), [
    ("SageMaker.FooBar", "Operation FooBar is not supported by SageMaker"),
    ("Logs_20140328.PutLogEvents", "Operation Logs_20140328.PutLogEvents is not supported by SageMaker; "
                                   "expected X-Amz-Target: SageMaker.<Operation>"),
    ("", "A request without an X-Amz-Target header is not supported by SageMaker; "
         "expected X-Amz-Target: SageMaker.<Operation>"),
])
async def test_unknown_operations(http: httpx.AsyncClient, target: str, message: str) -> None:
    headers = {"Content-Type": JSON_11, **({"X-Amz-Target": target} if target else {})}
    response = await http.post("/", content=b"{}", headers=headers)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert response.json() == {"__type": "UnknownOperationException", "message": message}


async def test_only_post_is_accepted(http: httpx.AsyncClient) -> None:
    response = await http.get("/", headers=sagemaker_headers("ListTrainingJobs"))
    assert response.status_code == 400
    assert response.json()["message"] == "SageMaker operations are called with POST, not GET"


async def test_a_wrong_content_type_names_both_types(http: httpx.AsyncClient) -> None:
    response = await http.post("/", content=b"{}", headers=sagemaker_headers("ListTrainingJobs", "text/plain"))
    assert response.status_code == 415
    assert response.json() == {"__type": "UnsupportedMediaTypeException",
                               "message": f"Content-Type 'text/plain' is not supported; use {JSON_11}"}


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "The request body is not valid JSON: Expecting property name enclosed in double quotes"),
    (b"\xff\xfe\x00", "The request body is not valid JSON"),
    (b"[1, 2]", "Value '[1, 2]' is not a valid structure"),
    (b'{"TrainingJobName": 5}', "Value '5' at 'trainingJobName' is not a valid string"),
])
async def test_malformed_json_is_a_serialization_error(http: httpx.AsyncClient, body: bytes, message: str) -> None:
    response = await http.post("/", content=body, headers=sagemaker_headers("DescribeTrainingJob"))
    assert response.status_code == 400
    assert response.json()["__type"] == "SerializationException"
    assert response.json()["message"].startswith(message)


@pytest.mark.parametrize("body", [
    b'{"TrainingJobName": "\\ud800"}',
    b'{"TrainingJobName": "job", "Unknown": ["a", {"\\udfff": 1}]}',  # even where nobody reads it
    b'{"TrainingJobName": "job-\\ud83d"}',  # a high surrogate without its low half
])
async def test_a_lone_surrogate_is_a_serialization_error(http: httpx.AsyncClient, service: FakeService,
                                                         body: bytes) -> None:
    response = await http.post("/", content=body, headers=sagemaker_headers("DescribeTrainingJob"))
    assert response.status_code == 400
    assert response.json()["__type"] == "SerializationException"
    assert "lone UTF-16 surrogate" in response.json()["message"]
    assert service.calls == []


async def test_a_surrogate_pair_is_one_character(http: httpx.AsyncClient) -> None:
    response = await http.post("/", content=b'{"TrainingJobName": "\\ud83d\\ude00"}',
                               headers=sagemaker_headers("DescribeTrainingJob"))
    assert "surrogate" not in response.text
    assert response.json()["message"].startswith("1 validation error detected: Value '\U0001f600'")


async def test_an_error_quoting_a_surrogate_is_still_answered() -> None:
    async with http_client(JsonCodec(SAGEMAKER), Failing(ResourceInUse("Value '\ud800' is taken"))) as http:
        response = await http.post("/", json={"TrainingJobName": "job-1"},
                                   headers=sagemaker_headers("DescribeTrainingJob"))
    assert response.status_code == 400
    assert response.json()["message"] == "Value '\\ud800' is taken"


@pytest.mark.parametrize("depth", [300, 3000])  # deeper than reading the shapes, than decoding the JSON
async def test_deep_nesting_is_a_serialization_error(depth: int) -> None:
    nested = b'{"SearchExpression": ' + b'{"SubExpressions": [' * depth + b"{}" + b"]}" * depth + b"}"
    async with http_client(JsonCodec(SAGEMAKER), FakeService()) as http:
        response = await http.post("/", content=nested, headers=sagemaker_headers("Search"))
    assert response.status_code == 400
    assert response.json() == {"__type": "SerializationException", "message": "The request is nested too deeply"}


async def test_an_oversized_body_is_refused_by_its_declared_length(http: httpx.AsyncClient,
                                                                  service: FakeService) -> None:
    response = await http.post("/", content=b" " * 4097, headers=sagemaker_headers("ListTrainingJobs"))
    assert response.status_code == 413
    assert response.json() == {"__type": "RequestEntityTooLargeException",
                               "message": "The request body exceeds the maximum of 4096 bytes"}
    assert service.calls == []


async def test_a_declared_oversized_body_is_not_read() -> None:
    async def receive() -> Message:
        raise AssertionError("the body was read")

    headers = {**sagemaker_headers("ListTrainingJobs"), "Content-Length": str(10**9)}
    with pytest.raises(RequestTooLarge):
        await JsonCodec(SAGEMAKER).parse(Request(scope(headers), receive))


async def test_an_oversized_body_without_a_length_is_refused_while_read(http: httpx.AsyncClient) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            sent.append(1)
            yield b" " * 1024

    response = await http.post("/", content=chunks(), headers=sagemaker_headers("ListTrainingJobs"))
    assert response.status_code == 413
    assert response.json()["__type"] == "RequestEntityTooLargeException"
    assert len(sent) < 10


async def test_an_operation_without_output_answers_an_empty_object(http: httpx.AsyncClient) -> None:
    response = await http.post("/", json={"EndpointName": "e"}, headers=sagemaker_headers("DeleteEndpoint"))
    assert (response.status_code, response.content) == (200, b"{}")


def test_output_the_model_does_not_know_is_a_bug() -> None:
    codec = JsonCodec(SAGEMAKER)
    with pytest.raises(KeyError, match="DeleteEndpoint has no output"):
        codec.respond(SAGEMAKER.operation_model("DeleteEndpoint"), {"Surprise": 1}, None, REQUEST_ID)
    with pytest.raises(KeyError, match="'Bogus' is not a member of CreateTrainingJobResponse"):
        codec.respond(SAGEMAKER.operation_model("CreateTrainingJob"), {"TrainingJobArn": "a", "Bogus": 1}, 201,
                      REQUEST_ID)


async def test_errors_are_spelled_with_their_fields_and_status() -> None:
    codec = JsonCodec(SAGEMAKER, {"ResourceInUse": ErrorSpelling("ResourceInUseSpelled", 409)})
    failing = Failing(ResourceInUse("Training job job-1 already exists", Resource="job-1"))
    async with http_client(codec, failing) as http:
        answer = await botocore_call(http, SAGEMAKER, "CreateTrainingJob", VALID_TRAINING_JOB)
        response = await http.post("/", json=VALID_TRAINING_JOB, headers=sagemaker_headers("CreateTrainingJob"))
    assert answer["Error"] == {"Code": "ResourceInUseSpelled", "Message": "Training job job-1 already exists"}
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert response.headers["x-amzn-ErrorType"] == "ResourceInUseSpelled"
    assert response.headers["x-amzn-RequestId"] == REQUEST_ID
    assert response.json() == {"__type": "ResourceInUseSpelled", "message": "Training job job-1 already exists",
                               "Resource": "job-1"}


async def test_internal_failures_are_500() -> None:
    async with http_client(JsonCodec(SAGEMAKER), Failing(InternalFailure("oops"))) as http:
        answer = await botocore_call(http, SAGEMAKER, "ListTrainingJobs", {})
    assert (answer["Error"]["Code"], answer["ResponseMetadata"]["HTTPStatusCode"]) == ("InternalFailure", 500)


async def test_json_1_0_services_use_their_own_media_type() -> None:
    dynamodb = service_model("dynamodb")
    codec = JsonCodec(dynamodb)
    async with http_client(codec, FakeService({"ListTables": {"TableNames": ["t"]}})) as http:
        answer = await botocore_call(http, dynamodb, "ListTables", {})
        response = await http.post("/", content=b"{}", headers={"X-Amz-Target": "DynamoDB_20120810.ListTables",
                                                                "Content-Type": JSON_11})
    assert answer["TableNames"] == ["t"]
    assert answer["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/x-amz-json-1.0"
    assert response.status_code == 415


def scope(headers: dict[str, str]) -> Scope:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "method": "POST", "path": "/", "headers": raw, "query_string": b""}


def request(headers: dict[str, str]) -> Request:
    return Request(scope(headers))


def test_matches_its_own_target_prefix_only() -> None:
    codec = JsonCodec(SAGEMAKER)
    assert codec.matches(request(sagemaker_headers("ListTrainingJobs")))
    assert not codec.matches(request({"X-Amz-Target": "SageMakerRuntime.InvokeEndpoint"}))
    assert not codec.matches(request({"X-Amz-Target": "Logs_20140328.PutLogEvents"}))
    assert not codec.matches(request({}))
