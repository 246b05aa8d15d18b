"""IAM's paging: a page of a listing after the request's Marker, at most MaxItems long, with IsTruncated.

IAM's listings are short (an account's users, a user's keys, a policy's versions), so the store answers them
whole and a page is cut here, in the order of a sort key (sorted here, not by the database, whose collation may
differ). The Marker names the last item given (by its key), not an offset, so a page is right even when items
were added or removed since the one before.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from modelbay.services.listing import reading_tokens
from modelbay.store.metadata.paging import InvalidToken

T = TypeVar("T")
K = TypeVar("K", str, int)
DEFAULT_MAX_ITEMS = 100


def page(params: dict[str, Any], items: Sequence[T], key: Callable[[T], K],
         scope: str) -> tuple[list[T], dict[str, Any]]:
    """The items, in order of their (unique) `key`, that follow the request's Marker, at most its MaxItems, and the
    answer's IsTruncated and Marker. `scope` names the listing, so a Marker of another listing is refused."""
    limit = params.get("MaxItems", DEFAULT_MAX_ITEMS)
    rest = sorted(items, key=key)
    if params.get("Marker"):
        with reading_tokens():
            after = _after(scope, params["Marker"])
        rest = [item for item in rest if _later(key(item), after)]
    chosen = rest[:limit]
    if len(rest) <= limit:
        return chosen, {"IsTruncated": False}
    return chosen, {"IsTruncated": True, "Marker": _marker(scope, key(chosen[-1]))}


def _marker(scope: str, last: str | int) -> str:
    return base64.urlsafe_b64encode(json.dumps([scope, last]).encode()).decode()


def _after(scope: str, marker: str) -> str | int:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(marker.encode()))
    except (binascii.Error, ValueError):
        decoded = None
    match decoded:
        case [str() as found, str() | int() as last] if found == scope and not isinstance(last, bool):
            return last
    raise InvalidToken(marker)


def _later(item: str | int, after: str | int) -> bool:
    if isinstance(item, int) and isinstance(after, int):
        return item > after
    return str(item) > str(after)
