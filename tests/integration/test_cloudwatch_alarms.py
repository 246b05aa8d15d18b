"""A CloudWatch alarm through boto3 against a real server: a 10-second alarm goes to ALARM on values above its
threshold and back to OK below it, with both transitions in its history; SetAlarmState; DeleteAlarms."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.helpers import ServerProcess, wait_until


@pytest.fixture(scope="module")
def cloudwatch(server: ServerProcess) -> Any:
    return client(server.url, "cloudwatch")


def put_values(cloudwatch: Any, namespace: str, value: float) -> None:
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "Latency", "Value": value, "StorageResolution": 1, "Timestamp": datetime.now(UTC)}])


def state_of(cloudwatch: Any, name: str) -> str:
    state: str = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]
    return state


def test_a_high_resolution_alarm_goes_to_alarm_and_back_to_ok(cloudwatch: Any) -> None:
    namespace, name = f"Test/{uuid.uuid4().hex[:8]}", f"latency-{uuid.uuid4().hex[:8]}"
    cloudwatch.put_metric_alarm(AlarmName=name, Namespace=namespace, MetricName="Latency", Statistic="Average",
                                Period=10, EvaluationPeriods=1, Threshold=100.0,
                                ComparisonOperator="GreaterThanThreshold")
    put_values(cloudwatch, namespace, 500.0)
    wait_until(lambda: state_of(cloudwatch, name) == "ALARM", timeout_s=30, what="the alarm to go to ALARM")
    put_values(cloudwatch, namespace, 5.0)
    wait_until(lambda: state_of(cloudwatch, name) == "OK", timeout_s=30, what="the alarm to go back to OK")
    items = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate",
                                              ScanBy="TimestampAscending")["AlarmHistoryItems"]
    assert [item["HistorySummary"] for item in items] == ["Alarm updated from INSUFFICIENT_DATA to ALARM",
                                                          "Alarm updated from ALARM to OK"]
    alarmed = json.loads(items[0]["HistoryData"])["newState"]
    assert alarmed["stateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [500.0 (")
    assert alarmed["stateReasonData"]["recentDatapoints"] == [500.0]
    found = cloudwatch.describe_alarms_for_metric(Namespace=namespace, MetricName="Latency")["MetricAlarms"]
    assert [alarm["AlarmName"] for alarm in found] == [name]


def test_set_alarm_state_and_delete_alarms(cloudwatch: Any) -> None:
    name = f"manual-{uuid.uuid4().hex[:8]}"
    cloudwatch.put_metric_alarm(AlarmName=name, Namespace="Test/Manual", MetricName="Errors", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=1.0,
                                ComparisonOperator="GreaterThanOrEqualToThreshold",
                                AlarmActions=["arn:aws:sns:us-east-1:000000000000:alerts"])
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="testing the pager")
    history = cloudwatch.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"]
    assert json.loads(next(item["HistoryData"] for item in history if item["HistoryItemType"] == "StateUpdate"))[
        "newState"]["stateReason"] == "testing the pager"

    def action_recorded() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = cloudwatch.describe_alarm_history(
            AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
        return found

    wait_until(action_recorded, timeout_s=15, what="the SNS action to be recorded")
    [action] = action_recorded()
    assert action["HistorySummary"].endswith("not supported here")
    cloudwatch.delete_alarms(AlarmNames=[name])
    assert cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"] == []
    with pytest.raises(ClientError) as raised:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="gone")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFound"


def test_missing_data_is_treated_as_each_alarm_says(cloudwatch: Any) -> None:
    """Three 10-second alarms on a metric nobody publishes: breaching goes to ALARM, notBreaching to OK, missing
    (the default) says INSUFFICIENT_DATA because its datapoints are unknown."""
    namespace, names = f"Test/{uuid.uuid4().hex[:8]}", {}
    for treat in ("breaching", "notBreaching", "missing"):
        names[treat] = f"{treat}-{uuid.uuid4().hex[:8]}"
        cloudwatch.put_metric_alarm(AlarmName=names[treat], Namespace=namespace, MetricName="Silent",
                                    Statistic="Sum", Period=10, EvaluationPeriods=1, Threshold=1.0,
                                    ComparisonOperator="GreaterThanThreshold", TreatMissingData=treat)
    wait_until(lambda: (state_of(cloudwatch, names["breaching"]), state_of(cloudwatch, names["notBreaching"]))
               == ("ALARM", "OK"), timeout_s=40, what="missing data to be treated as breaching and not")
    [missing] = cloudwatch.describe_alarms(AlarmNames=[names["missing"]])["MetricAlarms"]
    assert missing["StateValue"] == "INSUFFICIENT_DATA"
    cloudwatch.delete_alarms(AlarmNames=list(names.values()))
