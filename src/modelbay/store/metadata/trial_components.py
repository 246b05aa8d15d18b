"""SageMaker Experiments' trial components, the trials that hold them, and the metric values logged to them.

A trial component is a run of a step: users make them (CreateTrialComponent, the SageMaker SDK's Run), and
every training, processing and transform job makes one whose job-made members follow the job
(job_trial_components.py). BatchPutMetrics logs metric values to a component; Describe and Search show each
metric's summary (Min, Max, Last, Count, Avg, StdDev), computed in SQL over the stored values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, Float, Index, Integer, String, Text, delete, exists, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session
from sqlalchemy.orm.attributes import flag_modified

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.experiments import (
    NAME_LENGTH,
    Entity,
    EntityRow,
    ExperimentTrialRow,
    HasChildren,
    TrialAssociationRow,
    entity_members,
    entity_properties,
    find_trial,
)
from modelbay.store.metadata.job_trial_components import (
    JOB_KINDS,
    JobKind,
    JobView,
    MetricPoint,
    job_creation_time,
    job_view,
)
from modelbay.store.metadata.paging import Page
from modelbay.store.metadata.records import (
    Clock,
    ListFilter,
    RecordExists,
    RecordNotFound,
    SortKey,
    check_unique,
    delete_tags,
    find_row,
    get_row,
    list_rows,
    utc_now,
)
from modelbay.store.metadata.search_index import SearchDocument, indexes
from modelbay.store.metadata.tables import Base, BigSerial, UtcDateTime

Artifacts = dict[str, dict[str, str]]


class TrialComponentRow(EntityRow):
    """One trial component. `status` and `status_message` are TrialComponentStatus's members; `source_arn` and
    `source_type` name the job that made it; `run_name` the SageMaker SDK run (a component's name) a job ran in."""

    __tablename__ = "trial_components"
    __table_args__ = (Index(None, "creation_time"), Index(None, "source_arn"), Index(None, "run_name"))

    status: Mapped[str | None] = mapped_column(String(16))
    status_message: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    parameters: Mapped[dict[str, dict[str, Any]]] = mapped_column(JSON)
    input_artifacts: Mapped[Artifacts] = mapped_column(JSON)
    output_artifacts: Mapped[Artifacts] = mapped_column(JSON)
    metadata_properties: Mapped[dict[str, str] | None] = mapped_column(JSON)
    source_arn: Mapped[str | None] = mapped_column(String(256))
    source_type: Mapped[str | None] = mapped_column(String(128))
    run_name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))


class MetricValueRow(Base):
    """One metric value logged to a trial component."""

    __tablename__ = "trial_component_metrics"
    __table_args__ = (Index(None, "trial_component", "name", "timestamp"),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    trial_component: Mapped[str] = mapped_column(String(NAME_LENGTH))
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[float] = mapped_column(Float)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime)
    step: Mapped[int | None] = mapped_column(Integer)


class TrialComponentNotFound(RecordNotFound):
    """No trial component has this name."""


class NotAssociated(RecordNotFound):
    """The trial does not hold the trial component."""


@dataclass(frozen=True)
class MetricSummary:
    """TrialComponentMetricSummary: a metric's values summed up; `timestamp` is that of the last value."""

    name: str
    minimum: float
    maximum: float
    last: float
    count: int
    average: float
    std_dev: float
    timestamp: datetime

    def wire(self) -> dict[str, Any]:
        """Its members under TrialComponentMetricSummary's names (without MetricName and SourceArn)."""
        return {"Min": self.minimum, "Max": self.maximum, "Last": self.last, "Count": self.count,
                "Avg": self.average, "StdDev": self.std_dev, "TimeStamp": self.timestamp}


@dataclass(frozen=True)
class TrialComponentChanges:
    """UpdateTrialComponent's members (None: unchanged); the *_to_remove name keys removed."""

    display_name: str | None = None
    status: dict[str, str] | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    parameters: dict[str, dict[str, Any]] | None = None
    parameters_to_remove: tuple[str, ...] = ()
    input_artifacts: Artifacts | None = None
    input_artifacts_to_remove: tuple[str, ...] = ()
    output_artifacts: Artifacts | None = None
    output_artifacts_to_remove: tuple[str, ...] = ()
    metadata_properties: dict[str, str] | None = None


NO_CHANGES = TrialComponentChanges()


