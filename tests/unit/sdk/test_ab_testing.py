"""The A/B calls are the SDK package's own exports, as its other calls are; what they send (the server's answers
stand in for it)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import modelbay.sdk
from modelbay.sdk import ab_report, ab_testing, send_ground_truth


def test_the_package_exports_the_ab_calls() -> None:
    assert {"ab_report", "send_ground_truth"} <= set(modelbay.sdk.__all__)
    assert (send_ground_truth, ab_report) == (ab_testing.send_ground_truth, ab_testing.ab_report)


def test_labels_are_sent_in_calls_of_the_servers_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, str, Any]] = []

    def request(method: str, url: str, **options: Any) -> httpx.Response:
        sent.append((method, url, options["json"]))
        return httpx.Response(200, json={"EndpointName": "churn", "Stored": len(options["json"]["labels"])})
    monkeypatch.setattr(httpx, "request", request)
    monkeypatch.setattr(ab_testing, "MAX_LABELS_PER_CALL", 2)
    labels: dict[str, int | str] = {"a": 1, "b": 0, "c": "yes"}
    assert send_ground_truth("churn", labels, url="http://server") == 3
    assert [(method, url) for method, url, _ in sent] == [
        ("PUT", "http://server/_modelbay/v1/endpoints/churn/ground-truth")] * 2
    assert [body["labels"] for _, _, body in sent] == [
        [{"inferenceId": "a", "label": 1}, {"inferenceId": "b", "label": 0}], [{"inferenceId": "c", "label": "yes"}]]
