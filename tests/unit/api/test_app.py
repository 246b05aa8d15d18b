"""The app end to end in-process: routing, the pipeline's audit trail, and bugs as InternalFailure."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from modelbay.api.app import ApiApp, build_app
from modelbay.api.invocation_lane import InvocationLane
from modelbay.config import Settings
from modelbay.services import sagemaker

ARN = "arn:aws:sagemaker:us-east-1:000000000000:model/m"
pytestmark = pytest.mark.anyio


def signed(service: str, region: str = "us-east-1") -> dict[str, str]:
    return {"Authorization": f"AWS4-HMAC-SHA256 Credential=AKIDUNIT/20261125/{region}/{service}/aws4_request, "
                             "SignedHeaders=host, Signature=0"}


def sagemaker_call(operation: str, **headers: str) -> dict[str, Any]:
    return {"headers": {"X-Amz-Target": f"SageMaker.{operation}", "Content-Type": "application/x-amz-json-1.1",
                        **headers}}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Starlette]:
    application = build_app(Settings.from_env({}, data_dir=tmp_path))
    yield application
    application.state.audit.close()
    application.state.platform.metadata.close()


@pytest.fixture
def http(app: Starlette) -> Iterator[httpx.AsyncClient]:
    yield httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://modelbay")


async def test_every_call_is_audited(app: Starlette, http: httpx.AsyncClient) -> None:
    ok = await http.post("/", json={"ResourceArn": ARN}, **sagemaker_call("ListTags", **signed("sagemaker")))
    bad = await http.post("/", json={"ResourceArn": "nope"}, **sagemaker_call("ListTags", **signed("sagemaker")))
    assert (ok.status_code, bad.status_code) == (200, 400)
    app.state.audit.flush()
    events = app.state.platform.metadata.audit.find(service="sagemaker")
    assert [(e.operation, e.outcome, e.status_code) for e in events] == [
        ("ListTags", "ValidationException", 400), ("ListTags", "Success", 200)]
    assert events[1].request_id == ok.headers["x-amzn-RequestId"]
    assert events[1].principal == "arn:aws:iam::000000000000:root"  # open mode: any key is the account root
    assert events[1].resources == (ARN,)
    assert events[0].error_message == bad.json()["message"] and events[1].error_message is None


async def test_the_audit_route_answers_recent_calls_newest_first_and_the_failed_ones(
        http: httpx.AsyncClient) -> None:
    await http.post("/", json={"ResourceArn": ARN}, **sagemaker_call("ListTags"))
    bad = await http.post("/", json={"ResourceArn": "nope"}, **sagemaker_call("ListTags"))
    recent = (await http.get("/_modelbay/v1/audit", params={"operation": "ListTags"})).json()["Events"]
    failed = (await http.get("/_modelbay/v1/audit", params={"failed": "true", "since": "2026-01-01T00:00:00Z"}))
    assert [e["Outcome"] for e in recent] == ["ValidationException", "Success"]
    [event] = failed.json()["Events"]
    assert (event["RequestId"], event["Operation"], event["StatusCode"]) == (
        bad.headers["x-amzn-RequestId"], "ListTags", 400)
    assert event["ErrorMessage"] == bad.json()["message"] and recent[1]["Resources"] == [ARN]


@pytest.mark.parametrize("query", [{"since": "10 minutes ago"}, {"since": "2026-01-01T00:00:00"}, {"limit": "0"}])
async def test_the_audit_route_refuses_a_query_it_cannot_read(http: httpx.AsyncClient, query: dict[str, str]) -> None:
    response = await http.get("/_modelbay/v1/audit", params=query)
    assert response.status_code == 400 and response.json()["message"]


async def test_region_of_the_scope_reaches_the_service(http: httpx.AsyncClient) -> None:
    body = {"ResourceArn": "arn:aws:sagemaker:eu-west-1:000000000000:model/m", "Tags": [{"Key": "k", "Value": "v"}]}
    response = await http.post("/", json=body, **sagemaker_call("AddTags", **signed("sagemaker", "eu-west-1")))
    assert response.status_code == 200


async def test_a_bug_is_an_internal_failure_logged_with_its_request_id(
        http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("a bug")

    monkeypatch.setitem(sagemaker.OPERATIONS, "ListTags", broken)
    with caplog.at_level(logging.ERROR):
        response = await http.post("/", json={"ResourceArn": ARN}, **sagemaker_call("ListTags"))
    assert response.status_code == 500
    assert response.json()["__type"] == "InternalFailure"
    assert "a bug" not in response.text and "Traceback" not in response.text
    request_id = response.headers["x-amzn-RequestId"]
    assert any(request_id in record.getMessage() and record.exc_info for record in caplog.records)


async def test_a_call_modelbay_does_not_serve_is_logged_with_its_request_id_and_message(
        http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delitem(sagemaker.OPERATIONS, "ListTags")
    with caplog.at_level(logging.WARNING, logger="modelbay.api.pipeline"):
        response = await http.post("/", json={"ResourceArn": ARN}, **sagemaker_call("ListTags"))
    assert (response.status_code, response.json()["__type"]) == (501, "NotImplemented")
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert response.headers["x-amzn-RequestId"] in record.getMessage()
    assert "ListTags answered 501 NotImplemented: " + response.json()["message"] in record.getMessage()


async def test_an_ordinary_client_error_is_not_logged(http: httpx.AsyncClient,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="modelbay.api.pipeline"):
        response = await http.post("/", json={"ResourceArn": "nope"}, **sagemaker_call("ListTags"))
        unknown = await http.post("/", json={}, **sagemaker_call("NoSuchOperation"))
    assert (response.status_code, unknown.status_code) == (400, 400)
    [record] = caplog.records  # the unknown operation only: the client asked for what modelbay does not serve
    assert "UnknownOperationException" in record.getMessage()


async def test_an_output_the_model_does_not_know_is_caught(http: httpx.AsyncClient,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sagemaker.OPERATIONS, "ListTags", lambda ctx, params: {"Tags": [], "Bogus": 1})
    response = await http.post("/", json={"ResourceArn": ARN}, **sagemaker_call("ListTags"))
    assert response.status_code == 500
    assert response.json()["__type"] == "InternalFailure"


async def test_s3_request_ids_use_s3s_header(http: httpx.AsyncClient) -> None:
    response = await http.get("/no-such-bucket", headers=signed("s3"))
    assert response.status_code == 404
    assert response.headers["x-amz-request-id"]
    assert "<Code>NoSuchBucket</Code>" in response.text


@pytest.mark.parametrize(("method", "path", "headers", "way"), [
    ("POST", "/endpoints/e/invocations", {}, "lane"),
    ("POST", "/endpoints/e/invocations-response-stream", {}, "lane"),
    ("POST", "/endpoints/e/async-invocations", {}, "lane"),
    ("GET", "/endpoints/e/invocations", {}, "routes"),
    ("POST", "/endpoints/e/invocations?x=1", {}, "routes"),
    ("POST", "/endpoints/e/invocations", {"Expect": "100-continue"}, "routes"),
    ("POST", "/endpoints/a/b/invocations", {}, "routes"),
    ("POST", "/bucket/key", {}, "routes"),
])
async def test_a_request_to_a_model_takes_the_lane_past_the_middleware(method: str, path: str,
                                                                       headers: dict[str, str], way: str) -> None:
    passed: list[str] = []

    async def lane(request: Request) -> Response:
        return PlainTextResponse(f"lane {type(request).__name__}")

    async def routes(request: Request) -> Response:
        return PlainTextResponse("routes")

    class Spy:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            passed.append(scope["path"])
            await self.app(scope, receive, send)

    app = ApiApp(lane, cast(InvocationLane, None), routes=[Route("/{path:path}", routes, methods=["GET", "POST"])],
                 middleware=[Middleware(Spy)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://modelbay") as client:
        answer = await client.request(method, path, headers=headers, content=b"" if method == "GET" else b"1,2")
    assert answer.text == ("lane ApiRequest" if way == "lane" else "routes")
    assert bool(passed) == (way == "routes")
