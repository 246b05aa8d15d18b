"""Training jobs: the request each was created with, and its status history, for services and controllers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.paging import Page
from modelbay.store.metadata.records import NO_FILTER, ListFilter, SortKey, get_row, list_rows, row_to_change
from modelbay.store.metadata.tables import TrainingJobRow

IN_PROGRESS, STOPPING = "InProgress", "Stopping"
ENDED_STATUSES = frozenset({"Completed", "Failed", "Stopped"})
# Entering one of these secondary statuses means the instances are up and the job's time counts.
TRAINING_PHASES = frozenset({"Downloading", "DownloadingTrainingImage", "Training"})
STOPPING_MESSAGE = "Stopping the training job"


class TrainingJobExists(Exception):
    """A training job with this name (or ARN) exists already; `arn` is the existing job's."""

    def __init__(self, arn: str) -> None:
        super().__init__(f"training job {arn} exists already")
        self.arn = arn


class TrainingJobNotFound(LookupError):
    """No training job has this name."""


class TrainingJobStatusConflict(Exception):
    """The job's status does not allow the change; `status` is the job's TrainingJobStatus."""

    def __init__(self, name: str, status: str) -> None:
        super().__init__(f"training job {name} is {status}")
        self.status = status


@dataclass(frozen=True)
class SecondaryStatusTransition:
    """One SecondaryStatus the job went through; `end_time` is None while it is the current one."""

    status: str
    start_time: datetime
    end_time: datetime | None
    message: str


@dataclass(frozen=True)
class MetricDatum:
    """A metric's final value, as FinalMetricDataList reports it."""

    name: str
    value: float
    timestamp: datetime


@dataclass(frozen=True)
class TrainingJob:
    """A training job as stored.

    `request` is the CreateTrainingJob request as the service stored it (JSON values only).
    `model_artifacts` is the S3 URI of model.tar.gz once uploaded; `stop_requested` tells the
    controller that StopTrainingJob was called.
    """

    name: str
    arn: str
    request: dict[str, Any]
    status: str
    secondary_status: str
    transitions: tuple[SecondaryStatusTransition, ...]
    creation_time: datetime
    last_modified_time: datetime
    training_start_time: datetime | None
    training_end_time: datetime | None
    failure_reason: str | None
    model_artifacts: str | None
    final_metrics: tuple[MetricDatum, ...]
    stop_requested: bool


TrainingJobFilter = ListFilter  # ListTrainingJobs' filters


