"""Hyperparameter tuning jobs and their trials: the request, where each job stands, and the study its search rebuilds.

CreateHyperParameterTuningJob, StopHyperParameterTuningJob and DeleteHyperParameterTuningJob record what is
wanted; the tuning controller moves jobs through their statuses (LIFECYCLE) with `advance`, and records each
trial: its number, the training job that runs it, the hyperparameters the search suggested, and what the search
knows of it (its state, final objective, intermediate objective values, whether it was stopped early). The
trials are the study: every pass of the controller rebuilds the search from them, so a restarted server loses
nothing. Every status change goes through `_move`, which checks it against LIFECYCLE. The tables live here:
nothing else refers to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.statuses import HyperParameterTuningJobStatus
from modelbay.store.metadata.lifecycle import Lifecycle
from modelbay.store.metadata.records import (
    RecordExists,
    RecordNotFound,
    Repository,
    StatusConflict,
    check_unique,
    delete_tags,
    find_row,
    names_where,
)
from modelbay.store.metadata.search_index import SearchDocument, indexes
from modelbay.store.metadata.tables import Base, BigSerial, StatusRow, UtcDateTime

_S = HyperParameterTuningJobStatus
# A tuning job that has ended (Completed, Failed, Stopped) may only be deleted; Deleting ends with the row removed.
LIFECYCLE: Lifecycle[HyperParameterTuningJobStatus] = Lifecycle({
    _S.IN_PROGRESS: frozenset({_S.COMPLETED, _S.FAILED, _S.STOPPING}),
    _S.STOPPING: frozenset({_S.STOPPED}),  # a stop request wins
    _S.COMPLETED: frozenset({_S.DELETING}),
    _S.FAILED: frozenset({_S.DELETING}),
    _S.STOPPED: frozenset({_S.DELETING}),
    _S.DELETING: frozenset({_S.DELETE_FAILED}),
    _S.DELETE_FAILED: frozenset({_S.DELETING}),
})
FINISHED = frozenset({_S.COMPLETED, _S.FAILED, _S.STOPPED})  # the statuses that set HyperParameterTuningEndTime
_TO_RECONCILE = (_S.IN_PROGRESS, _S.STOPPING, _S.DELETING)


class TrialState(StrEnum):
    """A trial as the search sees it (its training job's status, said the search's way)."""

    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"


class TuningJobRow(StatusRow):
    """One tuning job (see TuningJob for each column)."""

    __tablename__ = "tuning_jobs"

    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    end_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stop_requested: Mapped[bool] = mapped_column(Boolean)
    completion_details: Mapped[dict[str, Any]] = mapped_column(JSON)


class TrialRow(Base):
    """One trial of a tuning job (see Trial for each column); `number` counts from 1 within its tuning job."""

    __tablename__ = "tuning_trials"
    __table_args__ = (Index(None, "tuning_job", "number", unique=True),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    tuning_job: Mapped[str] = mapped_column(String(32))
    number: Mapped[int] = mapped_column(Integer)
    training_job_name: Mapped[str] = mapped_column(String(63), unique=True)
    definition: Mapped[str | None] = mapped_column(String(64))
    parameters: Mapped[dict[str, str]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    objective: Mapped[float | None] = mapped_column(Float)
    intermediate: Mapped[list[list[float]]] = mapped_column(JSON)
    early_stopped: Mapped[bool] = mapped_column(Boolean)
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)


class TuningJobNotFound(RecordNotFound):
    """No tuning job has this name."""


@dataclass(frozen=True)
class Objective:
    """HyperParameterTuningJobObjective: the metric a tuning job optimises, and which way."""

    type: str  # Maximize or Minimize
    metric_name: str

    @property
    def maximize(self) -> bool:
        return self.type == "Maximize"

    def better(self, value: float, than: float) -> bool:
        return value > than if self.maximize else value < than


@dataclass(frozen=True)
class TuningJobSpec:
    """What a tuning job runs, read once from its stored CreateHyperParameterTuningJob request.

    `config` (HyperParameterTuningJobConfig) and `definitions` (the TrainingJobDefinitions, a single
    TrainingJobDefinition as a one-element tuple) stay wire dicts: the search reads them whole. The objective
    is the config's, else each definition's TuningObjective. `max_jobs` is None for a Grid search without
    MaxNumberOfTrainingJobs (its grid bounds it).
    """

    strategy: str
    config: dict[str, Any]
    definitions: tuple[dict[str, Any], ...]
    max_jobs: int | None
    max_parallel: int
    max_runtime_s: int | None
    early_stopping: bool
    random_seed: int | None
    warm_start_type: str | None
    parents: tuple[str, ...]  # the warm start's parent tuning jobs

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> TuningJobSpec:
        config = request["HyperParameterTuningJobConfig"]
        limits, warm = config["ResourceLimits"], request.get("WarmStartConfig", {})
        definitions = request.get("TrainingJobDefinitions") or [request["TrainingJobDefinition"]]
        return cls(
            strategy=config["Strategy"], config=config, definitions=tuple(definitions),
            max_jobs=limits.get("MaxNumberOfTrainingJobs"), max_parallel=limits["MaxParallelTrainingJobs"],
            max_runtime_s=limits.get("MaxRuntimeInSeconds"),
            early_stopping=config.get("TrainingJobEarlyStoppingType", "Off") == "Auto",
            random_seed=config.get("RandomSeed"), warm_start_type=warm.get("WarmStartType"),
            parents=tuple(parent["HyperParameterTuningJobName"] for parent in warm.get(
                "ParentHyperParameterTuningJobs", [])))

    def definition(self, name: str | None) -> dict[str, Any]:
        """The TrainingJobDefinition of this name (None: the single one)."""
        return next(d for d in self.definitions if d.get("DefinitionName") == name or name is None)

    def objective(self, definition: str | None = None) -> Objective:
        """The objective of the trials of `definition`: the job's, else the definition's TuningObjective."""
        given = self.config.get("HyperParameterTuningJobObjective") or self.definition(definition)["TuningObjective"]
        return Objective(given["Type"], given["MetricName"])

    def best(self, trials: Iterable[Trial]) -> Trial | None:
        """The ended trial with the best final objective (the earliest of equals); None if no trial has one."""
        best: Trial | None = None
        for trial in trials:
            if trial.objective is None or trial.state is TrialState.RUNNING:
                continue
            if best is None or self.objective(trial.definition).better(trial.objective, best.objective or 0.0):
                best = trial
        return best


def training_resources(definition: dict[str, Any]) -> dict[str, Any] | None:
    """A TrainingJobDefinition's trials' ResourceConfig: its own, else its HyperParameterTuningResourceConfig's (what
    the SageMaker Python SDK sends), whose first InstanceConfigs entry is the one modelbay always has room for,
    with its VolumeKmsKeyId. None if it has neither."""
    if "ResourceConfig" in definition:
        resources: dict[str, Any] = definition["ResourceConfig"]
        return resources
    tuning = definition.get("HyperParameterTuningResourceConfig")
    if tuning is None:
        return None
    chosen = (tuning.get("InstanceConfigs") or [tuning])[0] | {"VolumeKmsKeyId": tuning.get("VolumeKmsKeyId")}
    return {key: chosen[key] for key in ("InstanceType", "InstanceCount", "VolumeSizeInGB", "VolumeKmsKeyId")
            if chosen.get(key)}


@dataclass(frozen=True)
class Trial:
    """One trial: its training job, the hyperparameters the search chose, and what the search knows of it.

    `objective` is the final objective metric (None until the trial has ended with one); `intermediate` the
    objective's values as the training job logged them, as (step, value) pairs from step 1.
    """

    tuning_job: str
    number: int
    training_job_name: str
    definition: str | None
    parameters: dict[str, str]
    state: TrialState
    objective: float | None
    intermediate: tuple[tuple[int, float], ...]
    early_stopped: bool
    creation_time: datetime


@dataclass(frozen=True)
class TuningJob:
    """A tuning job as stored.

    `request` is the CreateHyperParameterTuningJob request as the service stored it, kept to be echoed by
    Describe; `spec` is what the controller reads of it. `completion_details` is
    TuningJobCompletionDetails' wire dict as the controller last recorded it.
    """

    name: str
    arn: str
    request: dict[str, Any]
    spec: TuningJobSpec
    status: HyperParameterTuningJobStatus
    failure_reason: str | None
    creation_time: datetime
    last_modified_time: datetime
    end_time: datetime | None
    stop_requested: bool
    completion_details: dict[str, Any]


class TuningJobRepository(Repository[TuningJobRow, TuningJob]):
    """Tuning jobs by name, and their trials. Every method that writes is one transaction; times come from
    `clock`."""

    row, lifecycle, not_found = TuningJobRow, LIFECYCLE, TuningJobNotFound

    def _record(self, row: TuningJobRow) -> TuningJob:
        return _job(row)

    def names_to_reconcile(self) -> list[str]:
        """The jobs the controller has work for, oldest first: those running, stopping or being deleted."""
        return names_where(self._db, TuningJobRow, TuningJobRow.status.in_(_TO_RECONCILE))

    def create(self, name: str, arn: str, request: dict[str, Any]) -> TuningJob:
        """Store a new job, InProgress since now. Raises RecordExists, writing nothing, if one has this name or ARN."""
        now = self._clock()
        with self._db.write(lock="tuning_jobs create") as session:
            check_unique(session, TuningJobRow, name, arn)
            row = TuningJobRow(name=name, arn=arn, request=request, status=_S.IN_PROGRESS, creation_time=now,
                               last_modified_time=now, stop_requested=False, completion_details={})
            session.add(row)
            return _job(row)

    def request_stop(self, name: str) -> TuningJob:
        """StopHyperParameterTuningJob: mark an InProgress job stop-requested and move it to Stopping.

        Raises TuningJobNotFound, or StatusConflict if the job's status does not allow Stopping.
        """
        with self._stop_requested(name, _S.STOPPING) as row:
            self._move(row, _S.STOPPING)
            return _job(row)

    def request_delete(self, name: str) -> TuningJob:
        """DeleteHyperParameterTuningJob: move an ended job to Deleting (the controller removes it).

        Raises TuningJobNotFound, or StatusConflict if the job has not ended.
        """
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, TuningJobRow, name, TuningJobNotFound)
            if not LIFECYCLE.allows(row.status, _S.DELETING):
                raise StatusConflict(name, row.status)
            self._move(row, _S.DELETING)
            return _job(row)

    def advance(self, name: str, status: HyperParameterTuningJobStatus, *, failure_reason: str | None = None,
                completion_details: dict[str, Any] | None = None) -> TuningJob:
        """Move the job to `status` now, recording what is given (None keeps what is stored).

        A job being stopped ends Stopped: any other move the controller asks for is dropped (the stop request
        overtook the controller's pass). Raises TuningJobNotFound, or IllegalTransition for a move LIFECYCLE
        does not allow.
        """
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, TuningJobRow, name, TuningJobNotFound)
            if row.status == _S.STOPPING and status != _S.STOPPED:
                return _job(row)
            self._move(row, status)
            row.failure_reason = failure_reason if failure_reason is not None else row.failure_reason
            if completion_details is not None:
                row.completion_details = completion_details
            return _job(row)

    def delete(self, name: str) -> None:
        """Remove the job, its trials' records and its tags (its training jobs stay). Raises TuningJobNotFound."""
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, TuningJobRow, name, TuningJobNotFound)
            session.execute(delete(TrialRow).where(TrialRow.tuning_job == name))
            delete_tags(session, row.arn)
            session.delete(row)

    def _move(self, row: TuningJobRow, status: HyperParameterTuningJobStatus) -> None:
        """The one place a job's status changes: checked against LIFECYCLE; finishing sets the end time."""
        LIFECYCLE.check(row.name, row.status, status)
        now = self._clock()
        if status in FINISHED and row.status != status:
            row.end_time = now
        row.status, row.last_modified_time = status, now

    # -- trials -------------------------------------------------------------------------------------------

    def add_trial(self, tuning_job: str, number: int, training_job_name: str, definition: str | None,
                  parameters: dict[str, str]) -> Trial:
        """Record trial `number` of a tuning job, running. Raises RecordExists (writing nothing) if the job has a
        trial of this number or a trial has this training job, TuningJobNotFound if the job is gone."""
        with self._db.write(lock=self._lock(tuning_job)) as session:
            find_row(session, TuningJobRow, tuning_job, TuningJobNotFound)
            taken = session.scalar(select(TrialRow.training_job_name).where(
                ((TrialRow.tuning_job == tuning_job) & (TrialRow.number == number))
                | (TrialRow.training_job_name == training_job_name)))
            if taken is not None:
                raise RecordExists(taken)
            row = TrialRow(tuning_job=tuning_job, number=number, training_job_name=training_job_name,
                           definition=definition, parameters=parameters, state=TrialState.RUNNING, objective=None,
                           intermediate=[], early_stopped=False, creation_time=self._clock())
            session.add(row)
            return _trial(row)

    def trials(self, tuning_job: str) -> list[Trial]:
        """The job's trials by number (none for an unknown job)."""
        with self._db.read() as session:
            rows = session.scalars(select(TrialRow).where(TrialRow.tuning_job == tuning_job)
                                   .order_by(TrialRow.number))
            return [_trial(row) for row in rows]

    def running_trials(self) -> list[Trial]:
        """Every tuning job's running trials, oldest first: what the machine's capacity is shared by."""
        with self._db.read() as session:
            rows = session.scalars(select(TrialRow).where(TrialRow.state == TrialState.RUNNING)
                                   .order_by(TrialRow.id))
            return [_trial(row) for row in rows]

    def trial_of(self, training_job_name: str) -> Trial | None:
        """The trial a training job runs, or None if it is no trial."""
        with self._db.read() as session:
            row = session.scalar(select(TrialRow).where(TrialRow.training_job_name == training_job_name))
            return None if row is None else _trial(row)

    def record_trial(self, tuning_job: str, number: int, *, state: TrialState | None = None,
                     objective: float | None = None, intermediate: Sequence[tuple[int, float]] | None = None,
                     early_stopped: bool | None = None) -> Trial:
        """Record what the controller learnt of a trial (None keeps what is stored). Raises RecordNotFound."""
        with self._db.write(lock=self._lock(tuning_job)) as session:
            row = _find_trial(session, tuning_job, number)
            row.state = state if state is not None else row.state
            row.objective = objective if objective is not None else row.objective
            if intermediate is not None:
                row.intermediate = [[step, value] for step, value in intermediate]
            row.early_stopped = early_stopped if early_stopped is not None else row.early_stopped
            return _trial(row)


