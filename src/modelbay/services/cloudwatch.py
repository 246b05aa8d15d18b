"""CloudWatch metrics (botocore `cloudwatch`): PutMetricData, GetMetricStatistics, GetMetricData, ListMetrics.

Over the region's MetricStore (monitoring/metrics.py). PutMetricData writes through at once, so a
read that follows sees the data. Limits and error words are CloudWatch's: 1000 datums a call, 150
Values, 30 dimensions, values within ±1.174271e108 (nonzero ones at least 8.515920e-109 in size),
timestamps from two weeks back to two hours ahead, namespaces not starting with "AWS/", 1440
datapoints per GetMetricStatistics answer, 500 queries per GetMetricData. GetMetricData's tokens are
``o/<offset>``: the datapoints already returned, counted over the results in order.
Not done: alarms (another module), anomaly detection, Metrics Insights queries, cross-account.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from modelbay.errors import ValidationError, aws_error
from modelbay.monitoring import distribution, metric_math, statistics
from modelbay.monitoring.metrics import Aggregate, MetricKey, MetricStore, Point
from modelbay.services.base import Context, Handler, present

InvalidParameterValue = aws_error("InvalidParameterValue")
MissingParameter = aws_error("MissingParameter")
InvalidParameterCombination = aws_error("InvalidParameterCombination")
InvalidNextToken = aws_error("InvalidNextToken")

MAX_DATUMS = 1000
MAX_VALUES = 150
LARGEST = 1.174271e108
SMALLEST = 8.515920e-109
MAX_STATISTICS_DATAPOINTS = 1440
MAX_QUERIES = 500
DEFAULT_MAX_DATAPOINTS = 100_800
LIST_PAGE = 500
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 30)
_QUERY_ID = re.compile(r"[a-z][a-zA-Z0-9_]*")
_DATA_TOKEN = re.compile(r"o/(\d{1,12})")
_ARITHMETIC = {"Code": "ArithmeticError",
               "Value": "One or more data-points have been dropped due to non-numeric values (NaN, -Infinite, "
                        "+Infinite)"}


# -- PutMetricData ---------------------------------------------------------------------------------------


def put_metric_data(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Store every datum, or none if one is invalid."""
    namespace = params["Namespace"]
    if namespace.startswith("AWS/"):
        raise InvalidParameterValue(f"The value {namespace} for parameter Namespace is invalid.")
    data = params.get("MetricData") or []
    if not data:
        raise MissingParameter("The parameter MetricData is required.")
    if len(data) > MAX_DATUMS:
        raise InvalidParameterValue(f"The collection MetricData must not have a size greater than {MAX_DATUMS}.")
    store = ctx.platform.metrics
    now = store.clock()
    datums = [_datum(namespace, datum, f"MetricData.member.{n}", now) for n, datum in enumerate(data, 1)]
    for metric, aggregate, unit, timestamp, resolution in datums:
        store.record_set(metric, aggregate, unit, timestamp, resolution)
    store.flush()
    return {}


_Datum = tuple[MetricKey, Aggregate, str, float, int]


def _datum(namespace: str, datum: dict[str, Any], where: str, now: datetime) -> _Datum:
    resolution = datum.get("StorageResolution", 60)
    if resolution not in (1, 60):
        raise InvalidParameterValue(f"The value {resolution} for parameter {where}.StorageResolution is invalid.")
    timestamp = datum.get("Timestamp") or now
    if timestamp < now - timedelta(days=14):
        raise InvalidParameterValue(f"The parameter {where}.Timestamp must specify a time no more than two weeks "
                                    "in the past.")
    if timestamp > now + timedelta(hours=2):
        raise InvalidParameterValue(f"The parameter {where}.Timestamp must specify a time no more than two hours "
                                    "in the future.")
    metric = MetricKey(namespace, datum["MetricName"], _dimensions(datum.get("Dimensions") or [], where))
    return metric, _aggregate(datum, where), datum.get("Unit", "None"), timestamp.timestamp(), resolution


def _dimensions(dimensions: list[dict[str, str]], where: str) -> tuple[tuple[str, str], ...]:
    if len(dimensions) > 30:
        raise InvalidParameterValue(f"The collection {where}.Dimensions must not have a size greater than 30.")
    names = [dimension["Name"] for dimension in dimensions]
    if len(set(names)) < len(names):
        raise InvalidParameterValue(f"No metric may have duplicate dimension names: {where}.Dimensions.")
    return tuple(sorted((dimension["Name"], dimension["Value"]) for dimension in dimensions))