@dataclass(frozen=True)
class TrialComponent(Entity):
    """A trial component as Describe shows it: what is stored, overlaid for a job's component with what its job
    shows now. `parents` are the (trial, experiment) names of the trials holding it; `sources` the (ARN, type) of
    the jobs run in it (a run's); `metrics` its metrics' summaries, by name."""

    status: dict[str, str] | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    parameters: dict[str, dict[str, Any]] | None = None
    input_artifacts: Artifacts | None = None
    output_artifacts: Artifacts | None = None
    metadata_properties: dict[str, str] | None = None
    source: dict[str, str] | None = None
    run_name: str | None = None
    parents: tuple[tuple[str, str], ...] = ()
    sources: tuple[tuple[str, str], ...] = ()
    metrics: tuple[MetricSummary, ...] = ()


@dataclass(frozen=True)
class TrialComponentFilter(ListFilter):
    """ListTrialComponents' filters: ListFilter's, and those held by a trial, by a trial of an experiment, or made
    by the job of an ARN."""

    experiment: str | None = None
    trial: str | None = None
    source_arn: str | None = None

    def conditions(self, row: Any) -> list[ColumnElement[bool]]:
        found = super().conditions(row)
        held = TrialAssociationRow.trial_component == row.name
        if self.trial is not None:
            found.append(exists().where(held, TrialAssociationRow.trial == self.trial))
        if self.experiment is not None:
            found.append(exists().where(held, TrialAssociationRow.trial == ExperimentTrialRow.name,
                                        ExperimentTrialRow.experiment == self.experiment))
        if self.source_arn is not None:
            found.append(row.source_arn == self.source_arn)
        return found


class TrialComponentRepository:
    """Trial components by name, which trials hold them, and their metrics. Every write is one transaction; times
    come from `clock`."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    def create(self, name: str, arn: str, user: dict[str, Any], changes: TrialComponentChanges = NO_CHANGES, *,
               source: dict[str, str] | None = None, run_name: str | None = None) -> TrialComponent:
        """Store a new trial component with what `changes` gives (a job's with its `source`, SourceArn and
        SourceType, and the run it ran in: it was created with its job). Raises RecordExists, writing nothing, if
        one has this name or ARN."""
        with self._db.write(lock="trial_components create") as session:
            check_unique(session, TrialComponentRow, name, arn)
            now = job_creation_time(session, source) or self._clock()
            row = TrialComponentRow(
                name=name, arn=arn, creation_time=now, last_modified_time=now, created_by=user, last_modified_by=user,
                parameters={}, input_artifacts={}, output_artifacts={}, run_name=run_name,
                source_arn=(source or {}).get("SourceArn"), source_type=(source or {}).get("SourceType"))
            _change(row, changes)
            session.add(row)
            session.flush()
            return trial_component_record(session, row)

    def get(self, name: str) -> TrialComponent | None:
        return get_row(self._db, TrialComponentRow, name, _listed)

    def get_by_arn(self, arn: str) -> TrialComponent | None:
        """The component with this ARN (whose name is in lower case), or None."""
        with self._db.read() as session:
            row = session.scalar(select(TrialComponentRow).where(TrialComponentRow.arn == arn))
            return None if row is None else trial_component_record(session, row)

    def list(self, filters: ListFilter, sort_by: SortKey = "CreationTime", ascending: bool = False,
             after_token: str | None = None, limit: int = 10) -> Page[TrialComponent]:
        return list_rows(self._db, TrialComponentRow, _listed, filters, sort_by, ascending, after_token, limit)

    def update(self, name: str, user: dict[str, Any], changes: TrialComponentChanges) -> TrialComponent:
        """Apply `changes`. Raises TrialComponentNotFound."""
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, TrialComponentRow, name, TrialComponentNotFound)
            _change(row, changes)
            row.last_modified_time, row.last_modified_by = self._clock(), user
            return trial_component_record(session, row)

    def delete(self, name: str) -> TrialComponent:
        """Remove the component, its metrics and its tags. Raises TrialComponentNotFound, or HasChildren while a
        trial holds it."""
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, TrialComponentRow, name, TrialComponentNotFound)
            found = trial_component_record(session, row)
            if found.parents:
                raise HasChildren(name)
            session.execute(delete(MetricValueRow).where(MetricValueRow.trial_component == name))
            delete_tags(session, row.arn)
            session.delete(row)
            return found

    def associate(self, name: str, trial: str) -> tuple[TrialComponent, str]:
        """Have `trial` hold the component; answer it and the trial's ARN. Raises TrialComponentNotFound,
        TrialNotFound, or RecordExists (with the trial's ARN) if the trial holds it already."""
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, TrialComponentRow, name, TrialComponentNotFound)
            trial_row = find_trial(session, trial)
            if session.get(TrialAssociationRow, (trial, name)) is not None:
                raise RecordExists(trial_row.arn)
            session.add(TrialAssociationRow(trial=trial, trial_component=name, trial_component_arn=row.arn,
                                            creation_time=self._clock()))
            reindex(row, trial_row)
            session.flush()
            return trial_component_record(session, row), trial_row.arn

    def disassociate(self, name: str, trial: str) -> tuple[TrialComponent, str]:
        """Take the component out of `trial`; answer it and the trial's ARN. Raises TrialComponentNotFound,
        TrialNotFound, or NotAssociated."""
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, TrialComponentRow, name, TrialComponentNotFound)
            trial_row = find_trial(session, trial)
            association = session.get(TrialAssociationRow, (trial, name))
            if association is None:
                raise NotAssociated(f"{trial} does not hold {name}")
            session.delete(association)
            reindex(row, trial_row)
            session.flush()
            return trial_component_record(session, row), trial_row.arn

    def put_metrics(self, name: str, points: Iterable[MetricPoint]) -> None:
        """Log metric values to the component. Raises TrialComponentNotFound."""
        with self._db.write() as session:
            reindex(find_row(session, TrialComponentRow, name, TrialComponentNotFound))
            session.add_all(MetricValueRow(trial_component=name, name=point.name, value=point.value,
                                           timestamp=point.timestamp, step=point.step) for point in points)

    def metric_values(self, arn: str, metric: str) -> tuple[MetricPoint, ...] | None:
        """The logged values of one metric of the component with this ARN, oldest first; None if no component has
        the ARN."""
        with self._db.read() as session:
            name = session.scalar(select(TrialComponentRow.name).where(TrialComponentRow.arn == arn))
            if name is None:
                return None
            rows = session.scalars(select(MetricValueRow).where(
                MetricValueRow.trial_component == name, MetricValueRow.name == metric)
                .order_by(MetricValueRow.timestamp, MetricValueRow.id))
            return tuple(MetricPoint(row.name, row.value, row.timestamp, row.step) for row in rows)

    def _lock(self, name: str) -> str:
        return f"trial_components {name}"


