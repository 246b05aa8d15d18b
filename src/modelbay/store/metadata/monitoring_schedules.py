"""Model Monitor's monitoring schedules: the request each was created or last updated with and where it stands.

CreateMonitoringSchedule records a schedule Pending; the monitoring controller moves it to Scheduled
(`advance`) and runs its executions (monitoring_executions.py). Update, Stop and Start are requests
(`request_update`, `request_stop`, `request_start`), refused with StatusConflict when the status does
not allow them. The table lives here: nothing else refers to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, String
from sqlalchemy.orm import Mapped, mapped_column

from modelbay.statuses import MonitoringScheduleStatus
from modelbay.store.metadata.lifecycle import Lifecycle
from modelbay.store.metadata.records import (
    ListFilter,
    RecordNotFound,
    Repository,
    StatusConflict,
    check_unique,
    delete_tags,
    find_row,
    names_where,
)
from modelbay.store.metadata.tables import StatusRow

DEFAULT_MONITORING_TYPE = "DataQuality"  # what SageMaker records when MonitoringScheduleConfig leaves it out

# A schedule runs (Scheduled) until stopped, and may be started again; an update makes it Pending again.
# The monitoring controller works on the Pending ones (to schedule them) and the Scheduled ones (to run them).
ACTIVE = (MonitoringScheduleStatus.PENDING, MonitoringScheduleStatus.SCHEDULED)
LIFECYCLE: Lifecycle[MonitoringScheduleStatus] = Lifecycle({
    MonitoringScheduleStatus.PENDING: frozenset({MonitoringScheduleStatus.SCHEDULED, MonitoringScheduleStatus.FAILED}),
    MonitoringScheduleStatus.SCHEDULED: frozenset({MonitoringScheduleStatus.STOPPED, MonitoringScheduleStatus.PENDING}),
    MonitoringScheduleStatus.STOPPED: frozenset({MonitoringScheduleStatus.SCHEDULED, MonitoringScheduleStatus.PENDING}),
    MonitoringScheduleStatus.FAILED: frozenset({MonitoringScheduleStatus.PENDING}),
})
# SageMaker refuses DeleteMonitoringSchedule while the schedule is being created or updated.
UNDELETABLE = frozenset({MonitoringScheduleStatus.PENDING})


class MonitoringScheduleRow(StatusRow):
    """One monitoring schedule; what List filters on is kept in columns of its own."""

    __tablename__ = "monitoring_schedules"

    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    endpoint_name: Mapped[str | None] = mapped_column(String(63))
    monitoring_type: Mapped[str] = mapped_column(String(32))
    job_definition_name: Mapped[str | None] = mapped_column(String(63))


class MonitoringScheduleNotFound(RecordNotFound):
    """No monitoring schedule has this name."""


@dataclass(frozen=True)
class MonitoringScheduleFilter(ListFilter):
    """ListMonitoringSchedules' filters: ListFilter's, and the schedule's endpoint, type and job definition."""

    endpoint_name: str | None = None
    monitoring_type: str | None = None
    job_definition_name: str | None = None

    def conditions(self, row: Any) -> list[ColumnElement[bool]]:
        exact = ((self.endpoint_name, row.endpoint_name), (self.monitoring_type, row.monitoring_type),
                 (self.job_definition_name, row.job_definition_name))
        return super().conditions(row) + [column == value for value, column in exact if value is not None]


NO_FILTER = MonitoringScheduleFilter()


@dataclass(frozen=True)
class MonitoringScheduleSpec:
    """What a schedule monitors, read from its CreateMonitoringSchedule request's MonitoringScheduleConfig.

    `endpoint_name` is that of the embedded job definition's EndpointInput; a schedule naming a
    separate job definition (MonitoringJobDefinitionName) has its endpoint there, given at create.
    """

    monitoring_type: str
    job_definition_name: str | None
    schedule_expression: str | None
    endpoint_name: str | None
    data_analysis_start_time: str | None = None  # ISO 8601 offsets from each execution's scheduled time
    data_analysis_end_time: str | None = None
    inline_job: dict[str, Any] | None = None  # an inline MonitoringJobDefinition, as older SDKs send

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> MonitoringScheduleSpec:
        config = request["MonitoringScheduleConfig"]
        schedule = config.get("ScheduleConfig", {})
        inputs = config.get("MonitoringJobDefinition", {}).get("MonitoringInputs", [])
        endpoints = [given["EndpointInput"]["EndpointName"] for given in inputs if "EndpointInput" in given]
        return cls(monitoring_type=config.get("MonitoringType", DEFAULT_MONITORING_TYPE),
                   job_definition_name=config.get("MonitoringJobDefinitionName"),
                   schedule_expression=schedule.get("ScheduleExpression"),
                   endpoint_name=endpoints[0] if endpoints else None,
                   data_analysis_start_time=schedule.get("DataAnalysisStartTime"),
                   data_analysis_end_time=schedule.get("DataAnalysisEndTime"),
                   inline_job=config.get("MonitoringJobDefinition"))


