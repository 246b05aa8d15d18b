"""modelbay's A/B verdict routes, beside the other native ones (api/native.py), under the same prefix:

`PUT /_modelbay/v1/endpoints/<name>/ground-truth?region=<region>` with the JSON body
`{"labels": [{"inferenceId": "...", "label": <number or string>}, ...]}` (1 to MAX_LABELS labels, MAX_BODY_BYTES
at most) stores each InferenceId's label, replacing an earlier one (store/metadata/ground_truth.py), and answers
`{"EndpointName": ..., "Stored": <count>}`.
`GET /_modelbay/v1/endpoints/<name>/ab-report?since=<ISO 8601 or 90m, 1h, 2d>&metric=accuracy|error_rate|rmse|mae
&baseline=<variant>&region=<region>` answers the endpoint's A/B report (monitoring/ab_report.py) from `since`
(default 1h ago) to now.

Bad input is answered in the AWS error shape, `{"__type": "ValidationException", "message": ...}` with its
x-amzn-ErrorType header (SerializationException for a body that is not JSON, RequestEntityTooLargeException past
the size); an unknown endpoint as SageMaker answers it, a ValidationException `Could not find endpoint "name".`.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from modelbay.errors import AwsError, RequestTooLarge, SerializationError, ValidationError
from modelbay.monitoring.ab_report import METRICS, Sources, UnknownBaseline, ab_report
from modelbay.monitoring.metrics import RETENTION
from modelbay.platform import Platform, Regions
from modelbay.store.metadata import Endpoint, Label

MAX_LABELS = 10_000
MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_INFERENCE_ID = 64  # InvokeEndpoint's InferenceId: 1 to 64 printable characters
MAX_LABEL_TEXT = 256
DEFAULT_SINCE = timedelta(hours=1)
_DURATION = re.compile(r"(?P<amount>[0-9]{1,9})(?P<unit>[smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def ab_testing_routes(regions: Regions, prefix: str) -> list[Route]:
    """The two routes under `prefix` (native.PREFIX)."""
    def platform_of(request: Request) -> Platform:
        region = request.query_params.get("region")
        platform = regions.home if region is None else regions.find(region)
        if platform is None:
            raise ValidationError(f"Could not find endpoint \"{request.path_params['name']}\".")
        return platform

    async def ground_truth(request: Request) -> Response:
        body = await _bounded_body(request)
        name, platform = request.path_params["name"], platform_of(request)
        stored = await run_in_threadpool(_store_labels, platform, name, body)
        return JSONResponse({"EndpointName": name, "Stored": stored})

    def report(request: Request) -> Response:  # plain: it reads the stores in a worker thread
        name, platform, params = request.path_params["name"], platform_of(request), request.query_params
        metric = params.get("metric", "accuracy")
        if metric not in METRICS:
            raise ValidationError(f"Value '{metric}' at 'metric' failed to satisfy constraint: Member must satisfy "
                                  f"enum value set: [{', '.join(METRICS)}]")
        now = platform.metrics.clock()
        start = since_time(params.get("since"), now)
        sources = Sources(platform.metrics, platform.objects, platform.metadata.ground_truth)
        try:
            return JSONResponse(ab_report(sources, _endpoint(platform, name), start, now, metric,
                                          params.get("baseline") or None))
        except UnknownBaseline as error:
            raise ValidationError(str(error)) from None

    return [Route(f"{prefix}/endpoints/{{name}}/ground-truth", _aws_errors(ground_truth), methods=["PUT"]),
            Route(f"{prefix}/endpoints/{{name}}/ab-report", _aws_errors(report), methods=["GET"])]


def _aws_errors(handler: Callable[[Request], Awaitable[Response]] | Callable[[Request], Response]
                ) -> Callable[[Request], Awaitable[Response]]:
    """The handler, answering the AwsError it raises in the AWS JSON error shape (a plain one runs in a worker
    thread, as Starlette would run it)."""
    async def answered(request: Request) -> Response:
        try:
            if inspect.iscoroutinefunction(handler):
                return await handler(request)  # type: ignore[no-any-return]  # a coroutine function's Response
            return await run_in_threadpool(handler, request)  # type: ignore[arg-type]  # the plain one
        except AwsError as error:
            return JSONResponse({"__type": error.code, "message": error.message}, status_code=error.status,
                                headers={"x-amzn-ErrorType": error.code})
    return answered


async def _bounded_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> RequestTooLarge:
    return RequestTooLarge(f"The request body is larger than {MAX_BODY_BYTES} bytes: send fewer labels per request.")


def _endpoint(platform: Platform, name: str) -> Endpoint:
    endpoint = platform.metadata.endpoints.get(name)
    if endpoint is None:
        raise ValidationError(f'Could not find endpoint "{name}".')
    return endpoint


def _store_labels(platform: Platform, name: str, body: bytes) -> int:
    labels = parse_labels(body)
    _endpoint(platform, name)
    platform.metadata.ground_truth.put(name, labels)
    return len(labels)


def parse_labels(body: bytes) -> dict[str, Label]:
    """InferenceId → label from the request's body, the last one of an InferenceId given twice; raise
    SerializationError for a body that is not JSON, ValidationError for one that breaks the rules."""
    try:
        document = json.loads(body)
    except ValueError:
        raise SerializationError("The request body is not valid JSON.") from None
    items = document.get("labels") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ValidationError("Value null at 'labels' failed to satisfy constraint: Member must not be null "
                              "(the body is {\"labels\": [{\"inferenceId\": \"...\", \"label\": ...}, ...]})")
    if not 1 <= len(items) <= MAX_LABELS:
        raise ValidationError(f"Value at 'labels' failed to satisfy constraint: Member must have length between 1 "
                              f"and {MAX_LABELS}")
    return dict(_label(index, item) for index, item in enumerate(items, 1))


def _label(index: int, item: Any) -> tuple[str, Label]:
    where = f"'labels.{index}"
    if not isinstance(item, dict):
        raise ValidationError(f"Value at {where}' failed to satisfy constraint: Member must be an object")
    inference_id, label = item.get("inferenceId"), item.get("label")
    if not isinstance(inference_id, str) or not 1 <= len(inference_id) <= MAX_INFERENCE_ID \
            or not inference_id.isprintable() or inference_id[0].isspace():
        raise ValidationError(f"Value {json.dumps(inference_id)} at {where}.inferenceId' failed to satisfy "
                              f"constraint: Member must be a string of 1 to {MAX_INFERENCE_ID} printable "
                              "characters, not starting with a space")
    if isinstance(label, str) and 1 <= len(label) <= MAX_LABEL_TEXT:
        return inference_id, label
    if isinstance(label, int | float) and not isinstance(label, bool) and math.isfinite(label):
        return inference_id, float(label)
    raise ValidationError(f"Value {json.dumps(label)} at {where}.label' failed to satisfy constraint: Member must "
                          f"be a finite number or a string of 1 to {MAX_LABEL_TEXT} characters")


def since_time(value: str | None, now: datetime) -> datetime:
    """The report's start: `90m` (s, m, h, d) before `now`, or an ISO 8601 time naming its zone; default an hour
    ago. Raise ValidationError for anything else, a time not in the past, or one older than metrics are kept."""
    if value is None:
        return now - DEFAULT_SINCE
    moment = _moment(value, now)
    oldest = now - max(RETENTION.values())
    if not oldest <= moment < now:
        raise ValidationError(f"Value '{value}' at 'since' failed to satisfy constraint: Member must be in the past, "
                              f"{max(RETENTION.values()).days} days ago at most")
    return moment.astimezone(UTC)


def _moment(value: str, now: datetime) -> datetime:
    if duration := _DURATION.fullmatch(value):
        try:
            return now - timedelta(**{_UNITS[duration["unit"]]: int(duration["amount"])})
        except OverflowError:  # before year 1: older than anything kept
            return datetime.min.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = datetime.min
    if moment.tzinfo is None:
        raise ValidationError(f"Value '{value}' at 'since' failed to satisfy constraint: Member must be a duration "
                              "(30s, 90m, 1h, 2d) or an ISO 8601 time with its zone (2026-12-05T13:00:00+00:00)")
    return moment
