"""Batch transform jobs: the request each was created with and where it stands, for services and controllers.

CreateTransformJob and StopTransformJob record what is wanted; the transform controller moves
jobs through their statuses with `advance`. The table lives here: nothing else refers to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.paging import Page
from modelbay.store.metadata.records import (
    NO_FILTER,
    Clock,
    ListFilter,
    RecordNotFound,
    SortKey,
    StatusConflict,
    check_unique,
    get_row,
    list_rows,
    row_to_change,
    utc_now,
)
from modelbay.store.metadata.tables import StatusRow, UtcDateTime

IN_PROGRESS, STOPPING = "InProgress", "Stopping"
ENDED_STATUSES = frozenset({"Completed", "Failed", "Stopped"})


class TransformJobRow(StatusRow):
    """One transform job (see TransformJob for each column)."""

    __tablename__ = "transform_jobs"

    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    transform_start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    transform_end_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stop_requested: Mapped[bool] = mapped_column(Boolean)


class TransformJobNotFound(RecordNotFound):
    """No transform job has this name."""


@dataclass(frozen=True)
class TransformJob:
    """A transform job as stored.

    `request` is the CreateTransformJob request as the service stored it (JSON values only,
    defaults filled in); `stop_requested` tells the controller that StopTransformJob was called.
    """

    name: str
    arn: str
    request: dict[str, Any]
    status: str
    failure_reason: str | None
    creation_time: datetime
    last_modified_time: datetime
    transform_start_time: datetime | None
    transform_end_time: datetime | None
    stop_requested: bool


class TransformJobRepository:
    """Transform jobs by name. Every method that writes is one transaction; times come from `clock`."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    def create(self, name: str, arn: str, request: dict[str, Any]) -> TransformJob:
        """Store a new job, InProgress since now. Raises RecordExists, writing nothing, if one has this name or ARN."""
        now = self._clock()
        with self._db.write(lock="transform-jobs create") as session:
            check_unique(session, TransformJobRow, name, arn)
            row = TransformJobRow(name=name, arn=arn, request=request, status=IN_PROGRESS, creation_time=now,
                                  last_modified_time=now, stop_requested=False)
            session.add(row)
            return _job(row)

    def get(self, name: str) -> TransformJob | None:
        """The job with this name, or None."""
        return get_row(self._db, TransformJobRow, name, _job)

    def names_active(self) -> list[str]:
        """The names of the jobs that have not ended (InProgress or Stopping), oldest first: the controller's work."""
        query = (select(TransformJobRow.name).where(TransformJobRow.status.not_in(ENDED_STATUSES))
                 .order_by(TransformJobRow.id))
        with self._db.read() as session:
            return list(session.scalars(query))

    def list(self, filters: ListFilter = NO_FILTER, sort_by: SortKey = "CreationTime", ascending: bool = False,
             after_token: str | None = None, limit: int = 10) -> Page[TransformJob]:
        """A page of jobs in order (see records.list_rows)."""
        return list_rows(self._db, TransformJobRow, _job, filters, sort_by, ascending, after_token, limit)

    def advance(self, name: str, status: str, *, failure_reason: str | None = None) -> TransformJob:
        """Move the job to `status` now, recording `failure_reason` when given.

        Advancing to InProgress means the job's instances are transforming: the first time sets
        TransformStartTime. An ended status sets TransformEndTime. A job asked to stop is not
        moved back to InProgress. Raises TransformJobNotFound, or StatusConflict if the job has ended.
        """
        with self._db.write(lock=f"transform-job {name}") as session:
            row = _row_to_change(session, name)
            now = self._clock()
            if status == IN_PROGRESS:
                row.transform_start_time = row.transform_start_time or now
                if row.stop_requested:
                    return _job(row)
            row.status, row.last_modified_time = status, now
            row.failure_reason = failure_reason if failure_reason is not None else row.failure_reason
            if status in ENDED_STATUSES:
                row.transform_end_time = now
            return _job(row)

    def request_stop(self, name: str) -> TransformJob:
        """Mark an InProgress job stop-requested and move it to Stopping.

        Raises TransformJobNotFound, or StatusConflict if the job is not InProgress.
        """
        with self._db.write(lock=f"transform-job {name}") as session:
            row = _row_to_change(session, name)
            if row.status != IN_PROGRESS:
                raise StatusConflict(name, row.status)
            row.status, row.stop_requested, row.last_modified_time = STOPPING, True, self._clock()
            return _job(row)


def _row_to_change(session: Session, name: str) -> TransformJobRow:
    return row_to_change(session, TransformJobRow, name, TransformJobNotFound, ENDED_STATUSES, StatusConflict)


def _job(row: TransformJobRow) -> TransformJob:
    return TransformJob(
        name=row.name, arn=row.arn, request=row.request, status=row.status, failure_reason=row.failure_reason,
        creation_time=row.creation_time, last_modified_time=row.last_modified_time,
        transform_start_time=row.transform_start_time, transform_end_time=row.transform_end_time,
        stop_requested=row.stop_requested)
