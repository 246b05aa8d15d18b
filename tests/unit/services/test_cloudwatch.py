"""CloudWatch's metric operations, called as the API layer calls them (validated dicts in, dicts out)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelbay.errors import AwsError, ValidationError
from modelbay.services.base import Context
from modelbay.services.cloudwatch import (
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    get_metric_data,
    get_metric_statistics,
    list_metrics,
    put_metric_data,
)

NOW = datetime.now(UTC)
BASE = NOW.replace(minute=NOW.minute // 5 * 5, second=0, microsecond=0) - timedelta(minutes=30)
DIMS = [{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "v1"}]


def at(minutes: float) -> datetime:
    return BASE + timedelta(minutes=minutes)


def put(ctx: Context, name: str, points: list[tuple[float, float]], **extra: Any) -> None:
    data = [{"MetricName": name, "Dimensions": DIMS, "Timestamp": at(minute), "Value": value, **extra}
            for minute, value in points]
    put_metric_data(ctx, {"Namespace": "App", "MetricData": data})


def stats(ctx: Context, name: str = "Latency", **extra: Any) -> dict[str, Any]:
    params = {"Namespace": "App", "MetricName": name, "Dimensions": DIMS, "StartTime": at(0), "EndTime": at(10),
              "Period": 60, "Statistics": ["Sum", "SampleCount", "Average", "Minimum", "Maximum"]} | extra
    return get_metric_statistics(ctx, params)


def stat_query(query_id: str, name: str, stat: str = "Sum", **extra: Any) -> dict[str, Any]:
    metric = {"Namespace": "App", "MetricName": name, "Dimensions": DIMS}
    return {"Id": query_id, "MetricStat": {"Metric": metric, "Period": 60, "Stat": stat}, **extra}


def data(ctx: Context, queries: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    params = {"MetricDataQueries": queries, "StartTime": at(0), "EndTime": at(5), "ScanBy": "TimestampAscending"}
    return get_metric_data(ctx, params | extra)


def series(result: dict[str, Any]) -> dict[float, float]:
    return {(t - BASE).total_seconds() / 60: v for t, v in zip(result["Timestamps"], result["Values"], strict=True)}


def raises(error: type[AwsError], message: str) -> Any:
    return pytest.raises(error, match=message)


# -- PutMetricData and GetMetricStatistics ---------------------------------------------------------------


def test_statistics_per_period(ctx: Context) -> None:
    put(ctx, "Latency", [(0, 10.0), (0.5, 30.0), (1, 5.0)], Unit="Milliseconds")
    answer = stats(ctx)
    assert answer["Label"] == "Latency"
    assert answer["Datapoints"] == [
        {"Timestamp": at(0), "Unit": "Milliseconds", "Sum": 40.0, "SampleCount": 2.0, "Average": 20.0,
         "Minimum": 10.0, "Maximum": 30.0},
        {"Timestamp": at(1), "Unit": "Milliseconds", "Sum": 5.0, "SampleCount": 1.0, "Average": 5.0,
         "Minimum": 5.0, "Maximum": 5.0}]
    assert stats(ctx, Unit="Seconds")["Datapoints"] == []
    assert stats(ctx, Dimensions=DIMS[:1])["Datapoints"] == []  # dimensions match exactly


def test_values_with_counts_and_statistic_sets(ctx: Context) -> None:
    datum = {"MetricName": "Latency", "Dimensions": DIMS, "Timestamp": at(0)}
    put_metric_data(ctx, {"Namespace": "App", "MetricData": [
        datum | {"Values": [1.0, 2.0], "Counts": [3.0, 1.0]},
        datum | {"StatisticValues": {"SampleCount": 2.0, "Sum": 8.0, "Minimum": 4.0, "Maximum": 4.0}}]})
    [point] = stats(ctx, ExtendedStatistics=["p50", "p99"])["Datapoints"]
    assert (point["SampleCount"], point["Sum"], point["Minimum"], point["Maximum"]) == (6.0, 13.0, 1.0, 4.0)
    assert point["ExtendedStatistics"]["p50"] == pytest.approx(1.0, rel=0.01)
    assert point["ExtendedStatistics"]["p99"] == pytest.approx(4.0, rel=0.01)


def test_percentiles_of_many_values(ctx: Context) -> None:
    values = [float(v) for v in range(1, 101)]
    put_metric_data(ctx, {"Namespace": "App", "MetricData": [
        {"MetricName": "Latency", "Dimensions": DIMS, "Timestamp": at(0), "Values": values}]})
    [point] = stats(ctx, Statistics=[], ExtendedStatistics=["p50", "p90", "tm90"])["Datapoints"]
    assert point["ExtendedStatistics"]["p50"] == pytest.approx(50, rel=0.01)
    assert point["ExtendedStatistics"]["p90"] == pytest.approx(90, rel=0.01)
    assert point["ExtendedStatistics"]["tm90"] == pytest.approx(45.5, rel=0.01)
    assert "Sum" not in point


def test_high_resolution_data_answers_one_second_periods(ctx: Context) -> None:
    put(ctx, "Hits", [(0, 1.0), (1 / 60, 2.0)], StorageResolution=1)
    put(ctx, "Plain", [(0, 1.0), (1 / 60, 2.0)])
    hits = stats(ctx, "Hits", Period=1, EndTime=at(0.1))["Datapoints"]
    assert [(p["Timestamp"], p["Sum"]) for p in hits] == [(at(0), 1.0), (at(1 / 60), 2.0)]
    assert stats(ctx, "Plain", Period=1, EndTime=at(0.1))["Datapoints"] == []


@pytest.mark.parametrize("datum, error, message", [
    ({"Value": 1.0, "StatisticValues": {"SampleCount": 1.0, "Sum": 1.0, "Minimum": 1.0, "Maximum": 1.0}},
     InvalidParameterCombination, "MetricData.member.1.Value and MetricData.member.1.StatisticValues are mutually"),
    ({}, MissingParameter, "MetricData.member.1.Value, MetricData.member.1.StatisticValues or"),
    ({"Values": [1.0, 2.0], "Counts": [1.0]}, InvalidParameterValue, "must be of the same size"),
    ({"Values": [1.0] * 151}, InvalidParameterValue, "member.1.Values must not have a size greater than 150"),
    ({"Value": float("nan")}, InvalidParameterValue, "The value nan for parameter MetricData.member.1.Value"),
    ({"Value": 1e109}, InvalidParameterValue, "parameter MetricData.member.1.Value is invalid"),
    ({"Value": 1.0, "StorageResolution": 30}, InvalidParameterValue, "MetricData.member.1.StorageResolution"),
    ({"Value": 1.0, "Timestamp": NOW - timedelta(days=15)}, InvalidParameterValue, "two weeks in the past"),
    ({"Value": 1.0, "Timestamp": NOW + timedelta(hours=3)}, InvalidParameterValue, "two hours in the future"),
    ({"Value": 1.0, "Dimensions": [{"Name": "a", "Value": "1"}, {"Name": "a", "Value": "2"}]},
     InvalidParameterValue, "duplicate dimension names"),
    ({"StatisticValues": {"SampleCount": 2.0, "Sum": 1.0, "Minimum": 3.0, "Maximum": 1.0}},
     InvalidParameterValue, "Minimum must not be greater"),
])
def test_bad_datums_are_refused_and_nothing_is_stored(ctx: Context, datum: dict[str, Any], error: type[AwsError],
                                                      message: str) -> None:
    good = {"MetricName": "Latency", "Dimensions": DIMS, "Timestamp": at(0), "Value": 1.0}
    with raises(error, message):
        put_metric_data(ctx, {"Namespace": "App", "MetricData": [{"MetricName": "Latency"} | datum, good]})
    assert stats(ctx)["Datapoints"] == []


def test_put_refuses_aws_namespaces_and_too_many_datums(ctx: Context) -> None:
    with raises(InvalidParameterValue, "The value AWS/SageMaker for parameter Namespace is invalid"):
        put_metric_data(ctx, {"Namespace": "AWS/SageMaker", "MetricData": [{"MetricName": "x", "Value": 1.0}]})
    with raises(InvalidParameterValue, "must not have a size greater than 1000"):
        put_metric_data(ctx, {"Namespace": "App", "MetricData": [{"MetricName": "x", "Value": 1.0}] * 1001})


@pytest.mark.parametrize("extra, error, message", [
    ({"Statistics": []}, MissingParameter, "Must specify either Statistics or ExtendedStatistics"),
    ({"Period": 7}, InvalidParameterValue, "Period must be 1, 5, 10, 30, or a multiple of 60"),
    ({"EndTime": at(0)}, InvalidParameterValue, "StartTime must be less than the parameter EndTime"),
    ({"ExtendedStatistics": ["p101"]}, InvalidParameterValue, "The value p101 for parameter ExtendedStatistics"),
    ({"Period": 1, "EndTime": at(30)}, InvalidParameterCombination, "requested up to 1,800 datapoints"),
])
def test_bad_statistics_requests(ctx: Context, extra: dict[str, Any], error: type[AwsError], message: str) -> None:
    with raises(error, message):
        stats(ctx, **extra)


# -- ListMetrics -----------------------------------------------------------------------------------------


def test_list_metrics_filters(ctx: Context) -> None:
    put(ctx, "Latency", [(0, 1.0)])
    put_metric_data(ctx, {"Namespace": "Other", "MetricData": [{"MetricName": "Errors", "Value": 1.0}]})
    assert list_metrics(ctx, {}) == {"Metrics": [
        {"Namespace": "App", "MetricName": "Latency", "Dimensions": DIMS},
        {"Namespace": "Other", "MetricName": "Errors", "Dimensions": []}]}
    assert [m["MetricName"] for m in list_metrics(ctx, {"Namespace": "Other"})["Metrics"]] == ["Errors"]
    assert [m["MetricName"] for m in list_metrics(ctx, {"MetricName": "Latency"})["Metrics"]] == ["Latency"]
    by_dimension = list_metrics(ctx, {"Dimensions": [{"Name": "VariantName"}]})["Metrics"]
    assert [m["MetricName"] for m in by_dimension] == ["Latency"]
    assert list_metrics(ctx, {"Dimensions": [{"Name": "VariantName", "Value": "v2"}]}) == {"Metrics": []}
    assert len(list_metrics(ctx, {"RecentlyActive": "PT3H"})["Metrics"]) == 2


def test_list_metrics_pages_by_500(ctx: Context) -> None:
    put_metric_data(ctx, {"Namespace": "App", "MetricData": [
        {"MetricName": f"m{n:04d}", "Value": 1.0} for n in range(501)]})
    first = list_metrics(ctx, {"Namespace": "App"})
    assert len(first["Metrics"]) == 500
    second = list_metrics(ctx, {"Namespace": "App", "NextToken": first["NextToken"]})
    assert [m["MetricName"] for m in second["Metrics"]] == ["m0500"] and "NextToken" not in second
    with raises(InvalidParameterValue, "for parameter NextToken is invalid"):
        list_metrics(ctx, {"NextToken": "junk"})


# -- GetMetricData ---------------------------------------------------------------------------------------


def test_metric_stat_and_common_expressions(ctx: Context) -> None:
    put(ctx, "Invocations", [(0, 10.0), (1, 20.0), (2, 40.0), (3, 40.0)])
    put(ctx, "Errors", [(0, 1.0), (2, 10.0)])
    answer = data(ctx, [
        stat_query("m1", "Invocations", ReturnData=False), stat_query("m2", "Errors", ReturnData=False),
        {"Id": "rate", "Expression": "m2/m1*100", "Label": "Error rate"},
        {"Id": "total", "Expression": "SUM(METRICS())"},
        {"Id": "filled", "Expression": "FILL(m2, 0)"},
        {"Id": "busy", "Expression": "IF(m1 > 15, 1, 0)"},
        {"Id": "growth", "Expression": "RATE(m1)"},
    ])
    results = {r["Id"]: r for r in answer["MetricDataResults"]}
    assert list(results) == ["rate", "total", "filled", "busy", "growth"]
    assert results["rate"]["Label"] == "Error rate"
    assert series(results["rate"]) == {0: 10.0, 2: 25.0}
    assert series(results["total"]) == {0: 11.0, 1: 20.0, 2: 50.0, 3: 40.0}
    assert series(results["filled"]) == {0: 1.0, 1: 0.0, 2: 10.0, 3: 0.0, 4: 0.0}
    assert series(results["busy"]) == {0: 0.0, 1: 1.0, 2: 1.0, 3: 1.0}
    assert series(results["growth"]) == {1: 10 / 60, 2: 20 / 60, 3: 0.0}
    assert all(r["StatusCode"] == "Complete" for r in results.values())
    assert "NextToken" not in answer


def test_expressions_may_name_expressions_in_any_order(ctx: Context) -> None:
    put(ctx, "Invocations", [(0, 10.0)])
    answer = data(ctx, [{"Id": "e2", "Expression": "e1 * 2"}, {"Id": "e1", "Expression": "m1 + 1", "ReturnData": False},
                        stat_query("m1", "Invocations", "Maximum", ReturnData=False)])
    [result] = answer["MetricDataResults"]
    assert series(result) == {0: 22.0}


def test_results_newest_first_by_default_and_paged(ctx: Context) -> None:
    put(ctx, "Invocations", [(0, 1.0), (1, 2.0), (2, 3.0)])
    newest_first = data(ctx, [stat_query("m1", "Invocations")], ScanBy="TimestampDescending")
    assert newest_first["MetricDataResults"][0]["Values"] == [3.0, 2.0, 1.0]
    first = data(ctx, [stat_query("m1", "Invocations")], MaxDatapoints=2)
    assert first["MetricDataResults"][0]["Values"] == [1.0, 2.0]
    assert first["MetricDataResults"][0]["StatusCode"] == "PartialData"
    rest = data(ctx, [stat_query("m1", "Invocations")], MaxDatapoints=2, NextToken=first["NextToken"])
    assert rest["MetricDataResults"][0]["Values"] == [3.0]
    assert rest["MetricDataResults"][0]["StatusCode"] == "Complete" and "NextToken" not in rest
    with raises(InvalidNextToken, "NextToken is invalid"):
        data(ctx, [stat_query("m1", "Invocations")], NextToken="nope")


def test_division_by_zero_drops_points_with_a_message(ctx: Context) -> None:
    put(ctx, "Invocations", [(0, 1.0), (1, 0.0)])
    [result] = data(ctx, [stat_query("m1", "Invocations", ReturnData=False),
                          {"Id": "e1", "Expression": "1 / m1"}])["MetricDataResults"]
    assert series(result) == {0: 1.0}
    assert result["Messages"][0]["Code"] == "ArithmeticError"


def test_percentile_stat_in_a_query(ctx: Context) -> None:
    put_metric_data(ctx, {"Namespace": "App", "MetricData": [
        {"MetricName": "Latency", "Dimensions": DIMS, "Timestamp": at(0), "Values": [float(v) for v in range(100)]}]})
    [result] = data(ctx, [stat_query("m1", "Latency", "p90")])["MetricDataResults"]
    assert result["Values"] == [pytest.approx(89, rel=0.01)]


@pytest.mark.parametrize("queries, message", [
    ([{"Id": "M1", "Expression": "1"}], "Id is invalid"),
    ([{"Id": "e1", "Expression": "1"}, {"Id": "e1", "Expression": "2"}], "is not unique"),
    ([{"Id": "e1"}], "Exactly one of MetricDataQueries.member.1.MetricStat and"),
    ([{"Id": "e1", "Expression": "m1 +"}], "Error in expression 'e1': Unexpected end of expression"),
    ([{"Id": "e1", "Expression": "m9 * 2"}], "Error in expression 'e1': Unrecognized identifier: m9"),
    ([{"Id": "e1", "Expression": "e2"}, {"Id": "e2", "Expression": "e1"}], "Circular dependency"),
    ([{"Id": "e1", "Expression": "FILL(m1)"}, stat_query("m1", "x", ReturnData=False)], "Wrong number of arguments"),
    ([stat_query("m1", "x", "p1000")], "MetricStat.Stat is invalid"),
    ([stat_query("m1", "x", ReturnData=False)], "ReturnData set to true"),
])
def test_bad_queries(ctx: Context, queries: list[dict[str, Any]], message: str) -> None:
    with raises(ValidationError, message):
        data(ctx, queries)
