"""`modelbay metrics`: the window and period asked for, the GetMetricData queries, the numbers read from the
answer, and the plot."""

from __future__ import annotations

import re
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from modelbay.cli.main import app
from modelbay.cli.metrics import (
    PLOT_PIXELS,
    STATISTICS,
    VariantMetrics,
    Window,
    as_json,
    draw,
    plan,
    queries,
    query_id,
    variant_metrics,
)
from modelbay.monitoring.metrics import source_resolution

NOW = datetime(2026, 12, 5, 13, 0, 17, tzinfo=UTC)
WINDOW = Window(datetime(2026, 12, 5, 12, 0, tzinfo=UTC), 3660, 60)


# at 13:02:00, 1h back is 3600 s from 12:02, a period that the store would start at 12:00 unless lengthened
@pytest.mark.parametrize("now", [NOW, NOW.replace(minute=2, second=0)])
@pytest.mark.parametrize(("since", "ago"), [("1h", timedelta(hours=1)), ("90m", timedelta(minutes=90)),
                                            ("2h", timedelta(hours=2)), ("1d", timedelta(days=1)),
                                            ("30s", timedelta(seconds=30)),
                                            ("15d", timedelta(days=15)), ("30d", timedelta(days=30)),
                                            ("63d", timedelta(days=63)), ("400d", timedelta(days=400))])
def test_the_window_covers_since_to_now_in_one_period_the_server_starts_where_it_does(
        since: str, ago: timedelta, now: datetime) -> None:
    window = plan(since, now, None)
    assert window.start <= now - ago < now <= window.end
    assert window.start > now - ago - timedelta(hours=1)  # rounded, not widened beyond CloudWatch's rounding
    read = source_resolution(window.length, window.start, now)  # what the metric store reads a period from
    assert read is not None and int(window.start.timestamp()) % read == 0


def test_the_period_defaults_to_a_minute_or_what_is_kept_of_older_data() -> None:
    assert plan("1h", NOW, None).period == 60
    assert plan("30d", NOW, None).period == 300
    assert plan("100d", NOW, None).period == 3600
    assert plan("2h", NOW, 1).period == 1
    assert plan("1d", NOW, 300).period == 300


def test_a_time_is_a_since_too() -> None:
    assert plan("2026-12-05T12:30:00+00:00", NOW, None).start == datetime(2026, 12, 5, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(("since", "period", "message"), [
    ("90 minutes", None, "--since: '90 minutes' is neither a duration"),
    ("yesterday", None, "--since: 'yesterday' is neither a duration"),
    ("2026-12-06T00:00:00+00:00", None, "--since '2026-12-06T00:00:00+00:00' is not in the past"),
    ("500d", None, "--since '500d' reaches back more than 455 days"),
    ("1h", 45, "--period 45 is not 1, 5, 10, 30 or a multiple of 60"),
    ("3h", 1, "--period 1 is too fine for --since '3h': CloudWatch keeps data that old per 60 s"),
    ("30d", 60, "--period 60 is too fine for --since '30d': CloudWatch keeps data that old per 300 s"),
])
def test_what_cloudwatch_cannot_answer_is_refused_naming_the_option(since: str, period: int | None,
                                                                    message: str) -> None:
    with pytest.raises(typer.BadParameter, match=re.escape(message)):
        plan(since, NOW, period)


def test_the_queries_ask_each_variant_over_the_window_and_per_period() -> None:
    asked = queries("ep-1", ["a", "blue-green"], WINDOW)
    assert len(asked) == 2 * 2 * len(STATISTICS)
    assert len({query["Id"] for query in asked}) == len(asked)
    assert all(re.fullmatch(r"[a-z][a-zA-Z0-9_]*", query["Id"]) for query in asked)
    by_id = {query["Id"]: query["MetricStat"] for query in asked}
    latency = by_id[query_id("total", 1, ("ModelLatency", "p99"))]
    assert latency == {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": "ModelLatency",
                                  "Dimensions": [{"Name": "EndpointName", "Value": "ep-1"},
                                                 {"Name": "VariantName", "Value": "blue-green"}]},
                       "Period": 3660, "Stat": "p99"}
    assert by_id[query_id("series", 0, ("Invocations", "Sum"))]["Period"] == 60


def test_counts_without_datapoints_are_zero_and_percentiles_unknown() -> None:
    t1, t2 = WINDOW.start, WINDOW.start + timedelta(minutes=1)
    found = {query_id("total", 0, ("Invocations", "Sum")): {t1: 7.0},
             query_id("total", 0, ("ModelLatency", "p50")): {t1: 1500.0},
             query_id("series", 0, ("Invocations", "Sum")): {t2: 4.0, t1: 3.0}}
    variant = variant_metrics("a", 0, found)
    assert variant.totals[("Invocations", "Sum")] == 7
    assert variant.totals[("Invocation5XXErrors", "Sum")] == 0
    assert variant.totals[("ModelLatency", "p50")] == 1500
    assert variant.totals[("ModelLatency", "p99")] is None
    assert list(variant.series[("Invocations", "Sum")].items()) == [(t1, 3.0), (t2, 4.0)]  # oldest first
    assert variant_metrics("b", 1, found).totals[("Invocations", "Sum")] == 0


def test_json_nests_metric_then_statistic() -> None:
    found = {query_id("total", 0, ("ModelLatency", "p90")): {WINDOW.start: 2000.0},
             query_id("series", 0, ("Invocations", "Sum")): {WINDOW.start: 3.0}}
    printed = as_json("ep", [variant_metrics("a", 0, found)], WINDOW)
    assert (printed["StartTime"], printed["EndTime"], printed["Period"]) == (
        "2026-12-05T12:00:00+00:00", "2026-12-05T13:01:00+00:00", 60)
    [variant] = printed["Variants"]
    assert variant["Totals"]["ModelLatency"] == {"p50": None, "p90": 2000.0, "p99": None}
    assert variant["Totals"]["Invocations"] == {"Sum": 0}
    assert variant["Series"]["Invocations"]["Sum"] == [{"Timestamp": "2026-12-05T12:00:00+00:00", "Value": 3.0}]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_plot_is_a_png_of_the_promised_size(tmp_path: Path) -> None:
    series = {statistic: {WINDOW.start + timedelta(minutes=n): float(n + 1) * 1000 for n in range(3)}
              for statistic in STATISTICS}
    variants = [VariantMetrics(name, {}, series) for name in ("a", "b")]
    draw(tmp_path / "m.png", "ep", variants, WINDOW)
    assert png_size(tmp_path / "m.png") == PLOT_PIXELS
    assert [path.name for path in tmp_path.iterdir()] == ["m.png"]  # no temporary file left beside it


@pytest.mark.parametrize(("arguments", "message"), [
    (["--since", "yesterday"], "error: --since: 'yesterday' is neither a duration (30s, 10m, 2h, 1d) nor a time "
                               "(2026-12-05T13:00)\n"),
    (["--period", "90"], "error: --period 90 is not 1, 5, 10, 30 or a multiple of 60\n"),
    (["--plot", "m.svg"], "error: --plot writes a PNG image: name a .png file, not 'm.svg'\n"),
])
def test_bad_options_are_one_line_before_any_call(arguments: list[str], message: str) -> None:
    done = CliRunner().invoke(app, ["--url", "http://127.0.0.1:9", "metrics", "ep", *arguments])
    assert (done.exit_code, done.stderr) == (2, message)
