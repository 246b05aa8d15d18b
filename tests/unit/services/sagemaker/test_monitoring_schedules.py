"""The monitoring-schedule operations as service functions over a real SQLite metadata store: what the SDK's
clean-up helpers call before DeleteEndpoint, answered from the family's store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from modelbay.errors import ResourceInUse, ResourceNotFound, ValidationError
from modelbay.services.base import Context
from modelbay.statuses import MonitoringExecutionStatus, MonitoringScheduleStatus
from tests.helpers import T0
from tests.unit.services.sagemaker.test_data_quality_job_definitions import create_definition
from tests.unit.services.sagemaker.test_data_quality_job_definitions import endpoint as capturing_endpoint
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


def config(expression: str = "cron(0 * ? * * *)", **schedule: Any) -> dict[str, Any]:
    """A MonitoringScheduleConfig naming job definition "def", as the SDK's DefaultModelMonitor sends it."""
    return {"MonitoringJobDefinitionName": "def", "MonitoringType": "DataQuality",
            "ScheduleConfig": {"ScheduleExpression": expression} | schedule}


@pytest.fixture
def monitored(ctx: Context) -> Context:
    """A context with endpoint "ep" capturing data and job definition "def" monitoring it."""
    capturing_endpoint(ctx)
    create_definition(ctx)
    return ctx


def test_create_records_a_pending_schedule_on_the_definitions_endpoint(monitored: Context) -> None:
    created = _call(monitored, "CreateMonitoringSchedule", MonitoringScheduleName="s",
                    MonitoringScheduleConfig=config(), Tags=[{"Key": "team", "Value": "ml"}])
    assert created == {"MonitoringScheduleArn": f"{PREFIX}:monitoring-schedule/s"}
    described = _call(monitored, "DescribeMonitoringSchedule", MonitoringScheduleName="s")
    assert (described["MonitoringScheduleStatus"], described["EndpointName"],
            described["MonitoringScheduleConfig"]) == ("Pending", "ep", config())
    assert "LastMonitoringExecutionSummary" not in described
    taken = _error(monitored, "CreateMonitoringSchedule", MonitoringScheduleName="s", MonitoringScheduleConfig=config())
    assert isinstance(taken, ResourceInUse)


def test_an_inline_job_definition_is_accepted(monitored: Context) -> None:
    inline = request(endpoint="ep")["MonitoringScheduleConfig"]
    _call(monitored, "CreateMonitoringSchedule", MonitoringScheduleName="s", MonitoringScheduleConfig=inline)
    assert _call(monitored, "DescribeMonitoringSchedule", MonitoringScheduleName="s")["EndpointName"] == "ep"


@pytest.mark.parametrize(("changes", "words"), [
    ({"MonitoringType": "ModelQuality"}, "MonitoringType ModelQuality is not available in modelbay yet"),
    ({"MonitoringJobDefinitionName": "absent"}, "Job definition"),
    ({"ScheduleConfig": {"ScheduleExpression": "cron(30 * ? * * *)"}}, "runs on the hour, at most hourly"),
    ({"ScheduleConfig": {"ScheduleExpression": "rate(1 hour)"}}, "runs on the hour, at most hourly"),
    ({"ScheduleConfig": {"ScheduleExpression": "NOW"}}, "DataAnalysisStartTime and DataAnalysisEndTime are required"),
    ({"ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT0H",
                         "DataAnalysisEndTime": "-PT1H"}}, "must come before DataAnalysisEndTime"),
    ({"ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "an hour ago",
                         "DataAnalysisEndTime": "-PT0H"}}, "Invalid ISO 8601 duration an hour ago"),
])
def test_what_cannot_run_is_refused_in_words(monitored: Context, changes: dict[str, Any], words: str) -> None:
    error = _error(monitored, "CreateMonitoringSchedule", MonitoringScheduleName="s",
                   MonitoringScheduleConfig=config() | changes)
    assert words in str(error)


