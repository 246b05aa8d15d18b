"""SageMaker Experiments' experiments and trials, and which trial components each trial holds.

An experiment groups trials; a trial belongs to one experiment and holds trial components (many-to-many: a
component may sit in several trials). None of them has a lifecycle: users create, update and delete them, and
SageMaker refuses to delete an experiment that still has trials, or a trial that still holds components. Trial
components, their metrics and the documents Search reads of all three live in trial_components.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, Index, String, Text, exists, select
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, object_session

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.paging import Page
from modelbay.store.metadata.records import (
    Clock,
    ListFilter,
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

NAME_LENGTH = 120  # ExperimentEntityName's maximum


class EntityRow(Base):
    """The columns experiments, trials and trial components share (abstract: each has its own table).

    `created_by` and `last_modified_by` hold UserContext wire dicts.
    """

    __abstract__ = True

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (Index(None, "creation_time"),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    arn: Mapped[str] = mapped_column(String(256), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)
    last_modified_time: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[dict[str, Any]] = mapped_column(JSON)
    last_modified_by: Mapped[dict[str, Any]] = mapped_column(JSON)


class ExperimentRow(EntityRow):
    __tablename__ = "experiments"

    description: Mapped[str | None] = mapped_column(Text)


class ExperimentTrialRow(EntityRow):
    """One trial; `source` is TrialSource's wire dict for a trial SageMaker made for a job, else None."""

    __tablename__ = "experiment_trials"
    __table_args__ = (Index(None, "creation_time"), Index(None, "experiment"))

    experiment: Mapped[str] = mapped_column(String(NAME_LENGTH))
    metadata_properties: Mapped[dict[str, str] | None] = mapped_column(JSON)
    source: Mapped[dict[str, str] | None] = mapped_column(JSON)


class TrialAssociationRow(Base):
    """A trial component held by a trial (AssociateTrialComponent)."""

    __tablename__ = "experiment_trial_associations"
    __table_args__ = (Index(None, "trial_component"),)

    trial: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    trial_component: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    trial_component_arn: Mapped[str] = mapped_column(String(256))
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)


class ExperimentNotFound(RecordNotFound):
    """No experiment has this name."""


class TrialNotFound(RecordNotFound):
    """No trial has this name."""


class HasChildren(Exception):
    """The experiment still has trials, or the trial still holds trial components: SageMaker keeps it."""


@dataclass(frozen=True)
class Entity:
    """What an experiment, a trial and a trial component share as stored."""

    name: str
    arn: str
    display_name: str | None
    creation_time: datetime
    last_modified_time: datetime
    created_by: dict[str, Any]
    last_modified_by: dict[str, Any]


@dataclass(frozen=True)
class Experiment(Entity):
    description: str | None = None


@dataclass(frozen=True)
class ExperimentTrial(Entity):
    """A trial; `components` are the names and ARNs of the trial components it holds, oldest association first."""

    experiment: str = ""
    metadata_properties: dict[str, str] | None = None
    source: dict[str, str] | None = None
    components: tuple[tuple[str, str], ...] = field(default=())


def entity_members(row: EntityRow) -> dict[str, Any]:
    """The Entity fields of a row, as keyword arguments."""
    return {"name": row.name, "arn": row.arn, "display_name": row.display_name, "creation_time": row.creation_time,
            "last_modified_time": row.last_modified_time, "created_by": row.created_by,
            "last_modified_by": row.last_modified_by}


@dataclass(frozen=True)
class TrialFilter(ListFilter):
    """ListTrials' filters: ListFilter's, the trials of one experiment, the trials holding one trial component."""

    experiment: str | None = None
    trial_component: str | None = None

    def conditions(self, row: Any) -> list[ColumnElement[bool]]:
        found = super().conditions(row)
        if self.experiment is not None:
            found.append(row.experiment == self.experiment)
        if self.trial_component is not None:
            found.append(exists().where(TrialAssociationRow.trial == row.name,
                                        TrialAssociationRow.trial_component == self.trial_component))
        return found


