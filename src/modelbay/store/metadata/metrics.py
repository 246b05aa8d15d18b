"""CloudWatch metrics as the database keeps them: one row per metric, one per (metric, period, unit, time) point.

A point is a statistic set (SampleCount, Sum, Minimum, Maximum) with the histogram of its values
(see monitoring/distribution.py; None where a statistic set made them unknowable). Adding to a point
merges; the monitoring layer decides which periods a value goes into and how long each is kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    bindparam,
    delete,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.tables import Base, BigSerial

Dimensions = tuple[tuple[str, str], ...]  # (name, value) pairs sorted by name
_IN_CHUNK = 1000
T = TypeVar("T")
_LOCK = "metrics"  # serialises writers of points (a read-merge-write) on PostgreSQL


@dataclass(frozen=True)
class MetricKey:
    """A metric: CloudWatch tells metrics apart by namespace, name and the exact set of dimensions."""

    namespace: str
    name: str
    dimensions: Dimensions = ()

    @classmethod
    def of(cls, namespace: str, name: str, dimensions: Mapping[str, str] | None = None) -> MetricKey:
        return cls(namespace, name, tuple(sorted((dimensions or {}).items())))

    @property
    def identity(self) -> str:
        return hashlib.sha256(json.dumps([self.namespace, self.name, self.dimensions]).encode()).hexdigest()


@dataclass
class Aggregate:
    """A statistic set and its values' histogram (None: unknown, as after a statistic set of distinct values)."""

    sample_count: float
    sum: float
    minimum: float
    maximum: float
    histogram: dict[int, float] | None = field(default_factory=dict)

    def merge(self, other: Aggregate) -> None:
        self.sample_count += other.sample_count
        self.sum += other.sum
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        if self.histogram is None or other.histogram is None:
            self.histogram = None
            return
        for bucket, count in other.histogram.items():
            self.histogram[bucket] = self.histogram.get(bucket, 0.0) + count

    def copy(self) -> Aggregate:
        histogram = None if self.histogram is None else dict(self.histogram)
        return Aggregate(self.sample_count, self.sum, self.minimum, self.maximum, histogram)


@dataclass(frozen=True)
class PointKey:
    """Where a point goes: its metric, its period (the resolution it is kept at), unit and start (epoch seconds)."""

    metric: MetricKey
    unit: str
    period: int
    timestamp: int


@dataclass(frozen=True)
class Point:
    timestamp: int
    unit: str
    aggregate: Aggregate


@dataclass(frozen=True)
class Metric:
    key: MetricKey
    last_published: int  # epoch seconds of the last write to it


class MetricRow(Base):
    __tablename__ = "metrics"
    __table_args__ = (Index(None, "namespace", "name"),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    identity: Mapped[str] = mapped_column(String(64), unique=True)  # MetricKey.identity
    namespace: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    dimensions: Mapped[list[list[str]]] = mapped_column(JSON)
    last_published: Mapped[int] = mapped_column(BigInteger)


class MetricPointRow(Base):
    __tablename__ = "metric_points"
    __table_args__ = (Index(None, "period", "timestamp"),)

    metric_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("metrics.id", ondelete="CASCADE"),
                                           primary_key=True)
    period: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit: Mapped[str] = mapped_column(String(32), primary_key=True)
    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sample_count: Mapped[float] = mapped_column(Double)
    sum: Mapped[float] = mapped_column(Double)
    minimum: Mapped[float] = mapped_column(Double)
    maximum: Mapped[float] = mapped_column(Double)
    histogram: Mapped[list[list[float]] | None] = mapped_column(JSON)  # [[bucket, count], ...]


class MetricRepository:
    """Metrics and their points in one database. Thread-safe; each method is one transaction.

    Points are written every second (the invocation metrics, ConcurrentRequestsPerModel), so `add` is SQLAlchemy
    Core, not ORM objects, and metric ids, which never change once a metric exists, are remembered once committed.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._ids: dict[str, int] = {}  # MetricKey.identity → its row's id, of rows committed

    def add(self, points: Mapping[PointKey, Aggregate], published: int) -> None:
        """Merge each aggregate into its point (created if absent), creating metrics on demand and marking
        them published at `published`."""
        if not points:
            return
        with self.db.write(lock=_LOCK) as session:
            ids = self._metric_ids(session, {key.metric for key in points}, published)
            keyed = {(ids[key.metric], key.period, key.unit, key.timestamp): value for key, value in points.items()}
            stored = {(row.metric_id, row.period, row.unit, row.timestamp): row
                      for chunk in _chunks(list(keyed)) for row in session.execute(_STORED, {"keys": chunk})}
            new = [_point_values(pk, aggregate) for pk, aggregate in keyed.items() if pk not in stored]
            merged = [_point_values(pk, _merged(stored[pk], aggregate), _KEY_PARAMETER) for pk, aggregate
                      in keyed.items() if pk in stored]
            if new:
                session.execute(_POINTS.insert(), new)
            if merged:
                session.execute(_MERGE, merged)
        self._ids |= {metric.identity: id_ for metric, id_ in ids.items()}

    def _metric_ids(self, session: Session, metrics: Iterable[MetricKey], published: int) -> dict[MetricKey, int]:
        """Each metric's id (its row created if absent), its row marked published at `published`."""
        metrics = set(metrics)
        ids = {metric: self._ids[metric.identity] for metric in metrics if metric.identity in self._ids}
        if len(ids) < len(metrics):
            ids |= _created_ids(session, metrics - ids.keys(), published)
        session.execute(_PUBLISHED, {"ids": list(ids.values()), "published": published})
        return ids

    def points(self, metric: MetricKey, period: int, start: int, end: int, unit: str | None = None) -> list[Point]:
        """The metric's points kept at `period` with start <= timestamp < end (of `unit` only, if given),
        by time."""
        query = (select(MetricPointRow).join(MetricRow, MetricRow.id == MetricPointRow.metric_id)
                 .where(MetricRow.identity == metric.identity, MetricPointRow.period == period,
                        MetricPointRow.timestamp >= start, MetricPointRow.timestamp < end)
                 .order_by(MetricPointRow.timestamp, MetricPointRow.unit))
        if unit is not None:
            query = query.where(MetricPointRow.unit == unit)
        with self.db.read() as session:
            return [Point(row.timestamp, row.unit, _aggregate(row)) for row in session.scalars(query)]

    def metrics(self, namespace: str | None, name: str | None, published_since: int) -> list[Metric]:
        """The metrics published to since `published_since`, of the namespace and name if given, by
        namespace, name and dimensions."""
        query = select(MetricRow).where(MetricRow.last_published >= published_since)
        if namespace is not None:
            query = query.where(MetricRow.namespace == namespace)
        if name is not None:
            query = query.where(MetricRow.name == name)
        with self.db.read() as session:
            found = [Metric(_key(row), row.last_published) for row in session.scalars(query)]
        return sorted(found, key=lambda metric: (metric.key.namespace, metric.key.name, metric.key.dimensions))

    def expire(self, before: Mapping[int, int]) -> int:
        """Delete the points kept at each period whose timestamp is before its limit; return how many."""
        deleted = 0
        with self.db.write(lock=_LOCK) as session:
            for period, limit in before.items():
                result = session.execute(delete(MetricPointRow).where(
                    MetricPointRow.period == period, MetricPointRow.timestamp < limit))
                deleted += result.rowcount  # type: ignore[attr-defined]  # a CursorResult for a DELETE
        return deleted