def _aggregate(datum: dict[str, Any], where: str) -> Aggregate:
    given = [name for name in ("Value", "StatisticValues", "Values") if name in datum]
    if len(given) > 1:
        raise InvalidParameterCombination(f"The parameters {where}.{given[0]} and {where}.{given[1]} are mutually "
                                          "exclusive and you have specified both.")
    if not given:
        raise MissingParameter(f"The parameter {where}.Value, {where}.StatisticValues or {where}.Values is "
                               "required.")
    if "Value" in datum:
        return _from_values([_value(datum["Value"], f"{where}.Value")], [1.0])
    if "Values" in datum:
        return _from_values(*_values_and_counts(datum, where))
    return _from_statistics(datum["StatisticValues"], f"{where}.StatisticValues")


def _value(value: float, where: str) -> float:
    if not math.isfinite(value) or abs(value) > LARGEST or (value != 0 and abs(value) < SMALLEST):
        raise InvalidParameterValue(f"The value {value} for parameter {where} is invalid.")
    return float(value)


def _values_and_counts(datum: dict[str, Any], where: str) -> tuple[list[float], list[float]]:
    values, counts = datum["Values"], datum.get("Counts")
    if not values:
        raise MissingParameter(f"The parameter {where}.Values must not be empty.")
    if len(values) > MAX_VALUES:
        raise InvalidParameterValue(f"The collection {where}.Values must not have a size greater than {MAX_VALUES}.")
    if counts is not None and len(counts) != len(values):
        raise InvalidParameterValue(f"The parameters {where}.Values and {where}.Counts must be of the same size.")
    checked = [_value(value, f"{where}.Values.member.{n}") for n, value in enumerate(values, 1)]
    weights = [float(count) for count in counts] if counts is not None else [1.0] * len(values)
    if any(not math.isfinite(count) or count < 0 for count in weights):
        raise InvalidParameterValue(f"The parameter {where}.Counts must hold non-negative numbers.")
    return checked, weights


def _from_values(values: list[float], counts: list[float]) -> Aggregate:
    histogram: distribution.Histogram = {}
    for value, count in zip(values, counts, strict=True):
        distribution.add(histogram, value, count)
    total = math.fsum(value * count for value, count in zip(values, counts, strict=True))
    return Aggregate(sum(counts), total, min(values), max(values), histogram)


def _from_statistics(given: dict[str, float], where: str) -> Aggregate:
    count, total = given["SampleCount"], _value(given["Sum"], f"{where}.Sum")
    low, high = _value(given["Minimum"], f"{where}.Minimum"), _value(given["Maximum"], f"{where}.Maximum")
    if not math.isfinite(count) or count <= 0:
        raise InvalidParameterValue(f"The parameter {where}.SampleCount must be greater than 0.")
    if low > high:
        raise InvalidParameterValue(f"The parameter {where}.Minimum must not be greater than {where}.Maximum.")
    # CloudWatch keeps percentiles of a statistic set only when its values are known: one value, or all equal.
    histogram = {distribution.bucket_of(low): count} if count == 1 or low == high else None
    return Aggregate(count, total, low, high, histogram)


# -- GetMetricStatistics ---------------------------------------------------------------------------------


