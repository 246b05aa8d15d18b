"""A/B verdicts from Python: send the ground truth of captured InferenceIds, fetch an endpoint's A/B report.

They speak to modelbay's own routes (`/_modelbay/v1/endpoints/<name>/ground-truth` and `.../ab-report`, which
SageMaker has no operation for). The server's refusals are raised as botocore's ClientError, with AWS's error code
and message, as a boto3 call's would be; a server that cannot be reached raises ConnectionError.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

import httpx
from botocore.exceptions import ClientError

from modelbay.sdk.clients import resolve_url
from modelbay.sdk.signing import SignedCalls

__all__ = ["MAX_LABELS_PER_CALL", "ab_report", "send_ground_truth"]

PREFIX = "/_modelbay/v1"
MAX_LABELS_PER_CALL = 10_000  # the server's limit per request
_TIMEOUT_S = 60.0  # a report over a long window reads many captured files

Label = float | int | str


def send_ground_truth(endpoint: str, labels: Mapping[str, Label] | Iterable[tuple[str, Label]],
                      url: str | None = None, region: str | None = None) -> int:
    """Store the label of each InferenceId (a later label replaces an earlier one), in calls of
    MAX_LABELS_PER_CALL; return how many were sent."""
    pairs = iter(labels.items() if isinstance(labels, Mapping) else labels)
    sent = 0
    while batch := list(islice(pairs, MAX_LABELS_PER_CALL)):
        body = {"labels": [{"inferenceId": inference_id, "label": label} for inference_id, label in batch]}
        sent += _call("PUT", f"/endpoints/{endpoint}/ground-truth", "PutGroundTruth", url, region, json=body)["Stored"]
    return sent


def ab_report(endpoint: str, since: str = "1h", metric: str = "accuracy", baseline: str | None = None,
              url: str | None = None, region: str | None = None) -> dict[str, Any]:
    """The endpoint's A/B report from `since` (90m, 1h, 2d, or an ISO 8601 time with its zone) to now, judged on
    `metric` (accuracy, error_rate, rmse or mae) against `baseline` (default: the variant with the most traffic)."""
    params = {"since": since, "metric": metric} | ({"baseline": baseline} if baseline else {})
    report: dict[str, Any] = _call("GET", f"/endpoints/{endpoint}/ab-report", "GetAbReport", url, region,
                                   params=params)
    return report


def _call(method: str, path: str, operation: str, url: str | None, region: str | None, **request: Any) -> Any:
    params = request.pop("params", {}) | ({"region": region} if region else {})
    try:
        answer = httpx.request(method, resolve_url(url) + PREFIX + path, params=params, timeout=_TIMEOUT_S,
                               auth=SignedCalls(), **request)
    except httpx.HTTPError as error:
        raise ConnectionError(f"{path}: {error}") from None
    if answer.is_success:
        return answer.json()
    try:
        refusal = answer.json()
        code, message = refusal["__type"], refusal["message"]
    except (ValueError, KeyError, TypeError):
        code, message = f"HTTP{answer.status_code}", answer.text[:500]
    raise ClientError({"Error": {"Code": code, "Message": message},
                       "ResponseMetadata": {"HTTPStatusCode": answer.status_code}}, operation)
