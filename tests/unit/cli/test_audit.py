"""`modelbay audit --since`: a duration ago, or a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import typer

from modelbay.cli.audit import since_time

NOW = datetime(2026, 12, 5, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(("given", "ago"), [("30s", timedelta(seconds=30)), ("10m", timedelta(minutes=10)),
                                            ("2h", timedelta(hours=2)), ("1d", timedelta(days=1))])
def test_a_duration_is_that_long_ago(given: str, ago: timedelta) -> None:
    assert since_time(given, NOW) == NOW - ago


def test_a_time_is_local_unless_it_names_its_zone() -> None:
    assert since_time("2026-12-05T12:00:00+00:00") == datetime(2026, 12, 5, 12, tzinfo=UTC)
    local = since_time("2026-12-05T12:00")
    assert local.tzinfo is not None and local.replace(tzinfo=None) == datetime(2026, 12, 5, 12)


@pytest.mark.parametrize("given", ["10", "10 minutes", "-5m", "yesterday"])
def test_anything_else_is_refused(given: str) -> None:
    with pytest.raises(typer.BadParameter, match="neither a duration"):
        since_time(given, NOW)
