"""Model Monitor's schedules: CreateMonitoringSchedule, DescribeMonitoringSchedule, ListMonitoringSchedules,
UpdateMonitoringSchedule, StopMonitoringSchedule, StartMonitoringSchedule, DeleteMonitoringSchedule.

A schedule runs a data quality job (one named by MonitoringJobDefinitionName, or an inline
MonitoringJobDefinition) over an endpoint's captured data: every hour or day on the hour (cron), or
once at once (NOW, over the window DataAnalysisStartTime to DataAnalysisEndTime). These functions
check and record; the monitoring controller schedules it (Pending to Scheduled) and runs its
executions. Model quality, bias and explainability monitoring are not available yet.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from modelbay import schedules
from modelbay.errors import ResourceInUse, ResourceNotFound, ValidationError
from modelbay.services.base import Context, Handler, present
from modelbay.services.listing import list_filter, list_page
from modelbay.services.sagemaker.data_quality_job_definitions import check_job, get_job_definition
from modelbay.services.sagemaker.monitoring_executions import execution_summary
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.statuses import MonitoringScheduleStatus
from modelbay.store.metadata import (
    MonitoringJobSpec,
    MonitoringSchedule,
    MonitoringScheduleFilter,
    MonitoringScheduleNotFound,
    ProcessingJobNotFound,
    RecordExists,
    StatusConflict,
)
from modelbay.store.metadata.monitoring_schedules import DEFAULT_MONITORING_TYPE

CRON_FORMS = "cron(0 * ? * * *) (hourly), cron(0 */N ? * * *) (every N hours), cron(0 H ? * * *) (daily) or NOW"


def create_monitoring_schedule(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record the schedule as Pending with its tags; ValidationException for what cannot run, ResourceInUse if the
    name is taken."""
    name: str = params["MonitoringScheduleName"]
    request = {"MonitoringScheduleConfig": params["MonitoringScheduleConfig"]}
    endpoint_name = check_config(ctx, request["MonitoringScheduleConfig"])
    arn = _arn(ctx, name)
    tags = creation_tags(params)
    try:
        ctx.metadata.monitoring_schedules.create(name, arn, request, endpoint_name)
    except RecordExists as err:
        raise ResourceInUse(f"Monitoring schedule {err.arn} already exists.") from err
    store_tags(ctx, arn, tags)
    return {"MonitoringScheduleArn": arn}


def check_config(ctx: Context, config: dict[str, Any]) -> str:
    """Refuse a MonitoringScheduleConfig modelbay cannot run, in SageMaker's words where known; answer the endpoint
    it monitors."""
    monitoring_type = config.get("MonitoringType", DEFAULT_MONITORING_TYPE)
    if monitoring_type != DEFAULT_MONITORING_TYPE:
        raise ValidationError(f"MonitoringType {monitoring_type} is not available in modelbay yet: only DataQuality "
                              "monitoring schedules can be created.")
    _check_schedule(config.get("ScheduleConfig"))
    job = _job(ctx, config)
    check_job(ctx, job)
    _check_endpoint(ctx, job.endpoint_name)
    return job.endpoint_name


def _job(ctx: Context, config: dict[str, Any]) -> MonitoringJobSpec:
    """The job the config runs: its MonitoringJobDefinitionName's, or its inline MonitoringJobDefinition."""
    named, inline = config.get("MonitoringJobDefinitionName"), config.get("MonitoringJobDefinition")
    if (named is None) == (inline is None):
        raise ValidationError("MonitoringScheduleConfig must have exactly one of MonitoringJobDefinitionName and "
                              "MonitoringJobDefinition.")
    if named is not None:
        return get_job_definition(ctx, named).spec
    assert inline is not None
    if "EndpointInput" not in inline["MonitoringInputs"][0]:
        raise ValidationError("MonitoringJobDefinition.MonitoringInputs must have an EndpointInput "
                              "(BatchTransformInput is not available in modelbay yet).")
    return MonitoringJobSpec.from_inline(inline)


def _check_schedule(schedule: dict[str, Any] | None) -> None:
    """ScheduleConfig: NOW with its analysis window, or a cron expression on the hour, at most hourly."""
    if schedule is None:
        raise ValidationError("MonitoringScheduleConfig.ScheduleConfig is required: give a ScheduleExpression.")
    expression = schedule["ScheduleExpression"]
    start, end = schedule.get("DataAnalysisStartTime"), schedule.get("DataAnalysisEndTime")
    if expression == schedules.NOW and (start is None or end is None):
        raise ValidationError("DataAnalysisStartTime and DataAnalysisEndTime are required for a one-time monitoring "
                              "schedule (ScheduleExpression NOW).")
    try:
        window = [schedules.offset(given) for given in (start, end) if given is not None]
        parsed = None if expression == schedules.NOW else schedules.parse(expression)
    except ValueError as err:
        raise ValidationError(str(err)) from err
    if len(window) == 2 and not window[0] < window[1] <= timedelta(0):
        raise ValidationError(f"DataAnalysisStartTime {start} must come before DataAnalysisEndTime {end}, and neither "
                              "after the scheduled time.")
    if parsed is not None and (parsed.cron is None or parsed.cron[0] != frozenset({0})):
        raise ValidationError(f"Invalid ScheduleExpression {expression}: a monitoring schedule runs on the hour, at "
                              f"most hourly: use {CRON_FORMS}.")


