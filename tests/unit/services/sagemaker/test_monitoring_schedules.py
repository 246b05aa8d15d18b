"""The monitoring-schedule operations as service functions over a real SQLite metadata store: what the SDK's
clean-up helpers call before DeleteEndpoint, answered from the family's store."""

from __future__ import annotations

from typing import Any

import pytest

from modelbay.errors import ResourceNotFound, ValidationError
from modelbay.services.base import Context
from modelbay.statuses import MonitoringScheduleStatus
from tests.unit.services.sagemaker.test_hosting import PREFIX, _call, _error
from tests.unit.store.metadata.test_monitoring_schedules import request


def create(ctx: Context, name: str, endpoint: str) -> None:
    ctx.metadata.monitoring_schedules.create(name, f"{PREFIX}:monitoring-schedule/{name}", request(endpoint=endpoint))


def test_list_answers_no_schedules_when_there_are_none(ctx: Context) -> None:
    assert _call(ctx, "ListMonitoringSchedules", EndpointName="ep") == {"MonitoringScheduleSummaries": []}


def test_list_gives_the_endpoints_schedules_a_page_at_a_time(ctx: Context) -> None:
    for name, endpoint in (("a", "ep"), ("b", "other"), ("c", "ep"), ("d", "ep")):
        create(ctx, name, endpoint)
    first = _call(ctx, "ListMonitoringSchedules", EndpointName="ep", SortBy="Name", SortOrder="Ascending",
                  MaxResults=2)
    assert [s["MonitoringScheduleName"] for s in first["MonitoringScheduleSummaries"]] == ["a", "c"]
    [summary, _] = first["MonitoringScheduleSummaries"]
    assert summary | {"CreationTime": None, "LastModifiedTime": None} == {
        "MonitoringScheduleName": "a", "MonitoringScheduleArn": f"{PREFIX}:monitoring-schedule/a",
        "MonitoringScheduleStatus": "Pending", "EndpointName": "ep", "MonitoringType": "DataQuality",
        "CreationTime": None, "LastModifiedTime": None}
    rest = _call(ctx, "ListMonitoringSchedules", EndpointName="ep", SortBy="Name", SortOrder="Ascending",
                 NextToken=first["NextToken"])
    assert [s["MonitoringScheduleName"] for s in rest["MonitoringScheduleSummaries"]] == ["d"]
    assert "NextToken" not in rest
    typed = _call(ctx, "ListMonitoringSchedules", MonitoringTypeEquals="ModelBias")
    assert typed["MonitoringScheduleSummaries"] == []


def test_describe_echoes_the_config(ctx: Context) -> None:
    create(ctx, "s", "ep")
    described = _call(ctx, "DescribeMonitoringSchedule", MonitoringScheduleName="s")
    assert described["MonitoringScheduleConfig"] == request(endpoint="ep")["MonitoringScheduleConfig"]
    assert (described["MonitoringScheduleStatus"], described["EndpointName"]) == ("Pending", "ep")


@pytest.mark.parametrize("operation", ["DescribeMonitoringSchedule", "DeleteMonitoringSchedule"])
def test_an_absent_schedule_is_resource_not_found_naming_its_arn(ctx: Context, operation: str) -> None:
    error = _error(ctx, operation, MonitoringScheduleName="Absent")
    assert isinstance(error, ResourceNotFound)
    assert str(error) == f"Monitoring schedule {PREFIX}:monitoring-schedule/absent does not exist."


def test_delete_removes_a_scheduled_schedule_but_refuses_a_pending_one(ctx: Context) -> None:
    create(ctx, "s", "ep")
    refused: Any = _error(ctx, "DeleteMonitoringSchedule", MonitoringScheduleName="s")
    assert isinstance(refused, ValidationError) and str(refused) == "Monitoring schedule in status Pending"
    ctx.metadata.monitoring_schedules.advance("s", MonitoringScheduleStatus.SCHEDULED)
    assert _call(ctx, "DeleteMonitoringSchedule", MonitoringScheduleName="s") == {}
    assert _call(ctx, "ListMonitoringSchedules")["MonitoringScheduleSummaries"] == []
