"""Pages of listings and the opaque NextToken that leads from one page to the next.

A token names the listing it belongs to (its scope, e.g. a resource's tags) and the position
after which the next page starts. It is not signed: a forged token can only reposition the
caller in a listing it may read anyway. A token that cannot be read raises InvalidToken.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


class InvalidToken(ValueError):
    """A NextToken that no earlier page of the listing gave."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """Some items of a listing, in order; `next_token` is None on the last page."""

    items: list[T]
    next_token: str | None


def encode_token(scope: str, after: int) -> str:
    """A token that resumes the listing `scope` after position `after`."""
    raw = json.dumps([scope, after], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(scope: str, token: str) -> int:
    """The position a token of encode_token(scope, ...) resumes after; InvalidToken if it is not one."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):  # bad base64, bad UTF-8, bad JSON
        decoded = None
    match decoded:
        case [str() as found_scope, int() as after] if found_scope == scope and not isinstance(after, bool):
            return after
    raise InvalidToken(token)
