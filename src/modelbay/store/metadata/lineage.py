"""ML lineage: artifacts, actions and contexts (the lineage entities) and the associations between them.

The three kinds of entity share one table: they differ only in which members they have (an artifact's name is
optional, only an action has a status), and a walk of the graph reads them alike. Actions and contexts are named by
their ARN (their name, lower-cased, as SageMaker writes ARNs), artifacts by an ARN of their own: several artifacts may
have the same SourceUri, though SageMaker's own records reuse the first (`record`).

Associations are directed edges from a source ARN to a destination ARN, one per pair, kept with the type and name of
both ends so that ListAssociations filters and sorts in SQL. An end may be a trial component (a job's, which the
experiments store holds): its type and name are read from its ARN.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import JSON, ColumnElement, Index, String, Text, delete, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.paging import Page, decode_token, encode_token
from modelbay.store.metadata.records import Clock, RecordExists, RecordNotFound, delete_tags, utc_now
from modelbay.store.metadata.tables import Base, BigSerial, UtcDateTime


class LineageType(StrEnum):
    """What a vertex of the lineage graph is (QueryLineage's LineageType)."""

    TRIAL_COMPONENT = "TrialComponent"
    ARTIFACT = "Artifact"
    CONTEXT = "Context"
    ACTION = "Action"


Kind = Literal[LineageType.ARTIFACT, LineageType.ACTION, LineageType.CONTEXT]  # what this store holds
# A job's trial component: experiment-trial-component/<job name>-aws-<kind>-job, its Type by the suffix.
_TRIAL_COMPONENT_TYPES = {"-aws-training-job": "TrainingJob", "-aws-processing-job": "ProcessingJob",
                          "-aws-transform-job": "TransformJob"}
_ARN_KINDS = {"artifact": LineageType.ARTIFACT, "action": LineageType.ACTION, "context": LineageType.CONTEXT,
              "experiment-trial-component": LineageType.TRIAL_COMPONENT}


class LineageEntityRow(Base):
    """One artifact, action or context (see LineageEntity for the columns' meaning)."""

    __tablename__ = "lineage_entities"
    __table_args__ = (Index(None, "kind", "source_uri"), Index(None, "kind", "creation_time"))

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    arn: Mapped[str] = mapped_column(String(256), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(120))
    entity_type: Mapped[str] = mapped_column(String(256))
    source_uri: Mapped[str] = mapped_column(Text)
    source: Mapped[dict[str, Any]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(16))
    properties: Mapped[dict[str, str]] = mapped_column(JSON)
    metadata_properties: Mapped[dict[str, str] | None] = mapped_column(JSON)
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)
    last_modified_time: Mapped[datetime] = mapped_column(UtcDateTime)


class AssociationRow(Base):
    """One association: an edge from `source_arn` to `destination_arn`, with both ends' type and name."""

    __tablename__ = "lineage_associations"
    __table_args__ = (Index(None, "source_arn", "destination_arn", unique=True), Index(None, "destination_arn"))

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    source_arn: Mapped[str] = mapped_column(String(256))
    destination_arn: Mapped[str] = mapped_column(String(256))
    association_type: Mapped[str | None] = mapped_column(String(16))
    source_type: Mapped[str | None] = mapped_column(String(256))
    destination_type: Mapped[str | None] = mapped_column(String(256))
    source_name: Mapped[str | None] = mapped_column(String(120))
    destination_name: Mapped[str | None] = mapped_column(String(120))
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class LineageEntity:
    """An artifact, action or context as stored.

    `type` is its ArtifactType, ActionType or ContextType; `source` the wire Source whole (SourceUri, and an
    artifact's SourceTypes or an action's or context's SourceType and SourceId); `status` an action's only.
    """

    arn: str
    kind: LineageType
    name: str | None
    type: str
    source: dict[str, Any]
    description: str | None
    status: str | None
    properties: dict[str, str]
    metadata_properties: dict[str, str] | None
    creation_time: datetime
    last_modified_time: datetime


