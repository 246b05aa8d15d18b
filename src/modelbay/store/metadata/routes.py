"""The endpoints' routing tables as the leading server published them, for the other servers to route by.

Each endpoint has one row: its table (a JSON value the controllers encode, controllers/route_book.py), or None once
withdrawn, and a version. Every change takes the next version of the whole table (one lock orders the writers, so
versions commit in order), so a server that has applied everything up to version v reads what changed after it with
`changed_since(v)`, withdrawals included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.tables import Base


class RouteRow(Base):
    """One endpoint's routing table (None: withdrawn) and the version of its last change."""

    __tablename__ = "routes"
    __table_args__ = (Index(None, "version", unique=True),)

    endpoint: Mapped[str] = mapped_column(String(63), primary_key=True)
    table: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(BigInteger)


@dataclass(frozen=True)
class RouteChange:
    endpoint: str
    table: dict[str, Any] | None  # None: the endpoint is no longer routed
    version: int


class RouteRepository:
    """The endpoints' published routing tables, by version."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def put(self, endpoint: str, table: dict[str, Any] | None) -> int:
        """Record the endpoint's table (None: withdraw it) as the next version, and return that version."""
        with self._db.write(lock="routes") as session:
            version = (session.scalar(select(func.max(RouteRow.version))) or 0) + 1
            row = session.get(RouteRow, endpoint)
            if row is None:
                session.add(RouteRow(endpoint=endpoint, table=table, version=version))
            else:
                row.table, row.version = table, version
            return version

    def changed_since(self, version: int) -> list[RouteChange]:
        """The endpoints whose table changed after `version` (0: every endpoint ever routed), oldest change first."""
        with self._db.read() as session:
            rows = session.scalars(select(RouteRow).where(RouteRow.version > version).order_by(RouteRow.version))
            return [RouteChange(row.endpoint, row.table, row.version) for row in rows]
