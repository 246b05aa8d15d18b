"""Events from Python: what happened to a server's resources (a model package registered, approved, rejected...),
shaped as Amazon EventBridge delivers SageMaker's, read from modelbay's own route `/_modelbay/v1/events`.

    for event in follow_events():
        if event["detail"].get("ModelApprovalStatus") == "Approved":
            deploy(event["resources"][0])

A server that cannot be reached, or that refuses the call, raises ConnectionError.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from modelbay.sdk.clients import resolve_url
from modelbay.sdk.signing import SignedCalls

__all__ = ["EventPage", "follow_events", "read_events"]

PREFIX = "/_modelbay/v1"
LONG_POLL_S = 20.0  # the server's longest wait
_SLACK_S = 10.0  # beyond the wait, for the answer to arrive


@dataclass(frozen=True)
class EventPage:
    """Events after a cursor, oldest first, and the cursor to read after them."""

    events: list[dict[str, Any]]
    next_cursor: int


def read_events(after: int = 0, wait: float = 0.0, url: str | None = None, region: str | None = None,
                limit: int = 100) -> EventPage:
    """Up to `limit` events after the cursor `after` (0: from the oldest the server keeps), waiting up to `wait`
    seconds (at most LONG_POLL_S) for one when there is none yet."""
    params = {"after": str(after), "wait": str(wait), "limit": str(limit)} | ({"region": region} if region else {})
    try:
        answer = httpx.get(resolve_url(url) + PREFIX + "/events", params=params, timeout=wait + _SLACK_S,
                           auth=SignedCalls())
        answer.raise_for_status()
    except httpx.HTTPError as error:
        raise ConnectionError(f"/events: {error}") from None
    body = answer.json()
    return EventPage(body["Events"], int(body["NextCursor"]))


def follow_events(after: int = 0, url: str | None = None, region: str | None = None) -> Iterator[dict[str, Any]]:
    """Every event after the cursor `after`, as it happens: an endless iterator of long polls."""
    while True:
        page = read_events(after, LONG_POLL_S, url, region)
        yield from page.events
        after = page.next_cursor
