"""modelbay's event route, beside the other native ones (api/native.py), under the same prefix:

`GET /_modelbay/v1/events?after=<cursor>&wait=<seconds>&limit=<n>&region=<region>` answers the region's events
(the home region's without `region`) that came after `cursor` (0, the default: from the oldest kept), oldest first,
as Amazon EventBridge delivers SageMaker's ("SageMaker Model Package State Change", ...), and the cursor to pass
next: `{"Events": [...], "NextCursor": "<cursor>"}`. A long poll: it answers at once when such events exist, else
waits up to `wait` seconds (0 to MAX_WAIT_S, default 0) for one. The store keeps the most recent events only
(store/metadata/events.py: MAX_EVENTS).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from modelbay.platform import Regions
from modelbay.store.metadata.events import Event

MAX_WAIT_S = 20.0  # as SQS's longest poll: an HTTP client's default timeouts allow it
MAX_LIMIT = 1000
POLL_S = 0.25  # how often a waiting request looks again (another process may write the store: no notification)


def event_routes(regions: Regions, prefix: str) -> list[Route]:
    """The events route under `prefix` (native.PREFIX)."""

    async def events(request: Request) -> JSONResponse:
        try:
            after, wait, limit = _query(request)
        except ValueError as error:
            return JSONResponse({"message": str(error)}, status_code=400)
        region = request.query_params.get("region")
        platform = regions.home if region is None else regions.find(region)
        if platform is None:  # a region never opened has had no events
            return JSONResponse({"Events": [], "NextCursor": str(after)})
        deadline = time.monotonic() + wait
        found = await run_in_threadpool(platform.metadata.events.after, after, limit)
        while not found and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
            found = await run_in_threadpool(platform.metadata.events.after, after, limit)
        return JSONResponse({"Events": [eventbridge_json(event) for event in found],
                             "NextCursor": str(found[-1].id if found else after)})

    return [Route(f"{prefix}/events", events, methods=["GET"])]


def _query(request: Request) -> tuple[int, float, int]:
    """The cursor, wait and limit of the query; ValueError naming what is wrong."""
    params = request.query_params
    try:
        after, wait = int(params.get("after", "0")), float(params.get("wait", "0"))
        limit = int(params.get("limit", "100"))
    except ValueError:
        raise ValueError("after and limit must be whole numbers, wait a number of seconds") from None
    if after < 0 or not 0 <= wait <= MAX_WAIT_S or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"after must be at least 0, wait between 0 and {MAX_WAIT_S:g} seconds, limit between 1 and "
                         f"{MAX_LIMIT}")
    return after, wait, limit


def eventbridge_json(event: Event) -> dict[str, Any]:
    """An event as EventBridge delivers it; its id is the same every time it is read."""
    return {"version": "0", "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"modelbay:{event.region}:{event.id}")),
            "detail-type": event.detail_type, "source": event.source, "account": event.account,
            "time": event.time.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": event.region,
            "resources": list(event.resources), "detail": event.detail}
