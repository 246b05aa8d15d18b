"""The metric store on SQLite and PostgreSQL: resolutions, roll-ups, retention, percentiles, exact dimensions."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from modelbay.monitoring import distribution, statistics
from modelbay.monitoring.metrics import MetricKey, MetricStore, source_resolution
from modelbay.store.metadata import open_metadata_store
from modelbay.store.metadata.metrics import Aggregate, MetricRepository
from tests.helpers import T0, SetClock
from tests.unit.store.metadata.conftest import fresh_postgres_database

Clock = SetClock[datetime]  # a clock the test sets

LATENCY = MetricKey.of("App", "Latency", {"Endpoint": "ep", "Variant": "v1"})


@pytest.fixture
def clock() -> Clock:
    return SetClock(T0)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def metrics(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[MetricStore]:
    if request.param == "sqlite":
        metadata = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}")
        yield MetricStore(metadata.metrics, clock)
        metadata.close()
        return
    with fresh_postgres_database() as url:
        metadata = open_metadata_store(url)
        yield MetricStore(metadata.metrics, clock)
        metadata.close()


def _at(seconds: float) -> float:
    return (T0 + timedelta(seconds=seconds)).timestamp()


def _stats(metrics: MetricStore, metric: MetricKey, period: int, start: float = -3600,
           end: float = 3600) -> list[tuple[int, float, float]]:
    found = metrics.series(metric, T0 + timedelta(seconds=start), T0 + timedelta(seconds=end), period).points
    return [(int(p.timestamp - T0.timestamp()), p.aggregate.sample_count, p.aggregate.sum) for p in found]


def test_values_roll_up_into_every_period(metrics: MetricStore) -> None:
    for second, value in [(0, 1.0), (1, 2.0), (59, 3.0), (60, 4.0), (301, 5.0)]:
        metrics.record(LATENCY, value, "Milliseconds", _at(second), storage_resolution=1)
    metrics.flush()
    assert _stats(metrics, LATENCY, 1, 0, 2) == [(0, 1, 1.0), (1, 1, 2.0)]
    assert _stats(metrics, LATENCY, 60, 0) == [(0, 3, 6.0), (60, 1, 4.0), (300, 1, 5.0)]
    assert _stats(metrics, LATENCY, 300, 0) == [(0, 4, 10.0), (300, 1, 5.0)]
    assert _stats(metrics, LATENCY, 3600, 0) == [(0, 5, 15.0)]


def test_standard_resolution_data_has_no_one_second_points(metrics: MetricStore) -> None:
    metrics.record(LATENCY, 1.0, timestamp=_at(5))
    metrics.flush()
    assert _stats(metrics, LATENCY, 1, 0, 10) == []
    assert _stats(metrics, LATENCY, 60, 0) == [(0, 1, 1.0)]


def test_flushes_merge_into_stored_points(metrics: MetricStore) -> None:
    metrics.record(LATENCY, 1.0, timestamp=_at(1))
    metrics.flush()
    metrics.record(LATENCY, 9.0, timestamp=_at(2))
    metrics.record_set(LATENCY, Aggregate(2, 10.0, 4.0, 6.0, None), timestamp=_at(3))
    metrics.flush()
    [point] = metrics.series(LATENCY, T0, T0 + timedelta(minutes=1), 60).points
    assert (point.aggregate.sample_count, point.aggregate.sum, point.aggregate.minimum, point.aggregate.maximum) == (
        4, 20.0, 1.0, 9.0)
    assert point.aggregate.histogram is None  # a statistic set of distinct values hides its values
    assert statistics.value_of(point.aggregate, "p50") is None
    assert statistics.value_of(point.aggregate, "Average") == 5.0


def test_dimensions_match_exactly(metrics: MetricStore) -> None:
    fewer = MetricKey.of("App", "Latency", {"Endpoint": "ep"})
    metrics.record(LATENCY, 1.0, timestamp=_at(0))
    metrics.record(fewer, 100.0, timestamp=_at(0))
    metrics.flush()
    assert _stats(metrics, LATENCY, 60) == [(0, 1, 1.0)]
    assert _stats(metrics, fewer, 60) == [(0, 1, 100.0)]
    assert _stats(metrics, MetricKey.of("App", "Latency"), 60) == []


def test_units_are_kept_apart_and_filtered(metrics: MetricStore) -> None:
    metrics.record(LATENCY, 1.0, "Seconds", _at(0))
    metrics.record(LATENCY, 1000.0, "Milliseconds", _at(0))
    metrics.flush()
    found = metrics.series(LATENCY, T0, T0 + timedelta(minutes=1), 60).points
    assert sorted((p.unit, p.aggregate.sum) for p in found) == [("Milliseconds", 1000.0), ("Seconds", 1.0)]
    only = metrics.series(LATENCY, T0, T0 + timedelta(minutes=1), 60, unit="Seconds").points
    assert [(p.unit, p.aggregate.sum) for p in only] == [("Seconds", 1.0)]


def test_retention_expires_each_resolution_in_its_time(metrics: MetricStore, clock: Clock) -> None:
    metrics.record(LATENCY, 1.0, timestamp=_at(0), storage_resolution=1)
    metrics.flush()
    clock.now = T0 + timedelta(hours=3, seconds=1)
    assert metrics.expire() == 1  # the one-second point
    assert _stats(metrics, LATENCY, 60, -10, 10) == [(0, 1, 1.0)]
    clock.now = T0 + timedelta(days=15, seconds=1)
    assert metrics.expire() == 1
    clock.now = T0 + timedelta(days=63, seconds=1)
    assert metrics.expire() == 1
    assert _stats(metrics, LATENCY, 3600, -10, 10) == [(0, 1, 1.0)]
    clock.now = T0 + timedelta(days=455, seconds=1)
    assert metrics.expire() == 1
    assert metrics.expire() == 0


def test_reads_use_the_resolution_the_data_s_age_allows(metrics: MetricStore, clock: Clock) -> None:
    metrics.record(LATENCY, 2.0, timestamp=_at(0))
    metrics.flush()
    clock.now = T0 + timedelta(days=20)
    assert _stats(metrics, LATENCY, 60, -10, 10) == []  # one-minute data lives 15 days
    assert _stats(metrics, LATENCY, 300, -10, 10) == [(0, 1, 2.0)]
    assert source_resolution(60, T0, T0) == 60
    assert source_resolution(30, T0 - timedelta(hours=4), T0) is None
    assert source_resolution(7200, T0 - timedelta(days=100), T0) == 3600


def test_old_values_skip_resolutions_that_no_longer_keep_them(metrics: MetricStore, clock: Clock) -> None:
    clock.now = T0 + timedelta(hours=4)
    metrics.record(LATENCY, 1.0, timestamp=_at(0), storage_resolution=1)
    metrics.flush()
    assert metrics.expire() == 0
    assert _stats(metrics, LATENCY, 60, -10, 10) == [(0, 1, 1.0)]


def test_percentiles_are_within_the_stated_relative_error(metrics: MetricStore) -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(3, 1) for _ in range(5000)]
    for n, value in enumerate(values):
        metrics.record(LATENCY, value, timestamp=_at(n % 600))
    metrics.flush()
    [point] = metrics.series(LATENCY, T0, T0 + timedelta(hours=1), 3600).points
    ordered = sorted(values)
    for name, share in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)]:
        exact = ordered[int(share * len(ordered)) - 1]
        estimate = statistics.value_of(point.aggregate, name)
        assert estimate is not None
        assert abs(estimate - exact) <= distribution.RELATIVE_ERROR * exact * 1.0001 + 1e-9, name
    assert statistics.value_of(point.aggregate, "p100") == max(values)
    assert statistics.value_of(point.aggregate, "p0") == min(values)
    trimmed = statistics.value_of(point.aggregate, "tm90")
    exact_trimmed = sum(ordered[:4500]) / 4500
    assert trimmed is not None and abs(trimmed - exact_trimmed) <= 0.01 * exact_trimmed


def test_listing_filters_by_namespace_name_dimensions_and_activity(metrics: MetricStore, clock: Clock) -> None:
    other = MetricKey.of("App", "Errors", {"Endpoint": "ep2"})
    metrics.record(LATENCY, 1.0, timestamp=_at(0))
    metrics.flush()
    clock.now = T0 + timedelta(hours=4)
    metrics.record(other, 1.0)
    metrics.flush()
    assert [m.key for m in metrics.metrics("App")] == [other, LATENCY]
    assert [m.key for m in metrics.metrics(name="Latency")] == [LATENCY]
    assert [m.key for m in metrics.metrics(dimensions=[("Endpoint", "ep2")])] == [other]
    assert [m.key for m in metrics.metrics(dimensions=[("Variant", None)])] == [LATENCY]
    assert [m.key for m in metrics.metrics(active_within=timedelta(hours=3))] == [other]
    clock.now = T0 + timedelta(days=14, hours=2)  # listed for two weeks after the last value
    assert [m.key for m in metrics.metrics()] == [other]


def test_a_metric_written_again_is_active_again(metrics: MetricStore, clock: Clock) -> None:
    metrics.record(LATENCY, 1.0)
    metrics.flush()
    clock.now = T0 + timedelta(hours=4)
    assert metrics.metrics(active_within=timedelta(hours=3)) == []
    metrics.record(LATENCY, 2.0)  # a metric the repository knows already: only its row's publication time moves
    metrics.flush()
    assert [m.key for m in metrics.metrics(active_within=timedelta(hours=3))] == [LATENCY]


def test_two_processes_write_one_metric_and_its_points(metrics: MetricStore, clock: Clock) -> None:
    """Each process remembers the metric ids it has written; another's, made meanwhile, is found, not made again."""
    other = MetricStore(MetricRepository(metrics.repository.db), clock)
    for store, value in [(metrics, 1.0), (other, 2.0), (metrics, 3.0)]:
        store.record(LATENCY, value, timestamp=_at(0))
        store.flush()
    assert [m.key for m in metrics.metrics()] == [LATENCY]
    assert _stats(other, LATENCY, 60) == [(0, 3, 6.0)]