def _find_trial(session: Session, tuning_job: str, number: int) -> TrialRow:
    row = session.scalar(select(TrialRow).where(TrialRow.tuning_job == tuning_job, TrialRow.number == number))
    if row is None:
        raise RecordNotFound(f"{tuning_job} trial {number}")
    return row


def _trial(row: TrialRow) -> Trial:
    return Trial(tuning_job=row.tuning_job, number=row.number, training_job_name=row.training_job_name,
                 definition=row.definition, parameters=row.parameters, state=TrialState(row.state),
                 objective=row.objective, intermediate=tuple((int(step), value) for step, value in row.intermediate),
                 early_stopped=row.early_stopped, creation_time=row.creation_time)


def _job(row: TuningJobRow) -> TuningJob:
    return TuningJob(
        name=row.name, arn=row.arn, request=row.request, spec=TuningJobSpec.from_request(row.request),
        status=HyperParameterTuningJobStatus(row.status), failure_reason=row.failure_reason,
        creation_time=row.creation_time, last_modified_time=row.last_modified_time, end_time=row.end_time,
        stop_requested=row.stop_requested, completion_details=row.completion_details)


@indexes(TuningJobRow)
def _search_documents(session: Session, row: TuningJobRow) -> Iterable[SearchDocument]:
    """The job as Search's HyperParameterTuningJob: its stored request's members (its tags apart), status and times."""
    request = {key: value for key, value in row.request.items() if key != "Tags"}
    properties = request | {
        "HyperParameterTuningJobName": row.name, "HyperParameterTuningJobArn": row.arn,
        "HyperParameterTuningJobStatus": row.status, "CreationTime": row.creation_time,
        "LastModifiedTime": row.last_modified_time, "HyperParameterTuningEndTime": row.end_time,
        "FailureReason": row.failure_reason}
    return [SearchDocument("HyperParameterTuningJob", row.arn, properties)]
