"""The REST-JSON codec (sagemaker-runtime) in a tiny app: in-process with botocore's serializer and
parser, and served by uvicorn to the real boto3 client for its modeled errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest
from botocore.exceptions import EventStreamError
from starlette.requests import Request

from modelbay.api.rest_json_protocol import RestJsonCodec
from modelbay.api.spellings import SPELLINGS
from modelbay.errors import AwsError, ServiceUnavailable
from tests.unit.api.codec_harness import REQUEST_ID, botocore_call, service_model
from tests.unit.api.rest_harness import Service, boto3_client, http_client, rest_app, served

RUNTIME = service_model("sagemaker-runtime")
INVOKED = {"Body": b'{"scores": [0.5]}', "ContentType": "application/json", "InvokedProductionVariant": "blue",
           "CustomAttributes": "trace=1"}


class ModelError(AwsError):
    code = "ModelError"
    status = 424


def runtime_codec() -> RestJsonCodec:
    return RestJsonCodec(RUNTIME, SPELLINGS["sagemaker-runtime"], max_body_bytes=1024)


@pytest.fixture
def service() -> Service:
    return Service({"InvokeEndpoint": INVOKED,
                    "InvokeEndpointAsync": {"InferenceId": "inf-1", "OutputLocation": "s3://b/out"}})


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(runtime_codec(), service) as client:
        yield client


@pytest.mark.anyio
async def test_the_body_is_the_models_and_headers_are_bound(http: httpx.AsyncClient) -> None:
    response = await http.post("/endpoints/e/invocations", content=b"1,2,3", headers={"Content-Type": "text/csv"})
    assert response.status_code == 200
    assert response.content == INVOKED["Body"]
    assert (response.headers["content-type"], response.headers["x-amzn-invoked-production-variant"]) == (
        "application/json", "blue")


@pytest.mark.anyio
async def test_async_invocation_status_and_json_body(http: httpx.AsyncClient, service: Service) -> None:
    answer = await botocore_call(http, RUNTIME, "InvokeEndpointAsync",
                                 {"EndpointName": "e", "InputLocation": "s3://b/in.csv", "RequestTTLSeconds": 600})
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert answer["InferenceId"] == "inf-1"
    assert service.calls[0].params == {"EndpointName": "e", "InputLocation": "s3://b/in.csv", "RequestTTLSeconds": 600}


@pytest.mark.anyio
async def test_a_streamed_payload(service: Service) -> None:
    service.answers["InvokeEndpoint"] = lambda params: {"Body": iter([b"first ", b"", b"second"])}
    async with http_client(runtime_codec(), service) as http:
        response = await http.post("/endpoints/e/invocations", content=b"x")
    assert response.content == b"first second"


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "path", "headers", "status", "code", "words"), [
    ("POST", "/endpoints/bad%20name/invocations", {}, 400, "ValidationError",
     "Value 'bad name' at 'endpointName' failed to satisfy constraint"),
    ("POST", "/endpoints/e/async-invocations", {"X-Amzn-SageMaker-RequestTTLSeconds": "1"}, 400, "ValidationError",
     "Value '1' at 'requestTTLSeconds' failed to satisfy constraint: Member must have value greater than or equal"),
    ("POST", "/endpoints/e/async-invocations", {"X-Amzn-SageMaker-RequestTTLSeconds": "soon"}, 400,
     "SerializationException", "'requestTTLSeconds'"),
    ("GET", "/endpoints/e/invocations", {}, 400, "UnknownOperationException", "GET /endpoints/e/invocations"),
])
async def test_errors(http: httpx.AsyncClient, service: Service, method: str, path: str, headers: dict[str, str],
                      status: int, code: str, words: str) -> None:
    response = await http.request(method, path, content=b"x", headers=headers)
    assert response.status_code == status
    assert response.headers["x-amzn-ErrorType"] == code
    assert response.headers["x-amzn-RequestId"] == REQUEST_ID
    assert response.json()["__type"] == code
    assert words in response.json()["message"]
    assert service.calls == []


@pytest.mark.anyio
async def test_a_body_past_the_limit(http: httpx.AsyncClient) -> None:
    response = await http.post("/endpoints/e/invocations", content=b"x" * 1025)
    assert response.status_code == 413
    assert response.json()["message"] == "The request body exceeds the maximum of 1024 bytes"


def test_matches_rest_paths_without_a_target() -> None:
    codec = runtime_codec()

    def request(path: str, **headers: str) -> Request:
        return Request({"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
                        "headers": [(k.encode(), v.encode()) for k, v in headers.items()]})

    assert codec.matches(request("/endpoints/e/invocations"))
    assert not codec.matches(request("/endpoints/e/invocations", **{"x-amz-target": "SageMaker.ListModels"}))
    assert not codec.matches(request("/"))


@pytest.fixture
def runtime(service: Service) -> Iterator[Any]:
    with served(rest_app(runtime_codec(), service)) as url, closing(boto3_client("sagemaker-runtime", url)) as client:
        yield client


def test_boto3_round_trip(runtime: Any, service: Service) -> None:
    params = {"EndpointName": "my-endpoint", "Body": b"\x00\x01 raw bytes", "ContentType": "application/x-npy",
              "Accept": "application/json", "TargetVariant": "blue", "CustomAttributes": "trace=1"}
    answer = runtime.invoke_endpoint(**params)
    assert service.calls[-1].params == params
    assert answer["Body"].read() == INVOKED["Body"]
    assert {k: answer[k] for k in ("ContentType", "InvokedProductionVariant", "CustomAttributes")} == {
        "ContentType": "application/json", "InvokedProductionVariant": "blue", "CustomAttributes": "trace=1"}
    queued = runtime.invoke_endpoint_async(EndpointName="e", InputLocation="s3://b/in")
    assert (queued["InferenceId"], queued["OutputLocation"]) == ("inf-1", "s3://b/out")


def test_boto3_reads_modeled_errors(runtime: Any, service: Service) -> None:
    service.answers["InvokeEndpoint"] = ModelError(
        "Received server error (500) from primary with message \"boom\".", OriginalStatusCode=500,
        OriginalMessage="boom", LogStreamArn="arn:aws:logs:us-east-1:000000000000:log-group:/aws/sagemaker/e")
    with pytest.raises(runtime.exceptions.ModelError) as caught:
        runtime.invoke_endpoint(EndpointName="e", Body=b"x")
    response = caught.value.response
    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert (response["OriginalStatusCode"], response["OriginalMessage"]) == (500, "boom")
    assert response["LogStreamArn"].endswith("/aws/sagemaker/e")
    service.answers["InvokeEndpoint"] = ServiceUnavailable("try later")
    with pytest.raises(runtime.exceptions.ServiceUnavailable):
        runtime.invoke_endpoint(EndpointName="e", Body=b"x")


class ModelStreamError(AwsError):
    code = "ModelStreamError"
    status = 400


async def parts(*pieces: bytes, then: Exception | None = None) -> AsyncIterator[dict[str, Any]]:
    for piece in pieces:
        yield {"PayloadPart": {"Bytes": piece}}
    if then is not None:
        raise then


def test_boto3_reads_an_event_stream_and_the_error_that_ends_one(runtime: Any, service: Service) -> None:
    service.answers["InvokeEndpointWithResponseStream"] = lambda params: {
        "Body": parts(b"one ", b"two"), "ContentType": "text/plain", "InvokedProductionVariant": "blue"}
    answer = runtime.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"x")
    assert [event["PayloadPart"]["Bytes"] for event in answer["Body"]] == [b"one ", b"two"]
    assert (answer["ContentType"], answer["InvokedProductionVariant"]) == ("text/plain", "blue")
    assert answer["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    service.answers["InvokeEndpointWithResponseStream"] = lambda params: {
        "Body": parts(b"one", then=ModelStreamError("it broke", ErrorCode="StreamBroken"))}
    stream = iter(runtime.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"x")["Body"])
    assert next(stream)["PayloadPart"]["Bytes"] == b"one"
    with pytest.raises(EventStreamError) as caught:
        next(stream)
    assert caught.value.response["Error"] == {"Code": "ModelStreamError", "Message": "it broke"}


def test_a_stream_failing_unexpectedly_ends_with_internal_stream_failure(runtime: Any, service: Service) -> None:
    service.answers["InvokeEndpointWithResponseStream"] = lambda params: {"Body": parts(then=RuntimeError("bug"))}
    with pytest.raises(EventStreamError) as caught:
        list(runtime.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"x")["Body"])
    assert caught.value.response["Error"]["Code"] == "InternalStreamFailure"
    assert caught.value.response["Error"]["Message"].startswith("The stream processing failed")
