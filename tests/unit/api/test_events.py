"""The events route through the app: EventBridge-shaped events after a cursor, the long poll, bad queries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from modelbay.api.app import build_app
from modelbay.config import Settings
from modelbay.statuses import ModelApprovalStatus

ROUTE = "/_modelbay/v1/events"
GROUP_ARN = "arn:aws:sagemaker:us-east-1:000000000000:model-package-group/g"
pytestmark = pytest.mark.anyio


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Starlette]:
    application = build_app(Settings.from_env({}, data_dir=tmp_path))
    application.state.platform.metadata.model_package_groups.create("g", GROUP_ARN, None, {})
    yield application
    application.state.audit.close()
    application.state.regions.close()


@pytest.fixture
def http(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://modelbay")


def register(app: Starlette) -> str:
    package = app.state.platform.metadata.model_packages.create_version(
        "g", GROUP_ARN, {}, ModelApprovalStatus.PENDING_MANUAL_APPROVAL, {}, {})
    arn: str = package.arn
    return arn


async def test_events_after_a_cursor_are_answered_as_eventbridge_delivers_them(
        app: Starlette, http: httpx.AsyncClient) -> None:
    first, second = register(app), register(app)
    answer = (await http.get(ROUTE)).json()
    assert [event["resources"] for event in answer["Events"]] == [[first], [second]]
    event = answer["Events"][0]
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert (event["detail-type"], event["source"], event["account"], event["region"]) == (
        "SageMaker Model Package State Change", "aws.sagemaker", "000000000000", "us-east-1")
    assert event["detail"]["ModelPackageVersion"] == 1 and event["time"].endswith("Z")
    rest = (await http.get(ROUTE, params={"after": "1"})).json()  # after the first event
    assert [e["resources"] for e in rest["Events"]] == [[second]] and rest["NextCursor"] == answer["NextCursor"]
    assert (await http.get(ROUTE)).json()["Events"][0]["id"] == event["id"]  # the same id at every reading


async def test_a_long_poll_answers_the_event_written_while_it_waits(app: Starlette, http: httpx.AsyncClient) -> None:
    poll = asyncio.create_task(http.get(ROUTE, params={"after": "0", "wait": "10"}))
    arn = await run_in_threadpool(register, app)
    answer = (await poll).json()
    assert [event["resources"] for event in answer["Events"]] == [[arn]] and answer["NextCursor"] == "1"


async def test_a_long_poll_with_nothing_new_answers_empty_after_its_wait(http: httpx.AsyncClient) -> None:
    answer = (await http.get(ROUTE, params={"after": "5", "wait": "0.3"})).json()
    assert answer == {"Events": [], "NextCursor": "5"}


@pytest.mark.parametrize("query", [{"after": "x"}, {"after": "-1"}, {"wait": "21"}, {"limit": "0"}])
async def test_a_bad_query_is_refused(http: httpx.AsyncClient, query: dict[str, str]) -> None:
    answer = await http.get(ROUTE, params=query)
    assert answer.status_code == 400 and "after" in answer.json()["message"]
