"""Who leads the control plane: the lock one server holds while it runs the controllers, and the leader's record.

Several servers may share one PostgreSQL database (behind one load balancer); one of them at a time runs the
controllers. The lead is a session-level advisory lock, held on a connection of its own: it lasts as long as that
connection, so a leader that dies (or is cut off from the database) loses it, and another server takes it.
On SQLite, the embedded store of one server, that server leads from the start (`SoleLock`).

The record names the leader (as `modelbay cluster` shows it) and the cluster view it last published: the nodes
instances run on, each a dict of runtime.base.Node's fields. The leader renews it every few seconds.
"""

from __future__ import annotations

import abc
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, Integer, String, create_engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.pool import NullPool

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.records import Clock, utc_now
from modelbay.store.metadata.tables import Base, UtcDateTime

log = logging.getLogger(__name__)

_ROW_ID = 1  # the table holds one row: the current (or last) leader's
# How soon a broken link to the database ends the lead on each side (seconds): the leader's own check fails within
# CLIENT_TIMEOUT_S of the database becoming unreachable, and the database releases the lock of a leader whose
# machine went silent after about SERVER_KEEPALIVE_S, later than that: the old leader has stopped acting before
# another one can take over.
CLIENT_TIMEOUT_S = 2
SERVER_KEEPALIVE_S = (2, 1, 3)  # idle seconds before the first probe, seconds between probes, probes lost


class LeaderRow(Base):
    """The leader's record (one row, see LeaderRecord)."""

    __tablename__ = "leadership"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    server: Mapped[str] = mapped_column(String(512))
    url: Mapped[str] = mapped_column(String(512))
    since: Mapped[datetime] = mapped_column(UtcDateTime)
    renewed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    nodes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


@dataclass(frozen=True)
class LeaderRecord:
    """The server that leads (or last led): its id (its URL and pid), its URL, when it took the lead, when it last
    renewed this record, and the nodes instances run on as it last saw them (runtime.base.Node's fields)."""

    server: str
    url: str
    since: datetime
    renewed_at: datetime
    nodes: tuple[dict[str, Any], ...]


class LeadershipRepository:
    """The leader's record, and the lock that makes a server the leader."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    def leader(self) -> LeaderRecord | None:
        """The leader's record; None if no server has led yet."""
        with self._db.read() as session:
            row = session.get(LeaderRow, _ROW_ID)
            if row is None:
                return None
            return LeaderRecord(row.server, row.url, row.since, row.renewed_at, tuple(row.nodes))

    def claim(self, server: str, url: str) -> None:
        """Record `server` (at `url`) as the leader from now on, with no nodes seen yet (the new leader calls it
        once it holds the lock)."""
        now = self._clock()
        with self._db.write() as session:
            row = session.get(LeaderRow, _ROW_ID)
            if row is None:
                row = LeaderRow(id=_ROW_ID)
                session.add(row)
            row.server, row.url, row.since, row.renewed_at, row.nodes = server, url, now, now, []

    def renew(self, server: str, nodes: list[dict[str, Any]]) -> None:
        """Record that `server` still leads, and the nodes it sees now. Nothing changes if another server has
        claimed the lead since (a leader that lost its lock leaves its successor's record alone)."""
        with self._db.write(lock="leadership") as session:
            row = session.get(LeaderRow, _ROW_ID)
            if row is not None and row.server == server:
                row.renewed_at, row.nodes = self._clock(), nodes

    def lock(self) -> LeaderLock:
        """The lock whose holder leads: an advisory lock on PostgreSQL (one per schema), SoleLock on SQLite."""
        if self._db.engine.dialect.name != "postgresql":
            return SoleLock()
        with self._db.read() as session:
            schema = session.scalar(select(func.current_schema()))
        return SessionLock(self._db, f"modelbay leader of schema {schema}")


class LeaderLock(abc.ABC):
    """Held by one server at a time. Used from one thread at a time."""

    is_contested = True  # whether other servers may take it (then its holder checks it often)

    @abc.abstractmethod
    def hold(self) -> bool:
        """Whether this server holds the lock now: take it if it is free; if it was held, check that it still is
        (False once it was lost, until it is taken again)."""

    def release(self) -> None:  # noqa: B027 - a lock held by nothing has nothing to release
        """Let another server take the lock."""


class SoleLock(LeaderLock):
    """The lock of a store only one server uses (SQLite): always held."""

    is_contested = False

    def hold(self) -> bool:
        return True


class SessionLock(LeaderLock):
    """A PostgreSQL session-level advisory lock on a connection of its own (not the pool's), in autocommit mode,
    with TCP keepalives both ways (see CLIENT_TIMEOUT_S), so that the lock ends with its holder."""

    def __init__(self, db: Database, name: str) -> None:
        self._engine = create_engine(db.engine.url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                                     connect_args={"tcp_user_timeout": CLIENT_TIMEOUT_S * 1000, "keepalives": 1,
                                                   "keepalives_idle": 1, "keepalives_interval": 1,
                                                   "keepalives_count": CLIENT_TIMEOUT_S})
        self._key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
        self._connection: Connection | None = None
        self._is_held = False

    def hold(self) -> bool:
        try:
            connection = self._connect()
            if not self._is_held:
                self._is_held = bool(connection.scalar(select(func.pg_try_advisory_lock(self._key))))
            else:
                connection.execute(text("SELECT 1"))  # the session lives, so its lock is held
        except DBAPIError as error:
            log.warning("the connection holding (or trying for) the lead broke: %s", error)
            self._close()
        return self._is_held

    def release(self) -> None:
        """Unlock before closing: the database ends a closed session (and frees its locks) only after the close has
        returned, so another server asking at once could still find the lock taken."""
        if self._is_held and self._connection is not None:
            try:
                self._connection.scalar(select(func.pg_advisory_unlock(self._key)))
            except DBAPIError:
                log.debug("unlocking on a broken connection failed; closing it ends the lock", exc_info=True)
        self._close()
        self._engine.dispose()

    def _connect(self) -> Connection:
        if self._connection is None:
            connection = self._engine.connect()
            for setting, value in zip(("idle", "interval", "count"), SERVER_KEEPALIVE_S, strict=True):
                connection.execute(text(f"SET tcp_keepalives_{setting} = {value}"))
            self._connection = connection
        return self._connection

    def _close(self) -> None:
        """Drop the connection, and the lock with it."""
        connection, self._connection, self._is_held = self._connection, None, False
        if connection is not None:
            try:
                connection.close()
            except DBAPIError:
                log.debug("closing a broken connection failed", exc_info=True)
