"""Metric math and CloudWatch's resolutions by age, through boto3's cloudwatch client against a real server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import client
from tests.helpers import ServerProcess


@pytest.fixture
def cloudwatch(server: ServerProcess) -> Any:
    return client(server.url, "cloudwatch")


def query(query_id: str, namespace: str, name: str, period: int = 60, **extra: Any) -> dict[str, Any]:
    metric = {"Namespace": namespace, "MetricName": name}
    return {"Id": query_id, "MetricStat": {"Metric": metric, "Period": period, "Stat": "Sum"}, **extra}


def test_metric_math_as_users_write_it(cloudwatch: Any, unique: str) -> None:
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    cloudwatch.put_metric_data(Namespace=unique, MetricData=[
        {"MetricName": "Errors", "Values": [1.0, 2.0], "Counts": [1.0, 1.0], "Timestamp": now},
        {"MetricName": "Requests", "Value": 12.0, "Timestamp": now}])
    answer = cloudwatch.get_metric_data(StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=5),
                                        MetricDataQueries=[
        query("errors", unique, "Errors", ReturnData=False), query("requests", unique, "Requests", ReturnData=False),
        {"Id": "rate", "Expression": "100 * errors / requests", "Label": "error rate"},
        {"Id": "all", "Expression": "SUM(METRICS())"},
        {"Id": "flagged", "Expression": "IF(errors > 2, 1, 0)"}])
    values = {result["Id"]: (result["Label"], result["Values"]) for result in answer["MetricDataResults"]}
    assert values == {"rate": ("error rate", [25.0]), "all": ("all", [15.0]), "flagged": ("flagged", [1.0])}


def test_one_second_data_older_than_three_hours_is_read_by_the_minute(cloudwatch: Any, unique: str) -> None:
    """As CloudWatch keeps them: 1-second points for 3 hours, then only their 1-minute roll-up."""
    then = (datetime.now(UTC) - timedelta(hours=4)).replace(second=0, microsecond=0)
    cloudwatch.put_metric_data(Namespace=unique, MetricData=[
        {"MetricName": "Hits", "Value": float(second), "StorageResolution": 1,
         "Timestamp": then + timedelta(seconds=second)} for second in range(1, 11)])

    def datapoints(period: int) -> list[dict[str, Any]]:
        return list(cloudwatch.get_metric_statistics(
            Namespace=unique, MetricName="Hits", StartTime=then, EndTime=then + timedelta(minutes=1), Period=period,
            Statistics=["Sum", "SampleCount", "Maximum"])["Datapoints"])
    assert datapoints(1) == []  # no 1-second points beyond 3 hours
    [minute] = datapoints(60)
    assert (minute["Sum"], minute["SampleCount"], minute["Maximum"]) == (55.0, 10.0, 10.0)