def get_metric_statistics(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The requested statistics per period over [StartTime, EndTime), oldest first."""
    plain, extended = params.get("Statistics") or [], params.get("ExtendedStatistics") or []
    if not plain and not extended:
        raise MissingParameter("Must specify either Statistics or ExtendedStatistics.")
    for name in extended:
        if not statistics.is_extended(name):
            raise InvalidParameterValue(f"The value {name} for parameter ExtendedStatistics is not supported.")
    start, end, period = params["StartTime"], params["EndTime"], _period(params["Period"], "Period")
    _check_range(start, end)
    wanted = math.ceil((end - start).total_seconds() / period)
    if wanted > MAX_STATISTICS_DATAPOINTS:
        raise InvalidParameterCombination(
            f"You have requested up to {wanted:,} datapoints, which exceeds the limit of "
            f"{MAX_STATISTICS_DATAPOINTS:,}. You may reduce the datapoints requested by increasing Period, or "
            "decreasing the time range.")
    metric = MetricKey(params["Namespace"], params["MetricName"],
                       _dimensions(params.get("Dimensions") or [], "Dimensions"))
    series = ctx.platform.metrics.series(metric, start, end, period, params.get("Unit"))
    return {"Label": metric.name, "Datapoints": [_datapoint(point, plain, extended) for point in series.points]}


def _datapoint(point: Point, plain: list[str], extended: list[str]) -> dict[str, Any]:
    found = {name: statistics.value_of(point.aggregate, name) for name in extended}
    wire = {name: statistics.value_of(point.aggregate, name) for name in plain}
    return present(Timestamp=_moment(point.timestamp), Unit=point.unit, **wire,
                   ExtendedStatistics={name: value for name, value in found.items() if value is not None} or None)


def _period(period: int, where: str) -> int:
    if period not in HIGH_RESOLUTION_PERIODS and period % 60 != 0:
        raise InvalidParameterValue(f"The parameter {where} must be 1, 5, 10, 30, or a multiple of 60.")
    return period


def _check_range(start: datetime, end: datetime) -> None:
    if start >= end:
        raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")


def _moment(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


# -- ListMetrics -----------------------------------------------------------------------------------------


def list_metrics(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Metrics by namespace, name and dimensions, 500 a page; RecentlyActive=PT3H keeps those published to
    in the last three hours (else the last two weeks, as CloudWatch lists)."""
    filters = [(f["Name"], f.get("Value")) for f in params.get("Dimensions") or []]
    recent = timedelta(hours=3) if params.get("RecentlyActive") == "PT3H" else None
    found = ctx.platform.metrics.metrics(params.get("Namespace"), params.get("MetricName"), filters, recent)
    offset = _offset(params.get("NextToken"), InvalidParameterValue, "NextToken")
    page = found[offset:offset + LIST_PAGE]
    token = f"o/{offset + LIST_PAGE}" if offset + LIST_PAGE < len(found) else None
    return present(Metrics=[_metric_wire(metric.key) for metric in page], NextToken=token)


def _metric_wire(metric: MetricKey) -> dict[str, Any]:
    return {"Namespace": metric.namespace, "MetricName": metric.name,
            "Dimensions": [{"Name": name, "Value": value} for name, value in metric.dimensions]}


def _offset(token: str | None, error: type[Exception], member: str) -> int:
    if token is None:
        return 0
    match = _DATA_TOKEN.fullmatch(token)
    if match is None:
        raise error(f"The value {token} for parameter {member} is invalid.")
    return int(match[1])


# -- GetMetricData ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Result:
    id: str
    label: str
    series: metric_math.Series
    messages: tuple[dict[str, str], ...] = ()


def get_metric_data(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Each query's series over [StartTime, EndTime): metrics first, then expressions in the order their
    references need; the results of queries with ReturnData, newest first unless ScanBy says otherwise."""
    queries = params["MetricDataQueries"]
    _check_queries(queries)
    start, end = params["StartTime"], params["EndTime"]
    _check_range(start, end)
    results = _evaluate(ctx.platform.metrics, queries, start, end)
    returned = [results[q["Id"]] for q in queries if q.get("ReturnData", True)]
    descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
    offset = _offset(params.get("NextToken"), InvalidNextToken, "NextToken")
    return _page(returned, descending, offset, params.get("MaxDatapoints", DEFAULT_MAX_DATAPOINTS))


def _check_queries(queries: list[dict[str, Any]]) -> None:
    if len(queries) > MAX_QUERIES:
        raise ValidationError(f"The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}.")
    seen: set[str] = set()
    for n, query in enumerate(queries, 1):
        where = f"MetricDataQueries.member.{n}"
        if not _QUERY_ID.fullmatch(query["Id"]):
            raise ValidationError(f"The value {query['Id']} for parameter {where}.Id is invalid: it must start with "
                                  "a lowercase letter and hold only letters, numbers and underscores.")
        if query["Id"] in seen:
            raise ValidationError(f"The value {query['Id']} for parameter {where}.Id is not unique.")
        seen.add(query["Id"])
        if ("MetricStat" in query) == ("Expression" in query):
            raise ValidationError(f"Exactly one of {where}.MetricStat and {where}.Expression must be specified.")
        if "MetricStat" in query:
            _period(query["MetricStat"]["Period"], f"{where}.MetricStat.Period")
            if not statistics.is_statistic(query["MetricStat"]["Stat"]):
                raise ValidationError(f"The value {query['MetricStat']['Stat']} for parameter "
                                      f"{where}.MetricStat.Stat is invalid.")
        elif "Period" in query:
            _period(query["Period"], f"{where}.Period")
    if not any(query.get("ReturnData", True) for query in queries):
        raise ValidationError("At least one of the MetricDataQueries must have ReturnData set to true.")


def _evaluate(store: MetricStore, queries: list[dict[str, Any]], start: datetime,
              end: datetime) -> dict[str, _Result]:
    metric_queries = [q for q in queries if "MetricStat" in q]
    results = {q["Id"]: _metric_result(store, q, start, end) for q in metric_queries}
    default_period = min((q["MetricStat"]["Period"] for q in metric_queries), default=60)
    trees = {q["Id"]: _parse(q) for q in queries if "Expression" in q}
    for query in _in_dependency_order([q for q in queries if "Expression" in q], trees, results):
        period = query.get("Period", default_period)
        inputs = metric_math.Inputs({i: r.series for i, r in results.items()}, [q["Id"] for q in metric_queries],
                                    _timestamps(start, end, period))
        results[query["Id"]] = _expression_result(query, trees[query["Id"]], inputs)
    return results


def _metric_result(store: MetricStore, query: dict[str, Any], start: datetime, end: datetime) -> _Result:
    stat = query["MetricStat"]
    metric = stat["Metric"]
    key = MetricKey(metric["Namespace"], metric["MetricName"], _dimensions(metric.get("Dimensions") or [],
                                                                         "MetricStat.Metric.Dimensions"))
    found = store.series(key, start, end, stat["Period"], stat.get("Unit"))
    values = {p.timestamp: statistics.value_of(p.aggregate, stat["Stat"]) for p in found.points}
    series = {t: v for t, v in values.items() if v is not None}
    return _Result(query["Id"], query.get("Label", key.name), series)


def _parse(query: dict[str, Any]) -> metric_math.Expression:
    try:
        return metric_math.parse(query["Expression"])
    except metric_math.MathError as error:
        raise ValidationError(f"Error in expression '{query['Id']}': {error}") from None


def _in_dependency_order(expressions: list[dict[str, Any]], trees: dict[str, metric_math.Expression],
                         known: dict[str, _Result]) -> list[dict[str, Any]]:
    """The expression queries, each after those it names; a name of nothing or a cycle is the user's error."""
    by_id = {q["Id"]: q for q in expressions}
    for query_id, tree in trees.items():
        unknown = sorted(metric_math.references(tree) - set(by_id) - set(known))
        if unknown:
            raise ValidationError(f"Error in expression '{query_id}': Unrecognized identifier: {unknown[0]}.")
    ordered: list[dict[str, Any]] = []
    state: dict[str, str] = {}

    def visit(query_id: str) -> None:
        if state.get(query_id) == "done":
            return
        if state.get(query_id) == "visiting":
            raise ValidationError(f"Error in expression '{query_id}': Circular dependency between expressions.")
        state[query_id] = "visiting"
        for name in sorted(metric_math.references(trees[query_id]) & set(by_id)):
            visit(name)
        state[query_id] = "done"
        ordered.append(by_id[query_id])

    for query in expressions:
        visit(query["Id"])
    return ordered


def _expression_result(query: dict[str, Any], tree: metric_math.Expression, inputs: metric_math.Inputs) -> _Result:
    try:
        series = metric_math.as_series(metric_math.evaluate(tree, inputs), inputs.timestamps)
    except metric_math.MathError as error:
        raise ValidationError(f"Error in expression '{query['Id']}': {error}") from None
    finite = {t: v for t, v in series.items() if math.isfinite(v)}
    messages = (_ARITHMETIC,) if len(finite) < len(series) else ()
    return _Result(query["Id"], query.get("Label", query["Id"]), finite, messages)


def _timestamps(start: datetime, end: datetime, period: int) -> list[int]:
    first = int(start.timestamp()) // period * period
    return list(range(first, int(end.timestamp()), period))


def _page(results: Sequence[_Result], descending: bool, offset: int, limit: int) -> dict[str, Any]:
    """The results' datapoints after the first `offset` (counted over the results in order), at most `limit`."""
    wire, position, remaining = [], 0, False
    for result in results:
        stamps = sorted(result.series, reverse=descending)
        taken = stamps[max(0, offset - position):max(0, offset + limit - position)]
        position += len(stamps)
        partial = position > offset + limit
        remaining = remaining or partial
        wire.append(present(Id=result.id, Label=result.label, Timestamps=[_moment(t) for t in taken],
                            Values=[result.series[t] for t in taken],
                            StatusCode="PartialData" if partial else "Complete",
                            Messages=list(result.messages) or None))
    return present(MetricDataResults=wire, NextToken=f"o/{offset + limit}" if remaining else None, Messages=[])


OPERATIONS: dict[str, Handler] = {
    "PutMetricData": put_metric_data,
    "GetMetricStatistics": get_metric_statistics,
    "GetMetricData": get_metric_data,
    "ListMetrics": list_metrics,
}
