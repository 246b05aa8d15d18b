from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from modelbay.container.http_server import Request, Response
from modelbay.edge.models import LoadedModel, ModelTable
from modelbay.edge.outbox import Outbox
from modelbay.edge.server import EdgeHandler
from modelbay.edge.telemetry import Telemetry
from tests.unit.edge.packaging import FakeModel


@pytest.fixture
def table() -> ModelTable:
    table = ModelTable()
    table.swap({"forest": LoadedModel("forest", "forest", "2", Path("/m"), FakeModel({"scale": 10}), 1.5e9, 3)})
    return table


def _call(handler: EdgeHandler, method: str, path: str, body: bytes = b"", **headers: str) -> Response:
    return handler(Request(method, path, {k.replace("_", "-"): v for k, v in headers.items()}, body))


def test_ping_and_the_models_served(table: ModelTable) -> None:
    handler = EdgeHandler(table, Telemetry("v", None, 0))
    assert _call(handler, "GET", "/ping").status == 200
    answer = _call(handler, "GET", "/models")
    assert json.loads(answer.body) == {"Models": [{"ModelHandle": "forest", "ModelName": "forest",
                                                   "ModelVersion": "2", "LoadedTime": "2017-07-14T02:40:00+00:00"}]}


def test_csv_rows_are_answered_in_csv_and_json_instances_in_json(table: ModelTable) -> None:
    handler = EdgeHandler(table, Telemetry("v", None, 0))
    csv = _call(handler, "POST", "/models/forest/invocations", b"1,2,3\n0,0,1\n", content_type="text/csv")
    assert (csv.status, csv.body, csv.content_type) == (200, b"60.0\n10.0\n", "text/csv")
    as_json = _call(handler, "POST", "/models/forest/invocations", b'{"instances": [[1, 1, 1]]}',
                    content_type="application/json")
    assert (as_json.status, json.loads(as_json.body)) == (200, {"predictions": [30.0]})
    asked = _call(handler, "POST", "/models/forest/invocations", b"1,1,1", content_type="text/csv",
                  accept="application/json")
    assert json.loads(asked.body) == {"predictions": [30.0]}


@pytest.mark.parametrize(("method", "path", "body", "content_type", "status", "message"), [
    ("POST", "/models/tree/invocations", b"1,2,3", "text/csv", 404, "no model is deployed as 'tree'"),
    ("POST", "/models/forest/invocations", b"1,2", "text/csv", 400, "rows of 3 numbers"),
    ("POST", "/models/forest/invocations", b"a,b,c", "text/csv", 400, "not rows of numbers"),
    ("POST", "/models/forest/invocations", b"{", "application/json", 400, "not rows of numbers"),
    ("POST", "/models/forest/invocations", b"x", "image/png", 415, "not supported"),
    ("GET", "/models/forest/invocations", b"", "text/csv", 405, "POST"),
    ("POST", "/ping", b"", "text/csv", 405, "GET"),
    ("GET", "/elsewhere", b"", "text/csv", 404, "no route"),
])
def test_bad_requests_get_json_errors(table: ModelTable, method: str, path: str, body: bytes, content_type: str,
                                      status: int, message: str) -> None:
    answer = _call(EdgeHandler(table, Telemetry("v", None, 0)), method, path, body, content_type=content_type)
    assert answer.status == status
    assert message in json.loads(answer.body)["message"]


def test_invocations_are_counted_and_sampled_into_the_outbox(table: ModelTable, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    telemetry = Telemetry("modelbay-1", outbox, capture_percent=50, chance=random.Random(7))
    handler = EdgeHandler(table, telemetry)
    for _ in range(20):
        _call(handler, "POST", "/models/forest/invocations", b"1,2,3", content_type="text/csv")
    samples = [json.loads(m.payload)["body"] for m in outbox.after(0, 100)]
    assert 3 < len(samples) < 17
    assert samples[0]["ModelName"] == "forest" and samples[0]["Output"] == "NjAuMAo="  # base64 of "60.0\n"
    report = telemetry.report(table.current, {"DeploymentName": "d"}, queued=len(outbox))
    [model] = report.heartbeat["Models"]
    assert {m["MetricName"]: m["Value"] for m in model["ModelMetrics"]}["Invocations"] == 20
    assert model["LatestSampleTime"] <= model["LatestInference"]
    assert report.heartbeat["DeploymentResult"] == {"DeploymentName": "d"}
    assert [body["ModelVersion"] for body in report.metrics] == ["2"]
    again = telemetry.report(table.current, None, queued=0)  # a new interval: counts start again
    assert again.metrics == [] and "DeploymentResult" not in again.heartbeat
    assert again.heartbeat["Models"][0]["LatestInference"] == model["LatestInference"]