class TrainingJobRepository:
    """Training jobs by name. Every method that writes is one transaction; times come from `clock`."""

    def __init__(self, db: Database, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._db = db
        self._clock = clock

    def create(self, name: str, arn: str, request: dict[str, Any], secondary_status: str, message: str) -> TrainingJob:
        """Store a new job, InProgress in `secondary_status` since now.

        Raises TrainingJobExists, writing nothing, if a job has this name or this ARN.
        """
        now = self._clock()
        with self._db.write(lock="training-jobs create") as session:
            existing = session.scalar(select(TrainingJobRow.arn).where(
                or_(TrainingJobRow.name == name, TrainingJobRow.arn == arn)))
            if existing is not None:
                raise TrainingJobExists(existing)
            row = TrainingJobRow(
                name=name, arn=arn, request=request, status=IN_PROGRESS, secondary_status=secondary_status,
                transitions=[_transition_json(secondary_status, now, message)], creation_time=now,
                last_modified_time=now, final_metrics=[], stop_requested=False)
            session.add(row)
            session.flush()
            return _job(row)

    def get(self, name: str) -> TrainingJob | None:
        """The job with this name, or None."""
        return get_row(self._db, TrainingJobRow, name, _job)

    def list(self, filters: TrainingJobFilter = NO_FILTER, sort_by: SortKey = "CreationTime",
             ascending: bool = False, after_token: str | None = None, limit: int = 10) -> Page[TrainingJob]:
        """Up to `limit` (at least 1) matching jobs in order, after the page `after_token` ended.

        Ties in the sort key keep creation order. Raises ValidationError for a token that no
        earlier page of a listing with the same sort gave.
        """
        return list_rows(self._db, TrainingJobRow, _job, filters, sort_by, ascending, after_token, limit)

    def advance(self, name: str, status: str, secondary_status: str, message: str, *,
                failure_reason: str | None = None, model_artifacts: str | None = None,
                final_metrics: Sequence[MetricDatum] | None = None) -> TrainingJob:
        """Move the job to `status` / `secondary_status` now, and record what is given.

        A new secondary status ends the current transition and opens another; the same one
        only replaces the current transition's message. TrainingStartTime is set on first
        entering a TRAINING_PHASES status, TrainingEndTime on reaching an ended status.
        A job asked to stop is not moved back to InProgress (a preparation finishing late would).
        Raises TrainingJobNotFound, or TrainingJobStatusConflict if the job has ended.
        """
        with self._db.write(lock=f"training-job {name}") as session:
            row = _row_to_change(session, name)
            if row.stop_requested and status == IN_PROGRESS:
                return _job(row)
            _move(row, status, secondary_status, message, self._clock())
            row.failure_reason = failure_reason if failure_reason is not None else row.failure_reason
            row.model_artifacts = model_artifacts if model_artifacts is not None else row.model_artifacts
            if final_metrics is not None:
                row.final_metrics = [_metric_json(datum) for datum in final_metrics]
            return _job(row)

    def request_stop(self, name: str) -> TrainingJob:
        """Mark an InProgress job stop-requested and move it to Stopping / Stopping.

        Raises TrainingJobNotFound, or TrainingJobStatusConflict if the job is not InProgress.
        """
        with self._db.write(lock=f"training-job {name}") as session:
            row = _row_to_change(session, name)
            if row.status != IN_PROGRESS:
                raise TrainingJobStatusConflict(name, row.status)
            _move(row, STOPPING, STOPPING, STOPPING_MESSAGE, self._clock())
            row.stop_requested = True
            return _job(row)


def _row_to_change(session: Session, name: str) -> TrainingJobRow:
    return row_to_change(session, TrainingJobRow, name, TrainingJobNotFound, ENDED_STATUSES,
                         TrainingJobStatusConflict)


def _move(row: TrainingJobRow, status: str, secondary_status: str, message: str, now: datetime) -> None:
    transitions = [dict(transition) for transition in row.transitions]  # a new list, so the JSON column updates
    if transitions[-1]["Status"] == secondary_status:
        transitions[-1]["StatusMessage"] = message
    else:
        transitions[-1]["EndTime"] = now.isoformat()
        transitions.append(_transition_json(secondary_status, now, message))
    row.transitions = transitions
    row.status, row.secondary_status, row.last_modified_time = status, secondary_status, now
    if row.training_start_time is None and secondary_status in TRAINING_PHASES:
        row.training_start_time = now
    if status in ENDED_STATUSES:
        row.training_end_time = now


def _transition_json(status: str, start: datetime, message: str) -> dict[str, Any]:
    return {"Status": status, "StartTime": start.isoformat(), "EndTime": None, "StatusMessage": message}


def _metric_json(datum: MetricDatum) -> dict[str, Any]:
    return {"MetricName": datum.name, "Value": datum.value, "Timestamp": datum.timestamp.isoformat()}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _job(row: TrainingJobRow) -> TrainingJob:
    transitions = tuple(SecondaryStatusTransition(t["Status"], _time(t["StartTime"]),
                                                  t["EndTime"] and _time(t["EndTime"]), t["StatusMessage"])
                        for t in row.transitions)
    metrics = tuple(MetricDatum(m["MetricName"], m["Value"], _time(m["Timestamp"])) for m in row.final_metrics)
    return TrainingJob(
        name=row.name, arn=row.arn, request=row.request, status=row.status, secondary_status=row.secondary_status,
        transitions=transitions, creation_time=row.creation_time, last_modified_time=row.last_modified_time,
        training_start_time=row.training_start_time, training_end_time=row.training_end_time,
        failure_reason=row.failure_reason, model_artifacts=row.model_artifacts, final_metrics=metrics,
        stop_requested=row.stop_requested)