def test_a_failed_flush_keeps_the_values_for_the_next(metrics: MetricStore, monkeypatch: pytest.MonkeyPatch) -> None:
    metrics.record(LATENCY, 3.0, timestamp=_at(0))

    def broken(*_: object) -> None:
        raise OSError("database gone")

    monkeypatch.setattr(metrics.repository, "add", broken)
    with pytest.raises(OSError):
        metrics.flush()
    monkeypatch.undo()
    metrics.flush()
    assert _stats(metrics, LATENCY, 60) == [(0, 1, 3.0)]


def test_record_cost_per_call() -> None:
    """Measured, not asserted (no timing assertions): printed with -s; see the report for the figure."""
    store = MetricStore(None, lambda: T0)  # type: ignore[arg-type]  # record never touches the repository
    calls = 100_000
    started = time.perf_counter()
    for n in range(calls):
        store.record(LATENCY, float(n % 500), "Microseconds", _at(n % 10))
    per_call_us = (time.perf_counter() - started) / calls * 1e6
    print(f"record: {per_call_us:.2f} µs per call")
    assert len(store._buffer) == 10


def test_a_flush_of_many_metrics_merges_into_what_is_stored(metrics: MetricStore) -> None:
    many = [MetricKey.of("App", "Hits", {"Instance": str(n)}) for n in range(1200)]
    for _ in range(2):
        for metric in many:
            metrics.record(metric, 1.0, timestamp=_at(0))
        metrics.flush()
    assert _stats(metrics, many[0], 3600) == _stats(metrics, many[-1], 3600) == [(0, 2, 2.0)]


def test_a_period_that_began_a_fraction_of_a_second_before_the_end_is_read(metrics: MetricStore,
                                                                         clock: Clock) -> None:
    """The end is a time, not a whole second: a value recorded at a period's first second is read at that
    second's 0.7 (the series of a metric just published, read at once)."""
    boundary = (int(T0.timestamp()) // 300 + 1) * 300
    clock.now = datetime.fromtimestamp(boundary + 0.7, T0.tzinfo)
    metrics.record(LATENCY, 5.0)
    metrics.flush()
    points = metrics.series(LATENCY, clock.now - timedelta(minutes=5), clock.now, 300).points
    assert [(p.timestamp, p.aggregate.maximum) for p in points] == [(boundary, 5.0)]