def reindex(*rows: EntityRow) -> None:
    """Have the transaction's flush rewrite the rows' Search documents: a component's depends on the trials
    holding it and on its metrics, a trial's on the components it holds, which live in rows of their own (the
    search index rewrites the documents of the rows a flush writes)."""
    for row in rows:
        flag_modified(row, "last_modified_time")


def _change(row: TrialComponentRow, changes: TrialComponentChanges) -> None:
    """Apply what `changes` gives to the row (removals after additions)."""
    row.display_name = changes.display_name or row.display_name
    if changes.status is not None:
        row.status, row.status_message = changes.status.get("PrimaryStatus"), changes.status.get("Message")
    row.start_time = changes.start_time or row.start_time
    row.end_time = changes.end_time or row.end_time
    row.metadata_properties = changes.metadata_properties or row.metadata_properties
    row.parameters = _merged(row.parameters, changes.parameters, changes.parameters_to_remove)
    row.input_artifacts = _merged(row.input_artifacts, changes.input_artifacts, changes.input_artifacts_to_remove)
    row.output_artifacts = _merged(row.output_artifacts, changes.output_artifacts,
                                   changes.output_artifacts_to_remove)


def _merged(stored: dict[str, Any], added: dict[str, Any] | None, removed: tuple[str, ...]) -> dict[str, Any]:
    merged = stored | (added or {})
    return {key: value for key, value in merged.items() if key not in removed}


def _listed(row: TrialComponentRow) -> TrialComponent:
    session = object_session(row)
    assert session is not None  # get_row and list_rows convert the rows of their open session
    return trial_component_record(session, row)


def trial_component_record(session: Session, row: TrialComponentRow) -> TrialComponent:
    """The component of a row as Describe shows it (read in `session`): a job's overlaid with what its job shows."""
    with session.no_autoflush:
        view = job_view(session, row.source_type, row.source_arn)
        parents = session.execute(
            select(ExperimentTrialRow.name, ExperimentTrialRow.experiment)
            .join(TrialAssociationRow, TrialAssociationRow.trial == ExperimentTrialRow.name)
            .where(TrialAssociationRow.trial_component == row.name).order_by(ExperimentTrialRow.name))
        sources = session.execute(select(TrialComponentRow.source_arn, TrialComponentRow.source_type)
                                  .where(TrialComponentRow.run_name == row.name).order_by(TrialComponentRow.id))
        record = TrialComponent(
            **entity_members(row), parameters=row.parameters, input_artifacts=row.input_artifacts,
            output_artifacts=row.output_artifacts, metadata_properties=row.metadata_properties,
            status=None if row.status is None else _status(row.status, row.status_message),
            start_time=row.start_time, end_time=row.end_time, run_name=row.run_name,
            source=None if row.source_arn is None else {"SourceArn": row.source_arn,
                                                        "SourceType": row.source_type or ""},
            parents=tuple((trial, experiment) for trial, experiment in parents),
            sources=tuple((arn, kind) for arn, kind in sources if arn is not None and kind is not None),
            metrics=_summaries(session, row, view))
    if view is None:
        return record
    return replace(record, status=view.status, start_time=view.start_time, end_time=view.end_time,
                   display_name=record.display_name or view.display_name,
                   parameters=row.parameters | view.parameters,
                   input_artifacts=row.input_artifacts | view.input_artifacts,
                   output_artifacts=row.output_artifacts | view.output_artifacts)