@dataclass(frozen=True)
class MonitoringSchedule:
    """A monitoring schedule as stored; `request` is kept to be echoed by DescribeMonitoringSchedule."""

    name: str
    arn: str
    request: dict[str, Any]
    spec: MonitoringScheduleSpec
    endpoint_name: str | None
    status: MonitoringScheduleStatus
    failure_reason: str | None
    creation_time: datetime
    last_modified_time: datetime


class MonitoringScheduleRepository(Repository[MonitoringScheduleRow, MonitoringSchedule]):
    """Monitoring schedules by name. Every method that writes is one transaction; times come from `clock`."""

    row, lifecycle = MonitoringScheduleRow, LIFECYCLE

    def _record(self, row: MonitoringScheduleRow) -> MonitoringSchedule:
        return _schedule(row)

    def names_to_reconcile(self) -> list[str]:
        """The Pending and Scheduled schedules, oldest first."""
        return names_where(self._db, MonitoringScheduleRow, MonitoringScheduleRow.status.in_(ACTIVE))

    def create(self, name: str, arn: str, request: dict[str, Any],
               endpoint_name: str | None = None) -> MonitoringSchedule:
        """Store a new schedule, Pending since now; `endpoint_name` is for one whose job definition is separate.

        Raises RecordExists, writing nothing, if one has this name or ARN.
        """
        spec, now = MonitoringScheduleSpec.from_request(request), self._clock()
        with self._db.write(lock="monitoring-schedules create") as session:
            check_unique(session, MonitoringScheduleRow, name, arn)
            row = MonitoringScheduleRow(
                name=name, arn=arn, request=request, endpoint_name=spec.endpoint_name or endpoint_name,
                monitoring_type=spec.monitoring_type, job_definition_name=spec.job_definition_name,
                status=MonitoringScheduleStatus.PENDING, creation_time=now, last_modified_time=now)
            session.add(row)
            return _schedule(row)

    def advance(self, name: str, status: MonitoringScheduleStatus, *,
                failure_reason: str | None = None) -> MonitoringSchedule:
        """Move the schedule to `status` now, recording `failure_reason` when given (None keeps the stored one).

        Raises MonitoringScheduleNotFound, or IllegalTransition for a move LIFECYCLE does not allow.
        """
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, MonitoringScheduleRow, name, MonitoringScheduleNotFound)
            self._move(row, status)
            row.failure_reason = failure_reason if failure_reason is not None else row.failure_reason
            return _schedule(row)

    def request_update(self, name: str, request: dict[str, Any],
                       endpoint_name: str | None = None) -> MonitoringSchedule:
        """Replace the schedule's request (`endpoint_name` as at create) and make it Pending again.

        Raises MonitoringScheduleNotFound, or StatusConflict while it is Pending already.
        """
        spec = MonitoringScheduleSpec.from_request(request)
        with self._requested(name, MonitoringScheduleStatus.PENDING) as row:
            row.request, row.monitoring_type = request, spec.monitoring_type
            row.endpoint_name, row.job_definition_name = spec.endpoint_name or endpoint_name, spec.job_definition_name
            return _schedule(row)

    def request_stop(self, name: str) -> MonitoringSchedule:
        """Stop a Scheduled schedule: no execution starts until it is started again (those running go on).

        Raises MonitoringScheduleNotFound, or StatusConflict unless it is Scheduled.
        """
        with self._requested(name, MonitoringScheduleStatus.STOPPED) as row:
            return _schedule(row)

    def request_start(self, name: str) -> MonitoringSchedule:
        """Schedule a Stopped schedule again. Raises MonitoringScheduleNotFound, or StatusConflict unless Stopped."""
        with self._requested(name, MonitoringScheduleStatus.SCHEDULED) as row:
            return _schedule(row)

    @contextmanager
    def _requested(self, name: str, status: MonitoringScheduleStatus) -> Iterator[MonitoringScheduleRow]:
        """A request's transaction: the row moved to `status`, for the caller to change further.

        Raises MonitoringScheduleNotFound, or StatusConflict (writing nothing) if the status does not allow it.
        """
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, MonitoringScheduleRow, name, MonitoringScheduleNotFound)
            if not LIFECYCLE.allows(row.status, status):
                raise StatusConflict(name, row.status)
            self._move(row, status)
            yield row

    def _move(self, row: MonitoringScheduleRow, status: MonitoringScheduleStatus) -> None:
        LIFECYCLE.check(row.name, row.status, status)
        row.status, row.last_modified_time = status, self._clock()

    def delete(self, name: str) -> MonitoringSchedule:
        """Remove the schedule and its tags; answer what was removed.

        Raises MonitoringScheduleNotFound, or StatusConflict while it is Pending (being created or updated).
        """
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, MonitoringScheduleRow, name, MonitoringScheduleNotFound)
            if row.status in UNDELETABLE:
                raise StatusConflict(name, row.status)
            delete_tags(session, row.arn)
            session.delete(row)
            return _schedule(row)


def _schedule(row: MonitoringScheduleRow) -> MonitoringSchedule:
    return MonitoringSchedule(
        name=row.name, arn=row.arn, request=row.request, spec=MonitoringScheduleSpec.from_request(row.request),
        endpoint_name=row.endpoint_name, status=MonitoringScheduleStatus(row.status),
        failure_reason=row.failure_reason, creation_time=row.creation_time, last_modified_time=row.last_modified_time)
