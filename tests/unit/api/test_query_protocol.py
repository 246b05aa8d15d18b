"""The query codec in a tiny app, driven by botocore's serializer and parser and by raw HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import httpx
import pytest
from starlette.requests import Request

from modelbay.api.query_protocol import QueryCodec
from modelbay.api.spellings import SPELLINGS
from modelbay.errors import AccessDenied, InternalFailure
from tests.unit.api.codec_harness import REQUEST_ID, FakeService, botocore_call, http_client, service_model
from tests.unit.api.shapes import thing_service

pytestmark = pytest.mark.anyio

STS = service_model("sts")
NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
IDENTITY = {"UserId": "AKIDUNIT", "Account": "000000000000", "Arn": "arn:aws:iam::000000000000:user/unit"}
CREDENTIALS = {"AccessKeyId": "ASIAUNIT", "SecretAccessKey": "secret", "SessionToken": "token",
               "Expiration": datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)}
ASSUMED = {"Credentials": CREDENTIALS, "PackedPolicySize": 6,
           "AssumedRoleUser": {"AssumedRoleId": "AROA:s", "Arn": "arn:aws:sts::000000000000:assumed-role/r/s"}}
ASSUME = {"RoleArn": "arn:aws:iam::000000000000:role/r", "RoleSessionName": "session", "DurationSeconds": 900,
          "Tags": [{"Key": "team", "Value": "ml"}, {"Key": "env", "Value": ""}], "TransitiveTagKeys": []}


class Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def __call__(self, call: Any) -> dict[str, Any]:
        raise self.error


@pytest.fixture
def service() -> FakeService:
    return FakeService({"GetCallerIdentity": IDENTITY, "AssumeRole": ASSUMED})


@pytest.fixture
async def http(service: FakeService) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(QueryCodec(STS, SPELLINGS["sts"], max_body_bytes=1024), service) as client:
        yield client


def form(**params: str) -> dict[str, Any]:
    return {"content": urlencode(params).encode(), "headers": {"Content-Type": FORM}}


def error_of(response: httpx.Response) -> tuple[str, str]:
    """The code and message of a query error document."""
    error = ElementTree.fromstring(response.content).find(f"{{{NAMESPACE}}}Error")
    assert error is not None
    return error.findtext(f"{{{NAMESPACE}}}Code", ""), error.findtext(f"{{{NAMESPACE}}}Message", "")


async def test_get_caller_identity_is_parsed_by_botocore(http: httpx.AsyncClient) -> None:
    answer = await botocore_call(http, STS, "GetCallerIdentity", {})
    assert answer.pop("ResponseMetadata")["RequestId"] == REQUEST_ID
    assert answer == IDENTITY


async def test_the_response_document(http: httpx.AsyncClient) -> None:
    response = await http.post("/", **form(Action="GetCallerIdentity", Version="2011-06-15"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.headers["x-amzn-RequestId"] == REQUEST_ID
    assert response.text == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<GetCallerIdentityResponse xmlns="{NAMESPACE}"><GetCallerIdentityResult><UserId>AKIDUNIT</UserId>'
        "<Account>000000000000</Account><Arn>arn:aws:iam::000000000000:user/unit</Arn></GetCallerIdentityResult>"
        f"<ResponseMetadata><RequestId>{REQUEST_ID}</RequestId></ResponseMetadata></GetCallerIdentityResponse>")


async def test_nested_input_and_timestamps_round_trip(http: httpx.AsyncClient, service: FakeService) -> None:
    answer = await botocore_call(http, STS, "AssumeRole", ASSUME)
    assert service.calls[0].params == ASSUME
    answer.pop("ResponseMetadata")
    assert answer == ASSUMED


async def test_maps_and_flattened_lists_reach_the_service() -> None:
    model = thing_service("query")
    params = {"Labels": {"a": 1}, "Flat": {"x": "y"}, "Repeated": [3, 4], "Named": ["p"], "When": datetime(
        2024, 1, 1, tzinfo=UTC), "Data": b"\x00", "Enabled": True}
    things = FakeService({"Op": params})
    async with http_client(QueryCodec(model), things) as http:
        answer = await botocore_call(http, model, "Op", params)
    assert things.calls[0].params == params
    answer.pop("ResponseMetadata")
    assert answer == params


async def test_parameters_may_come_in_the_query_string(http: httpx.AsyncClient) -> None:
    response = await http.get("/", params={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    assert response.status_code == 200
    assert "<Account>000000000000</Account>" in response.text


async def test_a_validation_error_is_parsed_by_botocore(http: httpx.AsyncClient, service: FakeService) -> None:
    answer = await botocore_call(http, STS, "AssumeRole", {**ASSUME, "RoleSessionName": "s", "DurationSeconds": 1})
    assert answer["Error"] == {"Type": "Sender", "Code": "ValidationError", "Message": (
        "2 validation errors detected: "
        "Value 's' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal "
        "to 2; Value '1' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or "
        "equal to 900")}
    assert answer["ResponseMetadata"] == {**answer["ResponseMetadata"], "RequestId": REQUEST_ID,
                                          "HTTPStatusCode": 400}
    assert service.calls == []


async def test_the_error_document() -> None:
    async with http_client(QueryCodec(STS), Failing(AccessDenied("No", Resource="r"))) as http:
        response = await http.post("/", **form(Action="GetCallerIdentity"))
    assert response.status_code == 403
    assert response.text == (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>Sender</Type>'
        "<Code>AccessDeniedException</Code><Message>No</Message><Resource>r</Resource></Error>"
        f"<RequestId>{REQUEST_ID}</RequestId></ErrorResponse>")


async def test_server_faults_are_receiver_errors() -> None:
    async with http_client(QueryCodec(STS), Failing(InternalFailure("oops"))) as http:
        answer = await botocore_call(http, STS, "GetCallerIdentity", {})
    assert answer["Error"] == {"Type": "Receiver", "Code": "InternalFailure", "Message": "oops"}
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 500


@pytest.mark.parametrize(("params", "message"), [
    ({"Action": "FooBar", "Version": "2011-06-15"}, "Operation FooBar is not supported by STS"),
    ({"Version": "2011-06-15"}, "The request has no Action; STS expects Action=<Operation>"),
    ({"Action": "GetCallerIdentity", "Version": "2099-01-01"},
     "Operation GetCallerIdentity of version 2099-01-01 is not supported by STS, which serves version 2011-06-15"),
])
async def test_unknown_operations(http: httpx.AsyncClient, params: dict[str, str], message: str) -> None:
    response = await http.post("/", **form(**params))
    assert response.status_code == 400
    assert error_of(response) == ("InvalidAction", message)


async def test_a_body_that_is_not_a_form_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.post("/", content=b'{"Action": "GetCallerIdentity"}',
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 415
    assert error_of(response) == ("UnsupportedMediaTypeException", "Content-Type 'application/json' is not "
                                                                   "supported; use application/x-www-form-urlencoded")


async def test_a_form_that_is_not_utf8_is_a_serialization_error(http: httpx.AsyncClient) -> None:
    response = await http.post("/", content=b"Action=GetCallerIdentity&X=%ff", headers={"Content-Type": FORM})
    assert response.status_code == 400
    assert error_of(response)[0] == "MalformedQueryString"


async def test_a_wrong_type_is_a_serialization_error(http: httpx.AsyncClient) -> None:
    response = await http.post("/", **form(Action="AssumeRole", RoleArn="a" * 20, RoleSessionName="ss",
                                           DurationSeconds="soon"))
    assert error_of(response) == ("MalformedQueryString", "Value 'soon' at 'durationSeconds' is not a valid integer")


async def test_an_oversized_form_is_refused(http: httpx.AsyncClient, service: FakeService) -> None:
    response = await http.post("/", **form(Action="GetCallerIdentity", Padding="x" * 1024))
    assert response.status_code == 413
    assert error_of(response) == ("RequestEntityTooLargeException",
                                  "The request body exceeds the maximum of 1024 bytes")
    assert service.calls == []


def test_an_output_the_model_does_not_know_is_a_bug() -> None:
    codec = QueryCodec(STS)
    with pytest.raises(KeyError, match="'Bogus' is not a member of GetCallerIdentityResponse"):
        codec.respond(STS.operation_model("GetCallerIdentity"), {**IDENTITY, "Bogus": 1}, None, REQUEST_ID)


def request(method: str, query: str = "", **headers: str) -> Request:
    raw = [(k.lower().replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": method, "path": "/", "headers": raw, "query_string": query.encode()})


def test_matches_its_own_actions_and_form_posts() -> None:
    codec = QueryCodec(STS)
    assert codec.matches(request("GET", "Action=GetCallerIdentity&Version=2011-06-15"))
    assert not codec.matches(request("GET", "Action=ListUsers&Version=2010-05-08"))
    assert codec.matches(request("POST", content_type=FORM))
    assert not codec.matches(request("POST", content_type="application/x-amz-json-1.1"))
    assert not codec.matches(request("GET"))
