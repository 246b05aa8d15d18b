"""CloudWatch's alarm operations, called as the API layer calls them (validated dicts in, dicts out)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelbay.errors import AwsError, ValidationError
from modelbay.services.base import Context
from modelbay.services.cloudwatch_alarms import (
    InvalidFormat,
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    ResourceNotFound,
    delete_alarms,
    describe_alarm_history,
    describe_alarms,
    describe_alarms_for_metric,
    disable_alarm_actions,
    enable_alarm_actions,
    put_metric_alarm,
    set_alarm_state,
)

DIMS = [{"Name": "EndpointName", "Value": "ep"}]
POLICY = "arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:1:resource/sagemaker/endpoint/ep:policyName/p"


def alarm(name: str = "high", **extra: Any) -> dict[str, Any]:
    return {"AlarmName": name, "Namespace": "AWS/SageMaker", "MetricName": "Invocations", "Dimensions": DIMS,
            "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 2, "Threshold": 10.0,
            "ComparisonOperator": "GreaterThanThreshold"} | extra


def without(params: dict[str, Any], member: str) -> dict[str, Any]:
    return {key: value for key, value in params.items() if key != member}


def described(ctx: Context, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = describe_alarms(ctx, params)["MetricAlarms"]
    return found


def test_put_then_describe(ctx: Context) -> None:
    put_metric_alarm(ctx, alarm(AlarmActions=[POLICY], Tags=[{"Key": "team", "Value": "ml"}]))
    [found] = described(ctx)
    assert found["AlarmArn"] == "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:high"
    assert (found["StateValue"], found["StateReason"]) == ("INSUFFICIENT_DATA", "Unchecked: Initial alarm creation")
    assert found["ActionsEnabled"] is True and found["AlarmActions"] == [POLICY] and found["OKActions"] == []
    assert found["Dimensions"] == DIMS and found["Threshold"] == 10.0 and "Tags" not in found
    assert ctx.metadata.tags.list(found["AlarmArn"]).items == [("team", "ml")]
    set_alarm_state(ctx, {"AlarmName": "high", "StateValue": "ALARM", "StateReason": "test"})
    put_metric_alarm(ctx, alarm(Threshold=20.0))  # an update keeps the state
    [found] = described(ctx)
    assert (found["StateValue"], found["Threshold"], found["AlarmActions"]) == ("ALARM", 20.0, [])


def test_describe_filters_and_pages(ctx: Context) -> None:
    for name in ("b-one", "a-two", "a-one"):
        put_metric_alarm(ctx, alarm(name, AlarmActions=[POLICY] if name == "b-one" else []))
    set_alarm_state(ctx, {"AlarmName": "a-two", "StateValue": "OK", "StateReason": "test"})
    assert [a["AlarmName"] for a in described(ctx)] == ["a-one", "a-two", "b-one"]
    assert [a["AlarmName"] for a in described(ctx, AlarmNamePrefix="a-")] == ["a-one", "a-two"]
    assert [a["AlarmName"] for a in described(ctx, AlarmNames=["b-one", "nope"])] == ["b-one"]
    assert [a["AlarmName"] for a in described(ctx, StateValue="OK")] == ["a-two"]
    assert [a["AlarmName"] for a in described(ctx, ActionPrefix="arn:aws:autoscaling:")] == ["b-one"]
    assert described(ctx, AlarmTypes=["CompositeAlarm"]) == []
    first = describe_alarms(ctx, {"MaxRecords": 2})
    assert [a["AlarmName"] for a in first["MetricAlarms"]] == ["a-one", "a-two"]
    assert [a["AlarmName"] for a in described(ctx, NextToken=first["NextToken"])] == ["b-one"]
    with pytest.raises(InvalidNextToken):
        describe_alarms(ctx, {"NextToken": "junk"})


def test_describe_alarms_for_metric(ctx: Context) -> None:
    put_metric_alarm(ctx, alarm("sum"))
    put_metric_alarm(ctx, without(alarm("p99", ExtendedStatistic="p99"), "Statistic"))
    put_metric_alarm(ctx, alarm("other", Dimensions=[{"Name": "EndpointName", "Value": "x"}]))
    params = {"Namespace": "AWS/SageMaker", "MetricName": "Invocations", "Dimensions": DIMS}
    names = [a["AlarmName"] for a in describe_alarms_for_metric(ctx, params)["MetricAlarms"]]
    assert names == ["p99", "sum"]
    only = describe_alarms_for_metric(ctx, params | {"ExtendedStatistic": "p99"})["MetricAlarms"]
    assert [a["AlarmName"] for a in only] == ["p99"]


def test_an_alarm_on_metric_math(ctx: Context) -> None:
    stat = {"Metric": {"Namespace": "App", "MetricName": "Errors"}, "Period": 60, "Stat": "Sum"}
    queries = [{"Id": "e", "MetricStat": stat, "ReturnData": False},
               {"Id": "doubled", "Expression": "e * 2", "ReturnData": True}]
    put_metric_alarm(ctx, {"AlarmName": "math", "Metrics": queries, "EvaluationPeriods": 1, "Threshold": 1.0,
                           "ComparisonOperator": "GreaterThanThreshold"})
    assert described(ctx)[0]["Metrics"] == queries
    bad: list[tuple[dict[str, Any], type[AwsError], str]] = [
           ({"Metrics": queries, "Namespace": "App"}, InvalidParameterCombination, "mutually exclusive"),
           ({"Metrics": [q | {"ReturnData": True} for q in queries]}, ValidationError, "Exactly one element"),
           ({"Metrics": [queries[0], queries[1] | {"Expression": "e *"}]}, ValidationError, "Error in expression"),
           ({"Metrics": [queries[0], queries[1] | {"Expression": "nope * 2"}]}, ValidationError, "Unrecognized"),
           ({"Metrics": [queries[0] | {"MetricStat": stat | {"Period": 45}}, queries[1]]}, InvalidParameterValue,
            "10, 30 or a multiple of 60")]
    base = {"AlarmName": "math", "EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold"}
    for extra, error, message in bad:
        with pytest.raises(error, match=message):
            put_metric_alarm(ctx, base | extra)


@pytest.mark.parametrize(("params", "error", "message"), [
    (alarm(Period=45), InvalidParameterValue, "must be 10, 30 or a multiple of 60"),
    (without(alarm(), "Statistic"), InvalidParameterCombination, "Exactly one of"),
    (alarm(ExtendedStatistic="p99"), InvalidParameterCombination, "Exactly one of"),
    (without(alarm(), "Statistic") | {"ExtendedStatistic": "p1000"}, InvalidParameterValue,
     "p1000"),
    (without(alarm(), "Threshold"), MissingParameter, "Threshold is required"),
    (without(alarm(), "Period"), MissingParameter, "Period is required"),
    (alarm(DatapointsToAlarm=3), ValidationError, "DatapointsToAlarm must be less than or equal"),
    (alarm(TreatMissingData="sometimes"), ValidationError, "TreatMissingData is invalid"),
    (alarm(Period=3600, EvaluationPeriods=200), ValidationError, "must not exceed 604800 seconds"),
    (alarm(ComparisonOperator="LessThanLowerThreshold"), ValidationError, "anomaly detection"),
    (alarm(ThresholdMetricId="ad1"), ValidationError, "ThresholdMetricId is not supported"),
    (alarm(AlarmActions=["not-an-arn"]), ValidationError, "Invalid arn syntax: not-an-arn"),
    (alarm(Dimensions=DIMS * 2), InvalidParameterValue, "duplicate dimension names"),
])
def test_put_metric_alarm_refuses(ctx: Context, params: dict[str, Any], error: type[AwsError], message: str) -> None:
    with pytest.raises(error, match=message):
        put_metric_alarm(ctx, params)
    assert described(ctx) == []


def test_history_set_state_and_delete(ctx: Context) -> None:
    put_metric_alarm(ctx, alarm())
    set_alarm_state(ctx, {"AlarmName": "high", "StateValue": "ALARM", "StateReason": "testing",
                          "StateReasonData": '{"why": 1}'})
    delete_alarms(ctx, {"AlarmNames": ["high"]})
    assert described(ctx) == []
    items = describe_alarm_history(ctx, {"AlarmName": "high"})["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in items] == ['Alarm "high" deleted', "Alarm updated from INSUFFICIENT_DATA "
                                                    "to ALARM", 'Alarm "high" created']
    state = json.loads(items[1]["HistoryData"])
    assert state["newState"] == {"stateValue": "ALARM", "stateReason": "testing", "stateReasonData": {"why": 1}}
    assert json.loads(items[2]["HistoryData"])["createdAlarm"]["metricName"] == "Invocations"
    ascending = describe_alarm_history(ctx, {"ScanBy": "TimestampAscending", "MaxRecords": 1})
    assert ascending["AlarmHistoryItems"][0]["HistorySummary"] == 'Alarm "high" created'
    rest = describe_alarm_history(ctx, {"ScanBy": "TimestampAscending", "NextToken": ascending["NextToken"]})
    assert len(rest["AlarmHistoryItems"]) == 2
    updates = describe_alarm_history(ctx, {"HistoryItemType": "StateUpdate"})["AlarmHistoryItems"]
    assert [i["HistoryItemType"] for i in updates] == ["StateUpdate"]
    late = items[0]["Timestamp"]
    assert len(describe_alarm_history(ctx, {"StartDate": late})["AlarmHistoryItems"]) == 1
    with pytest.raises(InvalidParameterValue):
        describe_alarm_history(ctx, {"StartDate": late, "EndDate": items[2]["Timestamp"]})


def test_unknown_alarms_and_bad_reason_data(ctx: Context) -> None:
    with pytest.raises(ResourceNotFound, match="Alarm nope not found") as raised:
        set_alarm_state(ctx, {"AlarmName": "nope", "StateValue": "OK", "StateReason": "x"})
    assert raised.value.status == 404
    put_metric_alarm(ctx, alarm())
    with pytest.raises(ResourceNotFound):
        delete_alarms(ctx, {"AlarmNames": ["high", "nope"]})
    assert len(described(ctx)) == 1  # none deleted
    with pytest.raises(InvalidFormat, match="StateReasonData"):
        set_alarm_state(ctx, {"AlarmName": "high", "StateValue": "OK", "StateReason": "x", "StateReasonData": "{"})


def test_enable_and_disable_actions(ctx: Context) -> None:
    put_metric_alarm(ctx, alarm())
    disable_alarm_actions(ctx, {"AlarmNames": ["high", "unknown"]})
    assert described(ctx)[0]["ActionsEnabled"] is False
    enable_alarm_actions(ctx, {"AlarmNames": ["high"]})
    assert described(ctx)[0]["ActionsEnabled"] is True
