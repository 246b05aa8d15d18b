"""Model Monitor's executions: one per scheduled time of a schedule, each running one processing job.

An execution is named as its processing job is (SageMaker gives executions no name of their own) and
its ARN is that job's, whether the job was created or not: an execution whose window held no captured
data fails without one (`processing_job_arn` None). The monitoring controller creates executions and
moves them with `advance`, following their jobs; every status change goes through `_move`, checked
against LIFECYCLE. The table lives here: nothing else refers to it.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from modelbay.statuses import MonitoringExecutionStatus
from modelbay.store.metadata.lifecycle import Lifecycle
from modelbay.store.metadata.records import ListFilter, RecordNotFound, Repository, check_unique, find_row
from modelbay.store.metadata.tables import StatusRow, UtcDateTime

_S = MonitoringExecutionStatus
LIFECYCLE: Lifecycle[MonitoringExecutionStatus] = Lifecycle({
    _S.PENDING: frozenset({_S.IN_PROGRESS, _S.FAILED, _S.STOPPING, _S.STOPPED, _S.COMPLETED,
                           _S.COMPLETED_WITH_VIOLATIONS}),
    _S.IN_PROGRESS: frozenset({_S.COMPLETED, _S.COMPLETED_WITH_VIOLATIONS, _S.FAILED, _S.STOPPING, _S.STOPPED}),
    _S.STOPPING: frozenset({_S.STOPPED}),
    _S.COMPLETED: frozenset(),
    _S.COMPLETED_WITH_VIOLATIONS: frozenset(),
    _S.FAILED: frozenset(),
    _S.STOPPED: frozenset(),
})


class MonitoringExecutionRow(StatusRow):
    """One monitoring execution (see MonitoringExecution for each column)."""

    __tablename__ = "monitoring_executions"

    schedule_name: Mapped[str] = mapped_column(String(63), index=True)
    scheduled_time: Mapped[datetime] = mapped_column(UtcDateTime)
    endpoint_name: Mapped[str | None] = mapped_column(String(63))
    job_definition_name: Mapped[str | None] = mapped_column(String(63))
    monitoring_type: Mapped[str] = mapped_column(String(32))
    processing_job_arn: Mapped[str | None] = mapped_column(String(256))


class MonitoringExecutionNotFound(RecordNotFound):
    """No monitoring execution has this name."""


@dataclass(frozen=True)
class MonitoringExecutionFilter(ListFilter):
    """ListMonitoringExecutions' filters: ListFilter's, the schedule's, its endpoint's, job definition's and type,
    and bounds (exclusive) on the scheduled time."""

    schedule_name: str | None = None
    endpoint_name: str | None = None
    job_definition_name: str | None = None
    monitoring_type: str | None = None
    scheduled_after: datetime | None = None
    scheduled_before: datetime | None = None

    def conditions(self, row: Any) -> list[ColumnElement[bool]]:
        found = super().conditions(row)
        bounds = ((self.schedule_name, row.schedule_name, operator.eq),
                  (self.endpoint_name, row.endpoint_name, operator.eq),
                  (self.job_definition_name, row.job_definition_name, operator.eq),
                  (self.monitoring_type, row.monitoring_type, operator.eq),
                  (self.scheduled_after, row.scheduled_time, operator.gt),
                  (self.scheduled_before, row.scheduled_time, operator.lt))
        return found + [compare(column, value) for value, column, compare in bounds if value is not None]


@dataclass(frozen=True)
class MonitoringExecution:
    """A monitoring execution as stored; `name` and `arn` are those of its processing job."""

    name: str
    arn: str
    schedule_name: str
    scheduled_time: datetime
    endpoint_name: str | None
    job_definition_name: str | None
    monitoring_type: str
    processing_job_arn: str | None
    status: MonitoringExecutionStatus
    failure_reason: str | None
    creation_time: datetime
    last_modified_time: datetime


class MonitoringExecutionRepository(Repository[MonitoringExecutionRow, MonitoringExecution]):
    """Monitoring executions by name. Every method that writes is one transaction; times come from `clock`."""

    row, lifecycle, not_found = MonitoringExecutionRow, LIFECYCLE, MonitoringExecutionNotFound

    def _record(self, row: MonitoringExecutionRow) -> MonitoringExecution:
        return _execution(row)

    def create(self, name: str, arn: str, schedule_name: str, scheduled_time: datetime, monitoring_type: str,
               endpoint_name: str | None, job_definition_name: str | None) -> MonitoringExecution:
        """Store a new execution, Pending since now. Raises RecordExists, writing nothing, if one has this name
        or ARN (a schedule's execution of one scheduled time is named the same every time it is made)."""
        now = self._clock()
        with self._db.write(lock="monitoring-executions create") as session:
            check_unique(session, MonitoringExecutionRow, name, arn)
            row = MonitoringExecutionRow(
                name=name, arn=arn, schedule_name=schedule_name, scheduled_time=scheduled_time,
                endpoint_name=endpoint_name, job_definition_name=job_definition_name,
                monitoring_type=monitoring_type, status=MonitoringExecutionStatus.PENDING, creation_time=now,
                last_modified_time=now)
            session.add(row)
            return _execution(row)

    def advance(self, name: str, status: MonitoringExecutionStatus, *, failure_reason: str | None = None,
                processing_job_arn: str | None = None) -> MonitoringExecution:
        """Move the execution to `status` now, recording `failure_reason` and `processing_job_arn` when given
        (None keeps the stored ones); advancing to its own status records those only.

        Raises MonitoringExecutionNotFound, or IllegalTransition for a move LIFECYCLE does not allow.
        """
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, MonitoringExecutionRow, name, MonitoringExecutionNotFound)
            if row.status != status:
                LIFECYCLE.check(name, row.status, status)
                row.status = status
            row.last_modified_time = self._clock()
            row.failure_reason = failure_reason if failure_reason is not None else row.failure_reason
            row.processing_job_arn = processing_job_arn or row.processing_job_arn
            return _execution(row)

    def of_schedule(self, schedule_name: str, *, running: bool = False) -> list[MonitoringExecution]:
        """The schedule's executions (only those that have not ended, if `running`), in creation order."""
        query = select(MonitoringExecutionRow).where(MonitoringExecutionRow.schedule_name == schedule_name)
        if running:
            query = query.where(MonitoringExecutionRow.status.not_in(LIFECYCLE.ended))
        with self._db.read() as session:
            return [_execution(row) for row in session.scalars(query.order_by(MonitoringExecutionRow.id))]

    def latest(self, schedule_name: str) -> MonitoringExecution | None:
        """The schedule's last execution made, if any."""
        query = select(MonitoringExecutionRow).where(MonitoringExecutionRow.schedule_name == schedule_name)
        with self._db.read() as session:
            row = session.scalar(query.order_by(MonitoringExecutionRow.id.desc()).limit(1))
            return None if row is None else _execution(row)

    def schedules_running(self) -> list[str]:
        """The names of the schedules with executions that have not ended (the controller follows them)."""
        query = select(MonitoringExecutionRow.schedule_name).where(
            MonitoringExecutionRow.status.not_in(LIFECYCLE.ended)).distinct()
        with self._db.read() as session:
            return sorted(session.scalars(query))

    def delete_of(self, schedule_name: str) -> list[MonitoringExecution]:
        """Remove the schedule's executions (it is being deleted); answer what was removed."""
        with self._db.write(lock=f"monitoring-executions of {schedule_name}") as session:
            rows = list(session.scalars(select(MonitoringExecutionRow).where(
                MonitoringExecutionRow.schedule_name == schedule_name)))
            session.execute(delete(MonitoringExecutionRow).where(
                MonitoringExecutionRow.schedule_name == schedule_name))
            return [_execution(row) for row in rows]


def _execution(row: MonitoringExecutionRow) -> MonitoringExecution:
    return MonitoringExecution(
        name=row.name, arn=row.arn, schedule_name=row.schedule_name, scheduled_time=row.scheduled_time,
        endpoint_name=row.endpoint_name, job_definition_name=row.job_definition_name,
        monitoring_type=row.monitoring_type, processing_job_arn=row.processing_job_arn,
        status=MonitoringExecutionStatus(row.status), failure_reason=row.failure_reason,
        creation_time=row.creation_time, last_modified_time=row.last_modified_time)