@dataclass(frozen=True)
class Association:
    """An association as ListAssociations shows it."""

    source_arn: str
    destination_arn: str
    association_type: str | None
    source_type: str | None
    destination_type: str | None
    source_name: str | None
    destination_name: str | None
    creation_time: datetime


@dataclass(frozen=True)
class Vertex:
    """A lineage graph's vertex as QueryLineage filters it; a trial component's times and properties are unknown
    here (None, empty)."""

    arn: str
    lineage_type: LineageType
    type: str | None
    creation_time: datetime | None = None
    last_modified_time: datetime | None = None
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Tracked:
    """An entity SageMaker records on its own: found by its kind and SourceUri, or made (`name` for an action or a
    context, `source_type` its Source's SourceType)."""

    kind: Kind
    source_uri: str
    type: str
    name: str | None = None
    source_type: str | None = None


End = Tracked | str  # one end of a recorded association: an entity to find or make, or an ARN (a trial component)


@dataclass(frozen=True)
class AssociationFilter:
    """ListAssociations' filters: each one given narrows the listing; times are exclusive bounds."""

    source_arn: str | None = None
    destination_arn: str | None = None
    source_type: str | None = None
    destination_type: str | None = None
    association_type: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


class LineageEntityNotFound(RecordNotFound):
    """No artifact, action or context has this ARN (or SourceUri)."""


class AssociationNotFound(RecordNotFound):
    """No association joins these two ARNs."""


class AssociationExists(Exception):
    """The two ARNs are associated already."""


def lineage_type_of(arn: str) -> LineageType | None:
    """The LineageType an ARN names by its resource type (None for an experiment, or anything else)."""
    resource = arn.split(":", 5)[-1]
    return _ARN_KINDS.get(resource.split("/", 1)[0])


def entity_arn(account: str, kind: Kind, name: str | None = None) -> str:
    """The ARN of a new entity in `account` (arn:aws:sagemaker:<region>:<account id>): an action's or a context's by
    its name, lower-cased; an artifact's a new random id."""
    return f"{account}:{kind.value.lower()}/{uuid.uuid4().hex if name is None else name.lower()}"


def trial_component_vertex(arn: str) -> Vertex:
    """A job's trial component as a vertex, its Type read from its name's suffix."""
    name = arn.rsplit("/", 1)[-1]
    found = next((kind for suffix, kind in _TRIAL_COMPONENT_TYPES.items() if name.endswith(suffix)), None)
    return Vertex(arn, LineageType.TRIAL_COMPONENT, found)


