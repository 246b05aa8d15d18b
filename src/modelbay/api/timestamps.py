"""Timestamps in the three wire formats of AWS protocols, to and from aware UTC datetimes."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from typing import Any

EPOCH_SECONDS = "unixTimestamp"
ISO8601 = "iso8601"
HTTP_DATE = "rfc822"


def parse_timestamp(value: Any, fmt: str | None = None) -> datetime:
    """Read a wire timestamp; a number is epoch seconds whatever the format says (clients differ).
    Raise ValueError when it is none of the formats."""
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return _from_epoch(value)
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return _from_epoch(seconds)
    if fmt == HTTP_DATE or (text[:3].isalpha() and "," in text):
        return email.utils.parsedate_to_datetime(text).astimezone(UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _from_epoch(seconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError) as error:  # past what the platform's time_t holds
        raise ValueError(f"timestamp out of range: {seconds!r}") from error


def format_timestamp(value: datetime | float, fmt: str) -> str | float:
    """Write a timestamp: epoch seconds as a number, ISO 8601 with milliseconds and Z, or an HTTP date."""
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if fmt == EPOCH_SECONDS:
        return round(moment.timestamp(), 3)
    if fmt == HTTP_DATE:
        return email.utils.format_datetime(moment.astimezone(UTC), usegmt=True)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
