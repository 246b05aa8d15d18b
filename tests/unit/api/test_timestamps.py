"""Timestamps in the three wire formats, both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from modelbay.api.timestamps import EPOCH_SECONDS, HTTP_DATE, ISO8601, format_timestamp, parse_timestamp

MOMENT = datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=UTC)


@pytest.mark.parametrize(("value", "fmt"), [
    (1714979289.25, None), ("1714979289.25", ISO8601), ("2024-05-06T07:08:09.250Z", None),
    ("2024-05-06T09:08:09.25+02:00", ISO8601), ("2024-05-06T07:08:09.250", None), (" 2024-05-06T07:08:09.25Z ", None),
])
def test_parse_epoch_and_iso8601(value: Any, fmt: str | None) -> None:
    parsed = parse_timestamp(value, fmt)
    assert parsed == MOMENT and parsed.tzinfo == UTC


@pytest.mark.parametrize("fmt", [HTTP_DATE, None])
def test_parse_http_dates(fmt: str | None) -> None:
    assert parse_timestamp("Mon, 06 May 2024 07:08:09 GMT", fmt) == MOMENT.replace(microsecond=0)


def test_integers_are_epoch_seconds() -> None:
    assert parse_timestamp(0) == datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("value", [True, "yesterday", "2024-13-01", "Mon, nonsense", 1e20, "1e400", float("nan"), ""])
def test_anything_else_is_a_value_error(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(value)


def test_format_epoch_seconds_to_the_millisecond() -> None:
    assert format_timestamp(MOMENT.replace(microsecond=250999), EPOCH_SECONDS) == 1714979289.251


def test_format_iso8601_with_milliseconds_and_z() -> None:
    assert format_timestamp(MOMENT.replace(microsecond=250999), ISO8601) == "2024-05-06T07:08:09.250Z"
    assert format_timestamp(datetime(2024, 5, 6, 9, 8, 9), ISO8601) == "2024-05-06T09:08:09.000Z"  # naive is UTC


def test_format_http_dates_in_gmt() -> None:
    paris = MOMENT.astimezone(timezone(timedelta(hours=2)))
    assert format_timestamp(paris, HTTP_DATE) == "Mon, 06 May 2024 07:08:09 GMT"


def test_format_accepts_epoch_numbers() -> None:
    assert format_timestamp(1714979289.25, ISO8601) == "2024-05-06T07:08:09.250Z"