class LineageRepository:
    """Lineage entities by ARN and the associations between ARNs. Each method is one transaction; times come from
    `clock`."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    # -- entities -----------------------------------------------------------------------

    def create(self, kind: Kind, arn: str, name: str | None, entity_type: str, source: dict[str, Any], *,
               description: str | None = None, status: str | None = None, properties: dict[str, str] | None = None,
               metadata_properties: dict[str, str] | None = None) -> LineageEntity:
        """Store a new entity, created now. Raises RecordExists, writing nothing, if one has this ARN."""
        with self._db.write(lock=f"lineage {arn}") as session:
            if session.scalar(select(LineageEntityRow.id).where(LineageEntityRow.arn == arn)) is not None:
                raise RecordExists(arn)
            now = self._clock()
            row = LineageEntityRow(arn=arn, kind=kind.value, name=name, entity_type=entity_type,
                                   source_uri=source["SourceUri"], source=source, description=description,
                                   status=status, properties=properties or {}, metadata_properties=metadata_properties,
                                   creation_time=now, last_modified_time=now)
            session.add(row)
            return _entity(row)

    def get(self, arn: str) -> LineageEntity | None:
        """The entity with this ARN, or None."""
        with self._db.read() as session:
            row = session.scalar(select(LineageEntityRow).where(LineageEntityRow.arn == arn))
            return None if row is None else _entity(row)

    def find(self, kind: Kind, source_uri: str) -> LineageEntity | None:
        """The oldest entity of this kind with this SourceUri, or None."""
        with self._db.read() as session:
            row = _oldest(session, kind, source_uri)
            return None if row is None else _entity(row)

    def list(self, kind: Kind, *, source_uri: str | None = None, entity_type: str | None = None,
             created_after: datetime | None = None, created_before: datetime | None = None,
             sort_by: Literal["Name", "CreationTime"] = "CreationTime", ascending: bool = False,
             after_token: str | None = None, limit: int = 10) -> Page[LineageEntity]:
        """Up to `limit` entities of this kind that match every filter given, in order; times are exclusive."""
        row = LineageEntityRow
        conditions = [row.kind == kind.value, *_equal((row.source_uri, source_uri), (row.entity_type, entity_type)),
                      *_between(row.creation_time, created_after, created_before)]
        column = row.name if sort_by == "Name" else row.creation_time
        order = (column.asc(), row.id.asc()) if ascending else (column.desc(), row.id.desc())
        scope = f"lineage {kind} {source_uri} {entity_type} {created_after} {created_before} {sort_by} {ascending}"
        return self._page(select(row).where(*conditions).order_by(*order), scope, after_token, limit, _entity)

    def update(self, arn: str, *, name: str | None = None, description: str | None = None,
               status: str | None = None, properties: dict[str, str] | None = None,
               properties_to_remove: Sequence[str] = ()) -> LineageEntity:
        """Change what is given (None keeps a member): `properties` replaces the entity's, then the keys of
        `properties_to_remove` go. Raises LineageEntityNotFound."""
        with self._db.write(lock=f"lineage {arn}") as session:
            row = _find(session, arn)
            for column, value in (("name", name), ("description", description), ("status", status),
                                  ("properties", properties)):
                if value is not None:
                    setattr(row, column, value)
            removed = set(properties_to_remove)
            row.properties = {key: value for key, value in row.properties.items() if key not in removed}
            row.last_modified_time = self._clock()
            if name is not None:
                _rename_ends(session, arn, name)
            return _entity(row)

    def delete(self, arn: str) -> LineageEntity:
        """Remove the entity, its tags and every association to or from it. Raises LineageEntityNotFound."""
        with self._db.write(lock=f"lineage {arn}") as session:
            row = _find(session, arn)
            session.execute(delete(AssociationRow).where(
                or_(AssociationRow.source_arn == arn, AssociationRow.destination_arn == arn)))
            delete_tags(session, arn)
            session.delete(row)
            return _entity(row)

    # -- associations -------------------------------------------------------------------

    def associate(self, source_arn: str, destination_arn: str, association_type: str | None) -> Association:
        """Add the association. Raises LineageEntityNotFound for an end that is an unknown artifact, action or context
        (a trial component is not checked), AssociationExists if the two are associated already."""
        with self._db.write(lock=f"lineage association {source_arn} {destination_arn}") as session:
            if _association(session, source_arn, destination_arn) is not None:
                raise AssociationExists(f"{source_arn} -> {destination_arn}")
            row = self._associate(session, source_arn, destination_arn, association_type)
            return _association_record(row)

    def disassociate(self, source_arn: str, destination_arn: str) -> None:
        """Remove the association. Raises AssociationNotFound."""
        with self._db.write() as session:
            row = _association(session, source_arn, destination_arn)
            if row is None:
                raise AssociationNotFound(f"{source_arn} -> {destination_arn}")
            session.delete(row)

    def associations(self, filters: AssociationFilter = AssociationFilter(), sort_by: str = "CreationTime",
                     ascending: bool = False, after_token: str | None = None,
                     limit: int = 10) -> Page[Association]:
        """Up to `limit` associations that match every filter given, in order (`sort_by` is ListAssociations')."""
        row = AssociationRow
        conditions = [*_equal((row.source_arn, filters.source_arn), (row.destination_arn, filters.destination_arn),
                              (row.source_type, filters.source_type),
                              (row.destination_type, filters.destination_type),
                              (row.association_type, filters.association_type)),
                      *_between(row.creation_time, filters.created_after, filters.created_before)]
        column = {"SourceArn": row.source_arn, "DestinationArn": row.destination_arn, "SourceType": row.source_type,
                  "DestinationType": row.destination_type}.get(sort_by, row.creation_time)
        order = (column.asc(), row.id.asc()) if ascending else (column.desc(), row.id.desc())
        scope = f"associations {filters} {sort_by} {ascending}"
        return self._page(select(row).where(*conditions).order_by(*order), scope, after_token, limit,
                          _association_record)

    def edges(self, arns: Iterable[str], descendants: bool) -> builtins.list[Association]:
        """The associations leaving `arns` (descendants) or arriving at them (ascendants), oldest first."""
        wanted = list(arns)
        end = AssociationRow.source_arn if descendants else AssociationRow.destination_arn
        with self._db.read() as session:
            rows = session.scalars(select(AssociationRow).where(end.in_(wanted)).order_by(AssociationRow.id))
            return [_association_record(row) for row in rows]

    def vertices(self, arns: Iterable[str]) -> dict[str, Vertex]:
        """The vertices these ARNs stand for: stored entities and trial components (unknown ARNs are left out)."""
        wanted = set(arns)
        with self._db.read() as session:
            rows = session.scalars(select(LineageEntityRow).where(LineageEntityRow.arn.in_(wanted)))
            found = {row.arn: Vertex(row.arn, LineageType(row.kind), row.entity_type, row.creation_time,
                                     row.last_modified_time, row.properties) for row in rows}
        return found | {arn: trial_component_vertex(arn) for arn in wanted - found.keys()
                        if lineage_type_of(arn) is LineageType.TRIAL_COMPONENT}

    # -- SageMaker's own records ----------------------------------------------------------

    def record(self, account: str, links: Sequence[tuple[End, End, str]]) -> None:
        """Record associations (source, destination, type) as SageMaker does for its jobs, endpoints and model
        packages, in one transaction: each Tracked end is the entity of its kind and SourceUri if there is one (else the
        action or context of its name, else a new one in `account`); an association that exists is kept as it is."""
        with self._db.write(lock="lineage record") as session:
            arns: dict[Tracked, str] = {}
            for source, destination, association_type in links:
                source_arn, destination_arn = (self._tracked(session, account, end, arns)
                                               for end in (source, destination))
                if _association(session, source_arn, destination_arn) is None:
                    self._associate(session, source_arn, destination_arn, association_type)

    def _tracked(self, session: Session, account: str, tracked: End, arns: dict[Tracked, str]) -> str:
        """The ARN of an association's end: an ARN as given, a Tracked entity's found (or made) once per record."""
        if isinstance(tracked, str):
            return tracked
        if tracked in arns:
            return arns[tracked]
        row = _oldest(session, tracked.kind, tracked.source_uri)
        if row is None and tracked.name is not None:
            row = session.scalar(select(LineageEntityRow).where(
                LineageEntityRow.arn == entity_arn(account, tracked.kind, tracked.name)))
        if row is None:
            now = self._clock()
            source = {"SourceUri": tracked.source_uri} | ({} if tracked.source_type is None
                                                          else {"SourceType": tracked.source_type})
            row = LineageEntityRow(arn=entity_arn(account, tracked.kind, tracked.name), kind=tracked.kind.value,
                                   name=tracked.name, entity_type=tracked.type, source_uri=tracked.source_uri,
                                   source=source, description=None, status=None, properties={},
                                   metadata_properties=None, creation_time=now, last_modified_time=now)
            session.add(row)
            session.flush()
        arns[tracked] = row.arn
        return row.arn

    def _associate(self, session: Session, source_arn: str, destination_arn: str,
                   association_type: str | None) -> AssociationRow:
        (source_type, source_name), (destination_type, destination_name) = (
            _type_and_name(session, arn) for arn in (source_arn, destination_arn))
        row = AssociationRow(source_arn=source_arn, destination_arn=destination_arn,
                             association_type=association_type, source_type=source_type,
                             destination_type=destination_type, source_name=source_name,
                             destination_name=destination_name, creation_time=self._clock())
        session.add(row)
        session.flush()
        return row

    def _page(self, query: Any, scope: str, after_token: str | None, limit: int, convert: Any) -> Page[Any]:
        """A page of `query`'s rows after the position `after_token` names (an offset into the listing)."""
        start = 0 if after_token is None else decode_token(scope, after_token)
        with self._db.read() as session:
            rows = list(session.scalars(query.offset(start).limit(limit + 1)))
            items = [convert(row) for row in rows[:limit]]
        return Page(items, encode_token(scope, start + limit) if len(rows) > limit else None)


def _entity(row: LineageEntityRow) -> LineageEntity:
    return LineageEntity(arn=row.arn, kind=LineageType(row.kind), name=row.name, type=row.entity_type,
                         source=row.source, description=row.description, status=row.status,
                         properties=row.properties, metadata_properties=row.metadata_properties,
                         creation_time=row.creation_time, last_modified_time=row.last_modified_time)


def _association_record(row: AssociationRow) -> Association:
    return Association(source_arn=row.source_arn, destination_arn=row.destination_arn,
                       association_type=row.association_type, source_type=row.source_type,
                       destination_type=row.destination_type, source_name=row.source_name,
                       destination_name=row.destination_name, creation_time=row.creation_time)


def _find(session: Session, arn: str) -> LineageEntityRow:
    row = session.scalar(select(LineageEntityRow).where(LineageEntityRow.arn == arn))
    if row is None:
        raise LineageEntityNotFound(arn)
    return row


def _oldest(session: Session, kind: Kind, source_uri: str) -> LineageEntityRow | None:
    return session.scalar(select(LineageEntityRow).where(
        LineageEntityRow.kind == kind.value, LineageEntityRow.source_uri == source_uri).order_by(
        LineageEntityRow.id).limit(1))


def _association(session: Session, source_arn: str, destination_arn: str) -> AssociationRow | None:
    return session.scalar(select(AssociationRow).where(AssociationRow.source_arn == source_arn,
                                                       AssociationRow.destination_arn == destination_arn))


def _type_and_name(session: Session, arn: str) -> tuple[str | None, str | None]:
    """An association end's type and name: a stored entity's, a trial component's from its ARN, nothing for another
    kind of ARN (an experiment). Raises LineageEntityNotFound for an unknown artifact, action or context."""
    kind = lineage_type_of(arn)
    if kind is LineageType.TRIAL_COMPONENT:
        return trial_component_vertex(arn).type, arn.rsplit("/", 1)[-1]
    if kind is None:
        return None, None
    row = _find(session, arn)
    return row.entity_type, row.name


def _rename_ends(session: Session, arn: str, name: str) -> None:
    """An artifact renamed: the associations that name it say its new name."""
    for row in session.scalars(select(AssociationRow).where(
            or_(AssociationRow.source_arn == arn, AssociationRow.destination_arn == arn))):
        if row.source_arn == arn:
            row.source_name = name
        if row.destination_arn == arn:
            row.destination_name = name


def _equal(*pairs: tuple[Any, Any]) -> list[ColumnElement[bool]]:
    return [column == value for column, value in pairs if value is not None]


def _between(column: Any, after: datetime | None, before: datetime | None) -> list[ColumnElement[bool]]:
    return ([column > after] if after is not None else []) + ([column < before] if before is not None else [])
