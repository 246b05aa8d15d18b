"""An alarm's datapoints over its evaluation range: its metric's statistic per period, or the value of the
metric-math query that returns data (monitoring/metric_math.py, GetMetricData's expressions, which import
nothing of modelbay) over its metric queries."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from modelbay.controllers.alarms.evaluation import Datapoint, evaluation_range
from modelbay.monitoring import metric_math, statistics
from modelbay.monitoring.metrics import Aggregate, MetricKey, MetricStore, Point
from modelbay.store.metadata.alarms import AlarmSpec

_Values = dict[int, tuple[float, float | None]]  # period start → value, sample count


def datapoints(metrics: MetricStore, spec: AlarmSpec, end: int) -> list[Datapoint]:
    """The datapoints of the evaluation range's periods, the newest ending at `end` (a period boundary), newest
    first. Raises metric_math.MathError when an expression cannot be evaluated."""
    start = end - evaluation_range(spec) * spec.period
    if spec.metric is not None and spec.statistic is not None:
        values = _statistic(metrics, spec.metric, spec.statistic, spec.period, spec.unit, start, end)
    else:
        values = _expression(metrics, spec, start, end)
    return [Datapoint(timestamp, *values.get(timestamp, (None, None)))
            for timestamp in range(end - spec.period, start - 1, -spec.period)]


def _statistic(metrics: MetricStore, metric: MetricKey, statistic: str, period: int, unit: str | None, start: int,
               end: int) -> _Values:
    found = metrics.series(metric, _moment(start), _moment(end), period, unit)
    values: _Values = {}
    for timestamp, aggregate in _merged_units(found.points).items():
        value = statistics.value_of(aggregate, statistic)
        if value is not None:
            values[timestamp] = (value, aggregate.sample_count)
    return values


def _merged_units(points: Iterable[Point]) -> dict[int, Aggregate]:
    """One aggregate per period: an alarm without a Unit watches the metric's values of every unit."""
    merged: dict[int, Aggregate] = {}
    for point in points:
        if point.timestamp in merged:
            merged[point.timestamp].merge(point.aggregate)
        else:
            merged[point.timestamp] = point.aggregate.copy()
    return merged


def _expression(metrics: MetricStore, spec: AlarmSpec, start: int, end: int) -> _Values:
    """The returned query's series: metric queries first, then each expression once those it names are known."""
    series: dict[str, metric_math.Series] = {}
    metric_ids = [query["Id"] for query in spec.queries if "MetricStat" in query]
    for query in spec.queries:
        if "MetricStat" in query:
            series[query["Id"]] = _metric_series(metrics, query["MetricStat"], start, end)
    pending = {query["Id"]: metric_math.parse(query["Expression"]) for query in spec.queries if "Expression" in query}
    timestamps = list(range(start, end, spec.period))
    while pending:
        ready = [query_id for query_id, tree in pending.items() if metric_math.references(tree) <= series.keys()]
        if not ready:
            raise metric_math.MathError(f"Unrecognized identifier or circular dependency in {sorted(pending)}.")
        for query_id in ready:
            inputs = metric_math.Inputs(series, metric_ids, timestamps)
            series[query_id] = metric_math.as_series(metric_math.evaluate(pending.pop(query_id), inputs), timestamps)
    returned = next(query["Id"] for query in spec.queries if query.get("ReturnData", True))
    return {timestamp: (value, None) for timestamp, value in series[returned].items() if math.isfinite(value)}


def _metric_series(metrics: MetricStore, stat: dict[str, Any], start: int, end: int) -> metric_math.Series:
    metric = stat["Metric"]
    key = MetricKey.of(metric["Namespace"], metric["MetricName"],
                       {d["Name"]: d["Value"] for d in metric.get("Dimensions") or []})
    found = _statistic(metrics, key, stat["Stat"], stat["Period"], stat.get("Unit"), start, end)
    return {timestamp: value for timestamp, (value, _) in found.items()}


def _moment(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
