"""Model Monitor's schedules: ListMonitoringSchedules, DescribeMonitoringSchedule, DeleteMonitoringSchedule.

The SDK calls these on its own: `Predictor.list_monitors()` and the clean-up helpers of its tests
list an endpoint's schedules and delete each before DeleteEndpoint. They answer from the family's
store with what exists; creating schedules (and running them) comes with the monitoring issue.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from modelbay.errors import ResourceNotFound, ValidationError
from modelbay.services.base import Context, Handler, present
from modelbay.services.listing import list_filter, list_page
from modelbay.store.metadata import (
    MonitoringSchedule,
    MonitoringScheduleFilter,
    MonitoringScheduleNotFound,
    StatusConflict,
)


def list_monitoring_schedules(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of schedules, narrowed by the request's filters (EndpointName among them: the SDK's)."""
    filters = MonitoringScheduleFilter(
        **asdict(list_filter(params)), endpoint_name=params.get("EndpointName"),
        monitoring_type=params.get("MonitoringTypeEquals"),
        job_definition_name=params.get("MonitoringJobDefinitionName"))
    return list_page(params, ctx.metadata.monitoring_schedules.list, "MonitoringScheduleSummaries", _summary,
                     filters)


def describe_monitoring_schedule(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The schedule's configuration and state; ResourceNotFound if there is none of this name."""
    name = params["MonitoringScheduleName"]
    schedule = ctx.metadata.monitoring_schedules.get(name)
    if schedule is None:
        raise _not_found(ctx, name)
    return _summary(schedule) | {"MonitoringScheduleConfig": schedule.request["MonitoringScheduleConfig"]} | present(
        FailureReason=schedule.failure_reason)


def delete_monitoring_schedule(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete the schedule and its tags; ResourceNotFound if absent, ValidationException while it is Pending."""
    name = params["MonitoringScheduleName"]
    try:
        ctx.metadata.monitoring_schedules.delete(name)
    except MonitoringScheduleNotFound as err:
        raise _not_found(ctx, name) from err
    except StatusConflict as err:
        raise ValidationError(f"Monitoring schedule in status {err.status}") from err
    return {}


def _not_found(ctx: Context, name: str) -> ResourceNotFound:
    return ResourceNotFound(f"Monitoring schedule {ctx.arn('sagemaker', f'monitoring-schedule/{name.lower()}')} "
                            "does not exist.")


def _summary(schedule: MonitoringSchedule) -> dict[str, Any]:
    return {"MonitoringScheduleName": schedule.name, "MonitoringScheduleArn": schedule.arn,
            "CreationTime": schedule.creation_time, "LastModifiedTime": schedule.last_modified_time,
            "MonitoringScheduleStatus": schedule.status, "MonitoringType": schedule.spec.monitoring_type} | present(
        EndpointName=schedule.endpoint_name, MonitoringJobDefinitionName=schedule.spec.job_definition_name)


OPERATIONS: dict[str, Handler] = {
    "ListMonitoringSchedules": list_monitoring_schedules,
    "DescribeMonitoringSchedule": describe_monitoring_schedule,
    "DeleteMonitoringSchedule": delete_monitoring_schedule,
}