def _check_endpoint(ctx: Context, name: str) -> None:
    endpoint = ctx.metadata.endpoints.get(name)
    if endpoint is None:
        raise ValidationError(f"Could not find endpoint \"{ctx.arn('sagemaker', f'endpoint/{name.lower()}')}\".")
    capture = endpoint.spec.config.get("DataCaptureConfig")
    if capture is None or not capture.get("EnableCapture", True):
        raise ValidationError(f"Endpoint {name} does not capture data: a monitoring schedule needs its endpoint "
                              "config's DataCaptureConfig with EnableCapture.")


def update_monitoring_schedule(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Replace the schedule's config (checked as at create); it is Pending until the controller schedules it."""
    name = params["MonitoringScheduleName"]
    request = {"MonitoringScheduleConfig": params["MonitoringScheduleConfig"]}
    endpoint_name = check_config(ctx, request["MonitoringScheduleConfig"])
    return {"MonitoringScheduleArn": _requested(
        ctx, name, lambda: ctx.metadata.monitoring_schedules.request_update(name, request, endpoint_name)).arn}


def stop_monitoring_schedule(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Stop a Scheduled schedule (a Stopped one stays so); executions running go on."""
    name = params["MonitoringScheduleName"]
    _requested(ctx, name, lambda: ctx.metadata.monitoring_schedules.request_stop(name),
               MonitoringScheduleStatus.STOPPED)
    return {}


def start_monitoring_schedule(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Schedule a Stopped schedule again (a Scheduled one stays so)."""
    name = params["MonitoringScheduleName"]
    _requested(ctx, name, lambda: ctx.metadata.monitoring_schedules.request_start(name),
               MonitoringScheduleStatus.SCHEDULED)
    return {}


def _requested(ctx: Context, name: str, request: Callable[[], MonitoringSchedule],
               target: MonitoringScheduleStatus | None = None) -> MonitoringSchedule:
    """Make a request of the schedule: ResourceNotFound if there is none, ValidationException if its status does not
    allow the request (unless it is at `target` already: then it is answered as it is)."""
    try:
        return request()
    except MonitoringScheduleNotFound as err:
        raise _not_found(ctx, name) from err
    except StatusConflict as err:
        current = ctx.metadata.monitoring_schedules.get(name)
        if current is not None and current.status == target:
            return current
        raise ValidationError(f"Monitoring schedule in status {err.status}") from err


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
    latest = ctx.metadata.monitoring_executions.latest(name)
    return _state(schedule) | {"MonitoringScheduleConfig": schedule.request["MonitoringScheduleConfig"]} | present(
        FailureReason=schedule.failure_reason,
        LastMonitoringExecutionSummary=None if latest is None else execution_summary(latest))


def delete_monitoring_schedule(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete the schedule, its tags and its executions, stopping the processing jobs of those running;
    ResourceNotFound if absent, ValidationException while it is Pending."""
    name = params["MonitoringScheduleName"]
    try:
        ctx.metadata.monitoring_schedules.delete(name)
    except MonitoringScheduleNotFound as err:
        raise _not_found(ctx, name) from err
    except StatusConflict as err:
        raise ValidationError(f"Monitoring schedule in status {err.status}") from err
    for execution in ctx.metadata.monitoring_executions.delete_of(name):
        if execution.processing_job_arn is not None:
            with contextlib.suppress(ProcessingJobNotFound, StatusConflict):  # it has ended already
                ctx.metadata.processing_jobs.request_stop(execution.name)
    return {}


def _arn(ctx: Context, name: str) -> str:
    return ctx.arn("sagemaker", f"monitoring-schedule/{name.lower()}")


def _not_found(ctx: Context, name: str) -> ResourceNotFound:
    return ResourceNotFound(f"Monitoring schedule {_arn(ctx, name)} does not exist.")


def _state(schedule: MonitoringSchedule) -> dict[str, Any]:
    """What Describe and List both show of a schedule."""
    return {"MonitoringScheduleName": schedule.name, "MonitoringScheduleArn": schedule.arn,
            "CreationTime": schedule.creation_time, "LastModifiedTime": schedule.last_modified_time,
            "MonitoringScheduleStatus": schedule.status, "MonitoringType": schedule.spec.monitoring_type} | present(
        EndpointName=schedule.endpoint_name)


def _summary(schedule: MonitoringSchedule) -> dict[str, Any]:
    return _state(schedule) | present(MonitoringJobDefinitionName=schedule.spec.job_definition_name)


OPERATIONS: dict[str, Handler] = {
    "CreateMonitoringSchedule": create_monitoring_schedule,
    "UpdateMonitoringSchedule": update_monitoring_schedule,
    "StopMonitoringSchedule": stop_monitoring_schedule,
    "StartMonitoringSchedule": start_monitoring_schedule,
    "ListMonitoringSchedules": list_monitoring_schedules,
    "DescribeMonitoringSchedule": describe_monitoring_schedule,
    "DeleteMonitoringSchedule": delete_monitoring_schedule,
}