def _created_ids(session: Session, metrics: Iterable[MetricKey], published: int) -> dict[MetricKey, int]:
    """The metrics' ids, their rows created where absent (read first: another process may have made them)."""
    by_identity = {metric.identity: metric for metric in metrics}
    rows = {row.identity: row for chunk in _chunks(list(by_identity))
            for row in session.scalars(select(MetricRow).where(MetricRow.identity.in_(chunk)))}
    for identity, metric in by_identity.items():
        if identity not in rows:
            rows[identity] = MetricRow(identity=identity, namespace=metric.namespace, name=metric.name,
                                       dimensions=[list(pair) for pair in metric.dimensions], last_published=published)
            session.add(rows[identity])
    session.flush()
    return {metric: rows[identity].id for identity, metric in by_identity.items()}


def _chunks(keys: list[T]) -> Iterator[list[T]]:
    """`keys` in slices small enough for one IN clause on every backend (SQLite binds at most 32766 values)."""
    for start in range(0, len(keys), _IN_CHUNK):
        yield keys[start:start + _IN_CHUNK]


_POINTS = Base.metadata.tables[MetricPointRow.__tablename__]
_KEY_NAMES = ("metric_id", "period", "unit", "timestamp")
_STATISTIC_NAMES = ("sample_count", "sum", "minimum", "maximum", "histogram")
_POINT_KEY = tuple(_POINTS.c[name] for name in _KEY_NAMES)
_STORED = select(_POINTS).where(tuple_(*_POINT_KEY).in_(bindparam("keys", expanding=True)))
_METRICS = Base.metadata.tables[MetricRow.__tablename__]
_PUBLISHED = (update(_METRICS).where(_METRICS.c.id.in_(bindparam("ids", expanding=True)),
                                     _METRICS.c.last_published < bindparam("published"))
              .values(last_published=bindparam("published")))
# A stored point's new statistics, by its key (an UPDATE reserves the columns' names: the key is bound as key_<name>)
_KEY_PARAMETER = "key_"
_MERGE = (update(_POINTS).where(*(column == bindparam(_KEY_PARAMETER + column.name) for column in _POINT_KEY))
          .values({name: bindparam(name) for name in _STATISTIC_NAMES}))


def _point_values(pk: tuple[int, int, str, int], aggregate: Aggregate, key_prefix: str = "") -> dict[str, Any]:
    """A point's columns, its key's (their names prefixed) and its aggregate's."""
    statistics = (aggregate.sample_count, aggregate.sum, aggregate.minimum, aggregate.maximum,
                  _histogram_json(aggregate.histogram))
    names = (*(key_prefix + name for name in _KEY_NAMES), *_STATISTIC_NAMES)
    return dict(zip(names, (*pk, *statistics), strict=True))


def _merged(row: Any, aggregate: Aggregate) -> Aggregate:
    """A stored point (a row of _POINTS) with `aggregate` merged in."""
    merged = _aggregate(row)
    merged.merge(aggregate)
    return merged


def _aggregate(row: Any) -> Aggregate:
    """A point's aggregate, from its row (ORM object or Core row)."""
    histogram = None if row.histogram is None else {int(bucket): count for bucket, count in row.histogram}
    return Aggregate(row.sample_count, row.sum, row.minimum, row.maximum, histogram)


def _histogram_json(histogram: dict[int, float] | None) -> list[list[float]] | None:
    return None if histogram is None else [[bucket, count] for bucket, count in sorted(histogram.items())]


def _key(row: MetricRow) -> MetricKey:
    dimensions: Any = tuple((name, value) for name, value in row.dimensions)
    return MetricKey(row.namespace, row.name, dimensions)