def _status(primary: str, message: str | None) -> dict[str, str]:
    return {"PrimaryStatus": primary} | ({"Message": message} if message is not None else {})


def _summaries(session: Session, row: TrialComponentRow, view: JobView | None) -> tuple[MetricSummary, ...]:
    """Each metric's summary, by name, computed in SQL over the logged values (sample standard deviation, 0 for one
    value; Last the latest value), then those of the job's final metrics that were not logged, each one value."""
    value = MetricValueRow.value
    stats = session.execute(
        select(MetricValueRow.name, func.min(value), func.max(value), func.count(), func.avg(value),
               func.avg(value * value))
        .where(MetricValueRow.trial_component == row.name).group_by(MetricValueRow.name))
    ranked = select(MetricValueRow.name, value, MetricValueRow.timestamp, func.row_number().over(
        partition_by=MetricValueRow.name, order_by=(MetricValueRow.timestamp.desc(), MetricValueRow.id.desc()),
    ).label("rank")).where(MetricValueRow.trial_component == row.name).subquery()
    last = {name: (value, timestamp) for name, value, timestamp in session.execute(
        select(ranked.c.name, ranked.c.value, ranked.c.timestamp).where(ranked.c.rank == 1))}
    found = {name: MetricSummary(name, low, high, last[name][0], count, mean, _std_dev(count, mean, mean_square),
                                 last[name][1])
             for name, low, high, count, mean, mean_square in stats}
    for point in view.metrics if view else ():
        found.setdefault(point.name, MetricSummary(point.name, point.value, point.value, point.value, 1, point.value,
                                                   0.0, point.timestamp))
    return tuple(found[name] for name in sorted(found))


def _std_dev(count: int, mean: float, mean_square: float) -> float:
    """The sample standard deviation of `count` values from their mean and the mean of their squares."""
    if count < 2:
        return 0.0
    return math.sqrt(max(0.0, (mean_square - mean * mean) * count / (count - 1)))


# -- Search's documents --------------------------------------------------------------------------------------

def trial_component_documents(session: Session, name: str) -> list[SearchDocument]:
    """The document of the trial component of this name (none if there is none): the ExperimentTrialComponent
    record's members, its Parents, and Metrics as {name: summary} so that "Metrics.loss.Last" is a path.

    Written when the component's row is, and when its job's is (the job's status, times, artifacts and metrics are
    the component's); associations and metric values have the component's row rewritten (`reindex`)."""
    with session.no_autoflush:
        row = session.scalar(select(TrialComponentRow).where(TrialComponentRow.name == name))
    return [] if row is None else [_document(session, row)]


def _document(session: Session, row: TrialComponentRow) -> SearchDocument:
    found = trial_component_record(session, row)
    optional = {"Status": found.status, "StartTime": found.start_time, "EndTime": found.end_time,
                "MetadataProperties": found.metadata_properties, "Source": found.source, "RunName": found.run_name}
    properties = entity_properties(row, "TrialComponent") | {
        "DisplayName": found.display_name, "Parameters": found.parameters, "InputArtifacts": found.input_artifacts,
        "OutputArtifacts": found.output_artifacts,
        "Metrics": {summary.name: summary.wire() for summary in found.metrics},
        "Parents": [{"TrialName": trial, "ExperimentName": experiment} for trial, experiment in found.parents]}
    return SearchDocument("ExperimentTrialComponent", row.arn, {key: value for key, value in (
        properties | optional).items() if value is not None})


@indexes(TrialComponentRow)
def _component_documents(session: Session, row: TrialComponentRow) -> list[SearchDocument]:
    return [_document(session, row)]


def _job_documents(kind: JobKind) -> None:
    """A job's change changes its trial component's document (its status, times, artifacts, metrics)."""
    @indexes(kind.row)
    def documents(session: Session, row: Any) -> list[SearchDocument]:
        return trial_component_documents(session, kind.component_name(row.name))


for _kind in JOB_KINDS.values():
    _job_documents(_kind)
