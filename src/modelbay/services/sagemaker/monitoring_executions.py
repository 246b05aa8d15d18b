"""Model Monitor's executions: ListMonitoringExecutions, and the summary DescribeMonitoringSchedule shows of the last.

The monitoring controller makes the executions (one per scheduled time of a schedule) and follows
their processing jobs; the SDK lists a schedule's executions, then reads each one's processing job
(DescribeProcessingJob) for where its results are.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from modelbay.services.base import Context, Handler, present
from modelbay.services.listing import list_filter, list_page
from modelbay.store.metadata import MonitoringExecution, MonitoringExecutionFilter


def list_monitoring_executions(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of executions, newest scheduled first unless asked otherwise, narrowed by the request's filters."""
    filters = MonitoringExecutionFilter(
        **asdict(list_filter(params)), schedule_name=params.get("MonitoringScheduleName"),
        endpoint_name=params.get("EndpointName"), job_definition_name=params.get("MonitoringJobDefinitionName"),
        monitoring_type=params.get("MonitoringTypeEquals"), scheduled_after=params.get("ScheduledTimeAfter"),
        scheduled_before=params.get("ScheduledTimeBefore"))
    # Executions are made at their scheduled times, in order: creation order is scheduled order.
    sort_by = {"ScheduledTime": "CreationTime"}.get(params.get("SortBy", "ScheduledTime"), params.get("SortBy"))
    return list_page(params | {"SortBy": sort_by}, ctx.metadata.monitoring_executions.list,
                     "MonitoringExecutionSummaries", execution_summary, filters)


def execution_summary(execution: MonitoringExecution) -> dict[str, Any]:
    """The execution as a MonitoringExecutionSummary."""
    return {"MonitoringScheduleName": execution.schedule_name, "ScheduledTime": execution.scheduled_time,
            "CreationTime": execution.creation_time, "LastModifiedTime": execution.last_modified_time,
            "MonitoringExecutionStatus": execution.status, "MonitoringType": execution.monitoring_type} | present(
        ProcessingJobArn=execution.processing_job_arn, EndpointName=execution.endpoint_name,
        FailureReason=execution.failure_reason, MonitoringJobDefinitionName=execution.job_definition_name)


OPERATIONS: dict[str, Handler] = {"ListMonitoringExecutions": list_monitoring_executions}