class ExperimentRepository:
    """Experiments and their trials by name. Every write is one transaction; times come from `clock`."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    # -- experiments ---------------------------------------------------------------------------------------

    def create(self, name: str, arn: str, user: dict[str, Any], *, display_name: str | None = None,
               description: str | None = None) -> Experiment:
        """Store a new experiment; RecordExists (writing nothing) if one has this name or ARN."""
        now = self._clock()
        with self._db.write(lock="experiments create") as session:
            check_unique(session, ExperimentRow, name, arn)
            row = ExperimentRow(name=name, arn=arn, display_name=display_name, description=description,
                                creation_time=now, last_modified_time=now, created_by=user, last_modified_by=user)
            session.add(row)
            return _experiment(row)

    def get(self, name: str) -> Experiment | None:
        return get_row(self._db, ExperimentRow, name, _experiment)

    def list(self, filters: ListFilter, sort_by: SortKey = "CreationTime", ascending: bool = False,
             after_token: str | None = None, limit: int = 10) -> Page[Experiment]:
        return list_rows(self._db, ExperimentRow, _experiment, filters, sort_by, ascending, after_token, limit)

    def update(self, name: str, user: dict[str, Any], *, display_name: str | None = None,
               description: str | None = None) -> Experiment:
        """Set what is given (None keeps what is stored). Raises ExperimentNotFound."""
        with self._db.write(lock=f"experiments {name}") as session:
            row = find_row(session, ExperimentRow, name, ExperimentNotFound)
            row.display_name = display_name or row.display_name
            row.description = description if description is not None else row.description
            _touch(row, user, self._clock())
            return _experiment(row)

    def delete(self, name: str) -> Experiment:
        """Remove the experiment and its tags. Raises ExperimentNotFound, or HasChildren while it has trials."""
        with self._db.write(lock=f"experiments {name}") as session:
            row = find_row(session, ExperimentRow, name, ExperimentNotFound)
            if session.scalar(select(ExperimentTrialRow.id).where(ExperimentTrialRow.experiment == name).limit(1)):
                raise HasChildren(name)
            delete_tags(session, row.arn)
            session.delete(row)
            return _experiment(row)

    # -- trials --------------------------------------------------------------------------------------------

    def create_trial(self, name: str, arn: str, experiment: str, user: dict[str, Any], *,
                     display_name: str | None = None, metadata_properties: dict[str, str] | None = None,
                     source: dict[str, str] | None = None) -> ExperimentTrial:
        """Store a new trial of `experiment`. Raises ExperimentNotFound, or RecordExists if one has the name or
        ARN (writing nothing)."""
        now = self._clock()
        with self._db.write(lock="experiment_trials create") as session:
            find_row(session, ExperimentRow, experiment, ExperimentNotFound)
            check_unique(session, ExperimentTrialRow, name, arn)
            row = ExperimentTrialRow(name=name, arn=arn, experiment=experiment, display_name=display_name,
                                     metadata_properties=metadata_properties, source=source, creation_time=now,
                                     last_modified_time=now, created_by=user, last_modified_by=user)
            session.add(row)
            return trial_record(session, row)

    def get_trial(self, name: str) -> ExperimentTrial | None:
        with self._db.read() as session:
            row = session.scalar(select(ExperimentTrialRow).where(ExperimentTrialRow.name == name))
            return None if row is None else trial_record(session, row)

    def list_trials(self, filters: ListFilter, sort_by: SortKey = "CreationTime", ascending: bool = False,
                    after_token: str | None = None, limit: int = 10) -> Page[ExperimentTrial]:
        return list_rows(self._db, ExperimentTrialRow, _listed_trial, filters, sort_by, ascending, after_token,
                         limit)

    def update_trial(self, name: str, user: dict[str, Any], *, display_name: str | None = None) -> ExperimentTrial:
        """Set the display name if given. Raises TrialNotFound."""
        with self._db.write(lock=f"experiment_trials {name}") as session:
            row = find_row(session, ExperimentTrialRow, name, TrialNotFound)
            row.display_name = display_name or row.display_name
            _touch(row, user, self._clock())
            return trial_record(session, row)

    def delete_trial(self, name: str) -> ExperimentTrial:
        """Remove the trial and its tags. Raises TrialNotFound, or HasChildren while it holds trial components."""
        with self._db.write(lock=f"experiment_trials {name}") as session:
            row = find_row(session, ExperimentTrialRow, name, TrialNotFound)
            found = trial_record(session, row)
            if found.components:
                raise HasChildren(name)
            delete_tags(session, row.arn)
            session.delete(row)
            return found


def _touch(row: EntityRow, user: dict[str, Any], now: datetime) -> None:
    row.last_modified_time, row.last_modified_by = now, user


def _experiment(row: ExperimentRow) -> Experiment:
    return Experiment(**entity_members(row), description=row.description)


def trial_record(session: Session, row: ExperimentTrialRow) -> ExperimentTrial:
    """The trial of a row, with the trial components it holds (read in `session`)."""
    components = session.execute(
        select(TrialAssociationRow.trial_component, TrialAssociationRow.trial_component_arn)
        .where(TrialAssociationRow.trial == row.name)
        .order_by(TrialAssociationRow.creation_time, TrialAssociationRow.trial_component))
    return ExperimentTrial(**entity_members(row), experiment=row.experiment,
                           metadata_properties=row.metadata_properties, source=row.source,
                           components=tuple((name, arn) for name, arn in components))


def _listed_trial(row: ExperimentTrialRow) -> ExperimentTrial:
    session = object_session(row)
    assert session is not None  # list_rows converts the rows of its open session
    return trial_record(session, row)


def find_trial(session: Session, name: str) -> ExperimentTrialRow:
    return find_row(session, ExperimentTrialRow, name, TrialNotFound)


# -- Search's documents --------------------------------------------------------------------------------------

def entity_properties(row: EntityRow, kind: str) -> dict[str, Any]:
    """The members every entity's SearchRecord has, under `kind`'s names (TrialName, TrialArn, ...)."""
    members = {f"{kind}Name": row.name, f"{kind}Arn": row.arn, "DisplayName": row.display_name,
               "CreationTime": row.creation_time, "CreatedBy": row.created_by,
               "LastModifiedTime": row.last_modified_time, "LastModifiedBy": row.last_modified_by}
    return {key: value for key, value in members.items() if value is not None}


@indexes(ExperimentRow)
def _experiment_documents(session: Session, row: ExperimentRow) -> Iterable[SearchDocument]:
    properties = entity_properties(row, "Experiment")
    if row.description is not None:
        properties["Description"] = row.description
    return [SearchDocument("Experiment", row.arn, properties)]


@indexes(ExperimentTrialRow)
def _trial_documents(session: Session, row: ExperimentTrialRow) -> Iterable[SearchDocument]:
    return [_trial_document(session, row)]


def _trial_document(session: Session, row: ExperimentTrialRow) -> SearchDocument:
    """The trial as Search's Trial record has it, with the trial components it holds."""
    with session.no_autoflush:
        found = trial_record(session, row)
    properties = entity_properties(row, "Trial") | {
        "ExperimentName": row.experiment,
        "TrialComponentSummaries": [{"TrialComponentName": name, "TrialComponentArn": arn}
                                    for name, arn in found.components]}
    extra = {"MetadataProperties": row.metadata_properties, "Source": row.source}
    return SearchDocument("ExperimentTrial", row.arn, properties | {k: v for k, v in extra.items() if v is not None})