def test_an_endpoint_that_is_absent_or_captures_nothing_is_refused(ctx: Context) -> None:
    capturing_endpoint(ctx, "plain", capture=None)
    create_definition(ctx, "def", endpoint_name="plain")
    create_definition(ctx, "gone", endpoint_name="absent")
    plain = _error(ctx, "CreateMonitoringSchedule", MonitoringScheduleName="s", MonitoringScheduleConfig=config())
    assert isinstance(plain, ValidationError) and "Endpoint plain does not capture data" in str(plain)
    absent = _error(ctx, "CreateMonitoringSchedule", MonitoringScheduleName="s",
                    MonitoringScheduleConfig=config() | {"MonitoringJobDefinitionName": "gone"})
    assert str(absent) == f'Could not find endpoint "{PREFIX}:endpoint/absent".'


def test_update_stop_and_start(monitored: Context) -> None:
    _call(monitored, "CreateMonitoringSchedule", MonitoringScheduleName="s", MonitoringScheduleConfig=config())
    refused = _error(monitored, "StopMonitoringSchedule", MonitoringScheduleName="s")
    assert str(refused) == "Monitoring schedule in status Pending"
    monitored.metadata.monitoring_schedules.advance("s", MonitoringScheduleStatus.SCHEDULED)
    for operation, status in (("StopMonitoringSchedule", "Stopped"), ("StopMonitoringSchedule", "Stopped"),
                              ("StartMonitoringSchedule", "Scheduled"), ("StartMonitoringSchedule", "Scheduled")):
        assert _call(monitored, operation, MonitoringScheduleName="s") == {}
        assert _call(monitored, "DescribeMonitoringSchedule", MonitoringScheduleName="s")[
            "MonitoringScheduleStatus"] == status
    daily = config("cron(0 12 ? * * *)")
    assert _call(monitored, "UpdateMonitoringSchedule", MonitoringScheduleName="s", MonitoringScheduleConfig=daily)
    described = _call(monitored, "DescribeMonitoringSchedule", MonitoringScheduleName="s")
    assert (described["MonitoringScheduleStatus"], described["MonitoringScheduleConfig"]) == ("Pending", daily)
    missing = _error(monitored, "StartMonitoringSchedule", MonitoringScheduleName="absent")
    assert isinstance(missing, ResourceNotFound)


def test_executions_are_listed_and_the_last_described_and_deleting_stops_the_running_job(monitored: Context) -> None:
    _call(monitored, "CreateMonitoringSchedule", MonitoringScheduleName="s", MonitoringScheduleConfig=config())
    monitored.metadata.monitoring_schedules.advance("s", MonitoringScheduleStatus.SCHEDULED)
    executions, jobs = monitored.metadata.monitoring_executions, monitored.metadata.processing_jobs
    for name, minutes in (("e1", 0), ("e2", 60)):
        arn = f"{PREFIX}:processing-job/{name}"
        executions.create(name, arn, "s", T0 + timedelta(minutes=minutes),
                          "DataQuality", "ep", "def")
        jobs.create(name, arn, {"AppSpecification": {"ImageUri": "analyzer"}, "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}}})
        executions.advance(name, MonitoringExecutionStatus.IN_PROGRESS, processing_job_arn=arn)
    executions.advance("e1", MonitoringExecutionStatus.FAILED, failure_reason="Job inputs had no data")
    listed = _call(monitored, "ListMonitoringExecutions", MonitoringScheduleName="s")["MonitoringExecutionSummaries"]
    assert [(e["ProcessingJobArn"], e["MonitoringExecutionStatus"]) for e in listed] == [
        (f"{PREFIX}:processing-job/e2", "InProgress"), (f"{PREFIX}:processing-job/e1", "Failed")]
    assert listed[1]["FailureReason"] == "Job inputs had no data"
    failed = _call(monitored, "ListMonitoringExecutions", StatusEquals="Failed", SortBy="ScheduledTime")
    assert len(failed["MonitoringExecutionSummaries"]) == 1
    last = _call(monitored, "DescribeMonitoringSchedule", MonitoringScheduleName="s")["LastMonitoringExecutionSummary"]
    assert last == listed[0]
    assert _call(monitored, "DeleteMonitoringSchedule", MonitoringScheduleName="s") == {}
    gone = _call(monitored, "ListMonitoringExecutions", MonitoringScheduleName="s")
    assert gone["MonitoringExecutionSummaries"] == []
    stopped = jobs.get("e2")
    assert stopped is not None and stopped.status == "Stopping"
