"""Which tables the store's writers have changed: one counter per table, raised by every write transaction that
changes the table, in that transaction.

Controllers with nothing to do wait for a write to the tables their work comes from instead of asking for their
work several times a second (controllers/changes.py). The writer may be any process on the database (a front-door
worker, another server on the same PostgreSQL), so the counters live in the database: a reader sees a table's
counter move only once the rows that moved it are visible too.

A process hears of its own writes at once (Database.add_change_listener), without reading the counters.

The tables a transaction changed are gathered from its session: the objects each flush wrote, and the INSERT,
UPDATE and DELETE statements it executed (every write goes through Database.write).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Connection, String, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, UOWTransaction, mapped_column

from modelbay.store.metadata.tables import Base

if TYPE_CHECKING:
    from modelbay.store.metadata.database import Database

_CHANGED = "modelbay_changed_tables"  # the session.info key of the tables a transaction changed


class ChangeRow(Base):
    """How many committed write transactions have changed table `family`."""

    __tablename__ = "changes"

    family: Mapped[str] = mapped_column(String(128), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)


def track(session: Session, _flush: UOWTransaction) -> None:
    """Session hook (after_flush): note the tables of the objects this flush wrote."""
    written = (*session.new, *session.dirty, *session.deleted)
    session.info.setdefault(_CHANGED, set()).update(type(row).__table__.name for row in written)


def track_statement(state: ORMExecuteState) -> None:
    """Session hook (do_orm_execute): note the table of an INSERT, UPDATE or DELETE statement."""
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info.setdefault(_CHANGED, set()).add(state.statement.table.name)  # type: ignore[attr-defined]


def record(session: Session) -> frozenset[str]:
    """At the end of a write transaction, before it commits: raise the counter of every table it changed; answer
    those tables."""
    session.flush()
    changed = frozenset(session.info.pop(_CHANGED, ()))
    if changed:
        _raise(session.connection(), sorted(changed))  # in one order: concurrent writers cannot deadlock
    return changed


def _raise(connection: Connection, families: list[str]) -> None:
    connection.execute(_RAISE[connection.dialect.name], [{"family": family} for family in families])


def _upsert(insert: Any) -> Any:
    """Add a table's counter at 1, or raise it by one: one statement, compiled once (its family a parameter)."""
    statement = insert(ChangeRow).values(family=bindparam("family"), generation=1)
    return statement.on_conflict_do_update(index_elements=[ChangeRow.family],
                                           set_={"generation": ChangeRow.generation + 1})


_RAISE = {"sqlite": _upsert(sqlite.insert), "postgresql": _upsert(postgresql.insert)}


class ChangeCounters:
    """The counters, for those who wait on them, and this process's changes as they commit."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.add_listener = db.add_change_listener

    def generations(self) -> dict[str, int]:
        """Every changed table's counter."""
        with self._db.read() as session:
            rows = session.execute(select(ChangeRow.family, ChangeRow.generation))
            return {family: generation for family, generation in rows}
