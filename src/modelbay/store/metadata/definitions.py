"""Models and endpoint configs: named, immutable resources, each described by the request that created it.

Both kinds behave alike (create once, read, list, delete), so one repository class serves
both, over a table each. The tables live here rather than in tables.py: nothing else refers to them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import JSON, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.paging import Page
from modelbay.store.metadata.records import (
    NO_FILTER,
    Clock,
    ListFilter,
    SortKey,
    check_unique,
    delete_tags,
    get_row,
    list_rows,
    utc_now,
)
from modelbay.store.metadata.search_index import SearchDocument, indexes
from modelbay.store.metadata.tables import ResourceRow


class DefinitionRow(ResourceRow):
    """The columns models and endpoint configs share (an abstract table: each kind has its own)."""

    __abstract__ = True

    request: Mapped[dict[str, Any]] = mapped_column(JSON)


class ModelRow(DefinitionRow):
    """One model: its CreateModel request as the service stored it."""

    __tablename__ = "models"


@indexes(ModelRow)
def _model_documents(session: Session, row: ModelRow) -> Iterable[SearchDocument]:
    """The model as Search's Model record holds it: DescribeModel's members under "Model" ("Model.ModelName")."""
    model = row.request | {"ModelName": row.name, "ModelArn": row.arn, "CreationTime": row.creation_time}
    return [SearchDocument("Model", row.arn, {"Model": model})]


class EndpointConfigRow(DefinitionRow):
    """One endpoint config: its CreateEndpointConfig request as the service stored it."""

    __tablename__ = "endpoint_configs"


@dataclass(frozen=True)
class Definition:
    """A model or an endpoint config as stored; `request` holds JSON values only and never changes."""

    name: str
    arn: str
    request: dict[str, Any]
    creation_time: datetime


@dataclass(frozen=True)
class Model(Definition):
    """A model; `request` is its CreateModel request as the service stored it."""

    @property
    def containers(self) -> list[dict[str, Any]]:
        return model_containers(self.request)


@dataclass(frozen=True)
class EndpointConfig(Definition):
    """An endpoint config; `request` is its CreateEndpointConfig request, variants with their defaults."""

    @property
    def production_variants(self) -> list[dict[str, Any]]:
        variants: list[dict[str, Any]] = self.request["ProductionVariants"]
        return variants


def model_containers(request: dict[str, Any]) -> list[dict[str, Any]]:
    """A CreateModel request's ContainerDefinitions in order: its PrimaryContainer, or its Containers."""
    if "PrimaryContainer" in request:
        return [request["PrimaryContainer"]]
    containers: list[dict[str, Any]] = request["Containers"]
    return containers


D = TypeVar("D", bound=Definition)


class DefinitionRepository(Generic[D]):
    """Models (or endpoint configs) by name, as `kind`. Each write is one transaction; times come from `clock`."""

    def __init__(self, db: Database, row: type[DefinitionRow], kind: type[D], clock: Clock = utc_now) -> None:
        self._db = db
        self._row = row
        self._kind = kind
        self._clock = clock

    def create(self, name: str, arn: str, request: dict[str, Any]) -> D:
        """Store a new one, created now. Raises RecordExists, writing nothing, if one has this name or ARN."""
        with self._db.write(lock=f"{self._row.__tablename__} create") as session:
            check_unique(session, self._row, name, arn)
            row = self._row(name=name, arn=arn, request=request, creation_time=self._clock())
            session.add(row)
            return self._definition(row)

    def get(self, name: str) -> D | None:
        """The one with this name (names are case-sensitive), or None."""
        return get_row(self._db, self._row, name, self._definition)

    def list(self, filters: ListFilter = NO_FILTER, sort_by: SortKey = "CreationTime", ascending: bool = False,
             after_token: str | None = None, limit: int = 10) -> Page[D]:
        """A page in order (see records.list_rows); only the name and creation-time filters apply."""
        return list_rows(self._db, self._row, self._definition, filters, sort_by, ascending, after_token, limit)

    def _definition(self, row: DefinitionRow) -> D:
        return self._kind(name=row.name, arn=row.arn, request=row.request, creation_time=row.creation_time)

    def delete(self, name: str) -> D | None:
        """Remove the one with this name and its tags, in one transaction; answer what was removed, or None."""
        with self._db.write() as session:
            row = session.scalar(select(self._row).where(self._row.name == name))
            if row is None:
                return None
            delete_tags(session, row.arn)
            session.delete(row)
            return self._definition(row)

