"""A request as its signature covers it: the parts of the HTTP request, as they came over the wire."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote_plus

ISO_BASIC = "%Y%m%dT%H%M%SZ"  # X-Amz-Date's format, as strftime writes it
_ISO_BASIC_TIME = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")


@dataclass(frozen=True)
class SignedRequest:
    method: str
    raw_path: str  # as sent, still percent-encoded
    raw_query: str  # as sent, without the "?"
    headers: Mapping[str, str]  # lower-case names; a repeated header's values joined by ","
    body: bytes | None  # None: the body streams, and only its declared hash is known


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The query's parameters, decoded as the services read them ("+" is a space), in their order."""
    pairs = []
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


def iso_basic_time(text: str) -> datetime | None:
    """An X-Amz-Date (20260101T000000Z) as a UTC datetime; None if it is not one."""
    found = _ISO_BASIC_TIME.fullmatch(text)
    if found is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in found.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:  # a month 13, a second 61
        return None


def http_time(text: str) -> datetime | None:
    """An HTTP date header (Thu, 01 Jan 2026 00:00:00 GMT) as a UTC datetime; None if it is not one."""
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
