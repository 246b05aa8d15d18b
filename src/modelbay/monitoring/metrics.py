"""The metric store: CloudWatch's datapoints per metric, at the resolutions CloudWatch keeps and for as long.

Writers call `record` (one value) or `record_set` (a statistic set or values with counts); both
only merge into an in-memory buffer keyed by metric, unit, storage resolution and second, so they
cost a dictionary update and are safe on the invocation path. `flush` writes the buffer: each
second's aggregate is merged at once into the point of every period it rolls up into (1 s for
high-resolution data, then 60 s, 300 s and 3600 s), so roll-ups never lag and a late value lands
in all of them. `expire` deletes what each period keeps no longer (RETENTION, as CloudWatch);
a controller loop calls it every few minutes (EXPIRY_INTERVAL_S): nothing else is needed, because
roll-ups are made as points are written.

Reads pick, for a requested period and start, the coarsest kept resolution that divides the period
and still covers the start, as CloudWatch answers: a 60 s period over data 20 days old has none.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from modelbay.monitoring import distribution
from modelbay.store.metadata.metrics import Aggregate, Metric, MetricKey, MetricRepository, Point, PointKey
from modelbay.store.metadata.records import Clock, utc_now

__all__ = ["EXPIRY_INTERVAL_S", "RETENTION", "Aggregate", "Metric", "MetricKey", "MetricStore", "Point",
           "Series", "source_resolution"]

RETENTION = {1: timedelta(hours=3), 60: timedelta(days=15), 300: timedelta(days=63), 3600: timedelta(days=455)}
EXPIRY_INTERVAL_S = 300.0
_BufferKey = tuple[MetricKey, str, int, int]  # metric, unit, storage resolution, second


@dataclass(frozen=True)
class Series:
    """A metric's aggregates per period over a time range, in time order (one per period and unit)."""

    period: int
    points: list[Point] = field(default_factory=list)


def source_resolution(period: int, start: datetime, now: datetime) -> int | None:
    """The coarsest resolution kept for data as old as `start` that divides `period` (None: none does)."""
    kept = [resolution for resolution, keep in RETENTION.items() if period % resolution == 0 and start >= now - keep]
    return max(kept, default=None)


class MetricStore:
    """Datapoints per metric (namespace, name, exact dimensions), in the region's metadata database. Thread-safe."""

    def __init__(self, repository: MetricRepository, clock: Clock = utc_now) -> None:
        self.repository = repository
        self.clock = clock
        self._buffer: dict[_BufferKey, Aggregate] = {}
        self._lock = threading.Lock()

    # -- writing ---------------------------------------------------------------------------------

    def record(self, metric: MetricKey, value: float, unit: str = "None", timestamp: float | None = None,
               storage_resolution: int = 60) -> None:
        """Buffer one value at `timestamp` (epoch seconds; default now); `flush` writes it. O(1)."""
        second = int(self.clock().timestamp() if timestamp is None else timestamp)
        key = (metric, unit, storage_resolution, second)
        with self._lock:
            found = self._buffer.get(key)
            if found is None:
                self._buffer[key] = Aggregate(1.0, value, value, value, {distribution.bucket_of(value): 1.0})
            else:
                found.sample_count += 1.0
                found.sum += value
                found.minimum = min(found.minimum, value)
                found.maximum = max(found.maximum, value)
                if found.histogram is not None:
                    distribution.add(found.histogram, value)

    def record_set(self, metric: MetricKey, aggregate: Aggregate, unit: str = "None", timestamp: float | None = None,
                   storage_resolution: int = 60) -> None:
        """Buffer a statistic set or values with counts, as `aggregate` (the store keeps it: do not reuse it)."""
        second = int(self.clock().timestamp() if timestamp is None else timestamp)
        self._merge({(metric, unit, storage_resolution, second): aggregate})

    def flush(self) -> None:
        """Write what is buffered into the points of every period it rolls up into. If the database fails,
        the values stay buffered for the next flush and the error is raised."""
        with self._lock:
            taken, self._buffer = self._buffer, {}
        if not taken:
            return
        now = self.clock()
        try:
            self.repository.add(_rolled_up(taken, now), int(now.timestamp()))
        except BaseException:
            self._merge(taken)
            raise

    def expire(self) -> int:
        """Delete the points each resolution keeps no longer; return how many went."""
        now = self.clock()
        return self.repository.expire({resolution: int((now - keep).timestamp()) for resolution, keep in
                                       RETENTION.items()})

    # -- reading ---------------------------------------------------------------------------------

    def series(self, metric: MetricKey, start: datetime, end: datetime, period: int, unit: str | None = None) -> Series:
        """The metric's aggregates per `period` from `start` (rounded down to the resolution read) to `end`.

        Empty when no kept resolution can serve the period for data that old (see source_resolution).
        """
        resolution = source_resolution(period, start, self.clock())
        if resolution is None:
            return Series(period)
        first = int(start.timestamp()) // resolution * resolution
        # a point is its period's start: one that starts before `end` (a fraction of a second before) is in
        found = self.repository.points(metric, resolution, first, math.ceil(end.timestamp()), unit)
        return Series(period, _by_period(found, first, period))

    def metrics(self, namespace: str | None = None, name: str | None = None,
                dimensions: Sequence[tuple[str, str | None]] = (),
                active_within: timedelta | None = None) -> list[Metric]:
        """The metrics published to within the last two weeks (or `active_within`), of `namespace` and `name`
        if given, having every dimension named (with that value, unless it is None); by namespace, name,
        dimensions."""
        since = self.clock() - (active_within or timedelta(days=14))
        found = self.repository.metrics(namespace, name, int(since.timestamp()))
        return [metric for metric in found if _has_dimensions(metric.key, dimensions)]

    # -- helpers -----------------------------------------------------------------------------------

    def _merge(self, aggregates: Mapping[_BufferKey, Aggregate]) -> None:
        with self._lock:
            for key, aggregate in aggregates.items():
                found = self._buffer.get(key)
                if found is None:
                    self._buffer[key] = aggregate
                else:
                    found.merge(aggregate)


def _rolled_up(buffered: Mapping[_BufferKey, Aggregate], now: datetime) -> dict[PointKey, Aggregate]:
    """The points each buffered second goes into: every kept resolution from its own up, while that one
    still keeps data of its age."""
    points: dict[PointKey, Aggregate] = {}
    for (metric, unit, storage_resolution, second), aggregate in buffered.items():
        for resolution, keep in RETENTION.items():
            if resolution < storage_resolution or second < (now - keep).timestamp():
                continue
            key = PointKey(metric, unit, resolution, second // resolution * resolution)
            found = points.get(key)
            if found is None:
                points[key] = aggregate.copy()
            else:
                found.merge(aggregate)
    return points


def _by_period(points: Iterable[Point], first: int, period: int) -> list[Point]:
    """Points merged into periods starting at `first`, one per (period, unit), in time order."""
    merged: dict[tuple[int, str], Aggregate] = {}
    for point in points:
        key = (first + (point.timestamp - first) // period * period, point.unit)
        found = merged.get(key)
        if found is None:
            merged[key] = point.aggregate.copy()
        else:
            found.merge(point.aggregate)
    return [Point(timestamp, unit, aggregate) for (timestamp, unit), aggregate in sorted(merged.items())]


def _has_dimensions(metric: MetricKey, wanted: Sequence[tuple[str, str | None]]) -> bool:
    present = dict(metric.dimensions)
    return all(name in present and (value is None or present[name] == value) for name, value in wanted)
