"""The A/B verdict routes through the app: labels stored, the report answered, bad input refused in AWS's shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from modelbay.api.ab_testing import MAX_BODY_BYTES, MAX_LABELS
from modelbay.api.app import build_app
from modelbay.config import Settings
from modelbay.store.metadata import EndpointSpec, VariantState

ROUTE = "/_modelbay/v1/endpoints/{}/{}"
pytestmark = pytest.mark.anyio


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Starlette]:
    application = build_app(Settings.from_env({}, data_dir=tmp_path))
    variants = [{"VariantName": name, "ModelName": name, "InitialVariantWeight": 1.0} for name in ("A", "B")]
    application.state.platform.metadata.endpoints.create(
        "ep", "arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep", "c",
        [VariantState("A", 1.0, 1), VariantState("B", 1.0, 1)],
        EndpointSpec(config={"ProductionVariants": variants}, models={}))
    yield application
    application.state.audit.close()
    application.state.regions.close()


@pytest.fixture
def http(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://modelbay")


def refusal(response: httpx.Response, code: str = "ValidationException", status: int = 400) -> str:
    assert (response.status_code, response.json()["__type"], response.headers["x-amzn-ErrorType"]) == (
        status, code, code)
    message: str = response.json()["message"]
    return message


async def test_labels_are_stored_and_a_later_one_replaces_the_first(app: Starlette, http: httpx.AsyncClient) -> None:
    url = ROUTE.format("ep", "ground-truth")
    first = await http.put(url, json={"labels": [{"inferenceId": "a", "label": 1}, {"inferenceId": "b", "label": "x"}]})
    again = await http.put(url, json={"labels": [{"inferenceId": "a", "label": 0.5}]})
    assert first.json() == {"EndpointName": "ep", "Stored": 2} and again.json()["Stored"] == 1
    assert app.state.platform.metadata.ground_truth.labels("ep", ["a", "b"]) == {"a": 0.5, "b": "x"}


@pytest.mark.parametrize(("body", "words"), [
    ({"labels": []}, "Member must have length between 1 and 10000"),
    ({"label": [{"inferenceId": "a", "label": 1}]}, "Value null at 'labels'"),
    ({"labels": [{"inferenceId": "a", "label": 1}] * (MAX_LABELS + 1)}, "between 1 and 10000"),
    ({"labels": ["a"]}, "'labels.1' failed to satisfy constraint: Member must be an object"),
    ({"labels": [{"inferenceId": "", "label": 1}]}, "at 'labels.1.inferenceId'"),
    ({"labels": [{"inferenceId": "x" * 65, "label": 1}]}, "1 to 64 printable characters"),
    ({"labels": [{"inferenceId": "a", "label": 1}, {"inferenceId": "b"}]}, "Value null at 'labels.2.label'"),
    ({"labels": [{"inferenceId": "a", "label": True}]}, "Value true at 'labels.1.label'"),
    ({"labels": [{"inferenceId": "a", "label": {"class": 1}}]}, "must be a finite number or a string")])
async def test_bad_labels_are_refused_naming_the_member(http: httpx.AsyncClient, body: dict[str, Any],
                                                        words: str) -> None:
    assert words in refusal(await http.put(ROUTE.format("ep", "ground-truth"), json=body))


async def test_a_body_that_is_not_json_or_too_large_or_for_no_endpoint_is_refused(http: httpx.AsyncClient) -> None:
    url = ROUTE.format("ep", "ground-truth")
    refusal(await http.put(url, content=b"{nope"), "SerializationException")
    refusal(await http.put(url, content=b'{"labels": [{"inferenceId": "a", "label": NaN}]}'))
    refusal(await http.put(url, content=b" " * (MAX_BODY_BYTES + 1)), "RequestEntityTooLargeException", 413)
    missing = await http.put(ROUTE.format("nope", "ground-truth"), json={"labels": [{"inferenceId": "a", "label": 1}]})
    assert refusal(missing) == 'Could not find endpoint "nope".'


async def test_the_report_names_each_variant(http: httpx.AsyncClient) -> None:
    response = await http.get(ROUTE.format("ep", "ab-report"), params={"since": "30m", "metric": "error_rate"})
    report = response.json()
    assert response.status_code == 200 and report["Metric"] == "error_rate"
    assert [variant["VariantName"] for variant in report["Variants"]] == ["A", "B"]
    assert report["Comparisons"][0]["Recommendation"] == "keep testing"  # no invocations yet


@pytest.mark.parametrize(("params", "words"), [
    ({"metric": "f1"}, "Member must satisfy enum value set: [accuracy, error_rate, rmse, mae]"),
    ({"since": "2026-12-05T13:00:00"}, "or an ISO 8601 time with its zone"),
    ({"since": "yesterday"}, "Value 'yesterday' at 'since'"),
    ({"since": "2999-01-01T00:00:00+00:00"}, "Member must be in the past"),
    ({"since": "500d"}, "455 days ago at most"), ({"since": "999999999d"}, "455 days ago at most"),
    ({"baseline": "C"}, "Variant C is not one of endpoint ep's: A, B.")])
async def test_a_report_query_it_cannot_read_is_refused(http: httpx.AsyncClient, params: dict[str, str],
                                                        words: str) -> None:
    assert words in refusal(await http.get(ROUTE.format("ep", "ab-report"), params=params))


async def test_a_report_of_no_endpoint_or_region_is_refused(http: httpx.AsyncClient) -> None:
    assert refusal(await http.get(ROUTE.format("nope", "ab-report"))) == 'Could not find endpoint "nope".'
    assert refusal(await http.get(ROUTE.format("ep", "ab-report"), params={"region": "eu-west-3"})) == (
        'Could not find endpoint "ep".')
