"""Application Auto Scaling's schedule expressions: parsing and which occurrence is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelbay.schedules import due, offset, parse, zone

UTC_ZONE = zone(None)
CREATED = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday


def test_at_runs_once_when_its_moment_has_come() -> None:
    schedule = parse("at(2026-03-02T08:30:00)")
    assert due(schedule, UTC_ZONE, CREATED, None, CREATED + timedelta(minutes=89)) is None
    moment = due(schedule, UTC_ZONE, CREATED, None, CREATED + timedelta(minutes=95))
    assert moment == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    assert due(schedule, UTC_ZONE, CREATED, moment, CREATED + timedelta(hours=2)) is None


def test_at_is_read_in_the_actions_time_zone() -> None:
    paris = zone("Europe/Paris")
    moment = due(parse("at(2026-03-02T09:30:00)"), paris, CREATED, None, CREATED + timedelta(hours=2))
    assert moment == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def test_rate_every_interval_from_its_anchor() -> None:
    schedule = parse("rate(5 minutes)")
    assert due(schedule, UTC_ZONE, CREATED, None, CREATED + timedelta(minutes=4)) == CREATED
    assert due(schedule, UTC_ZONE, CREATED, CREATED, CREATED + timedelta(minutes=4)) is None
    assert due(schedule, UTC_ZONE, CREATED, CREATED, CREATED + timedelta(minutes=11)) == (
        CREATED + timedelta(minutes=10))
    assert parse("rate(1 day)").every == timedelta(days=1)


def test_cron_matches_within_its_minute_only() -> None:
    schedule = parse("cron(0/15 8-9 ? * MON-FRI *)")
    monday_8_15 = datetime(2026, 3, 2, 8, 15, 40, tzinfo=UTC)
    assert due(schedule, UTC_ZONE, CREATED, None, monday_8_15) == monday_8_15.replace(second=0)
    assert due(schedule, UTC_ZONE, CREATED, None, monday_8_15 + timedelta(minutes=1)) is None
    assert due(schedule, UTC_ZONE, CREATED, None, monday_8_15 + timedelta(days=5)) is None  # a Saturday
    assert due(parse("cron(0 12 1 JAN,JUL ? 2026)"), UTC_ZONE, CREATED, None,
               datetime(2026, 7, 1, 12, 0, tzinfo=UTC)) is not None


@pytest.mark.parametrize(("expression", "words"), [
    ("rate(0 minutes)", "positive"),
    ("rate(5 weeks)", "Unsupported schedule expression"),
    ("cron(0 8 * *)", "six fields"),
    ("cron(0 8 1 * MON *)", "one of day-of-month and day-of-week"),
    ("cron(61 8 ? * * *)", "Invalid cron value 61"),
    ("cron(0 8 ? * 2#1 *)", "not supported"),
    ("cron(0 9-8 ? * * *)", "Invalid cron field 9-8"),
    ("at(2026-13-01T00:00:00)", "Invalid date and time"),
])
def test_bad_expressions_say_why(expression: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse(expression)


def test_unknown_time_zone() -> None:
    with pytest.raises(ValueError, match="Invalid timezone: Mars/Olympus"):
        zone("Mars/Olympus")


@pytest.mark.parametrize(("text", "expected"), [
    ("-PT1H", timedelta(hours=-1)), ("-PT0H", timedelta(0)), ("PT30M", timedelta(minutes=30)),
    ("-P1DT2H30M15S", -timedelta(days=1, hours=2, minutes=30, seconds=15))])
def test_an_offset_is_an_iso_8601_duration(text: str, expected: timedelta) -> None:
    assert offset(text) == expected


@pytest.mark.parametrize("text", ["P", "-PT", "P1DT", "1H", "-PT1.5H", "an hour ago"])
def test_an_offset_that_is_no_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=f"Invalid ISO 8601 duration {text}"):
        offset(text)
