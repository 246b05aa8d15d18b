"""SQLAlchemy engines for the metadata store's two backends, and their locking quirks.

SQLite (the embedded default) runs in WAL mode so readers never block the writer; write
transactions start with BEGIN IMMEDIATE so concurrent writers queue on the busy timeout instead
of failing when a read lock cannot be upgraded. PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE_OPTION = "modelbay_write"  # execution option read by the SQLite BEGIN hook


def create_metadata_engine(url: str) -> Engine:
    """An Engine for `sqlite:///<file>` or `postgresql[+psycopg]://...`; raise ValueError otherwise."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.get_driver_name() == "pysqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername in ("postgresql", "postgresql+psycopg"):
        return create_engine(parsed.set(drivername="postgresql+psycopg"), pool_pre_ping=True)
    raise ValueError(f"unsupported metadata store URL: {parsed.render_as_string(hide_password=True)!r} "
                     "(use sqlite:///<path> or postgresql://<user>@<host>/<database>)")


def for_writing(engine: Engine) -> Engine:
    """The same engine (and pool), whose transactions take SQLite's write lock as they begin."""
    return engine.execution_options(**{_WRITE_OPTION: True})


def serialize(connection: Connection, name: str) -> None:
    """Hold a lock on `name` until the connection's transaction ends.

    PostgreSQL: a transaction-scoped advisory lock, so transactions naming the same lock run one
    after another. SQLite: nothing to do, as write transactions (see for_writing) already do.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(_lock_key(name))))


def _lock_key(name: str) -> int:
    """A signed 64-bit key for `name`, the same in every process (unlike hash())."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _sqlite_engine(url: URL) -> Engine:
    if url.database in (None, "", ":memory:"):
        raise ValueError("the SQLite metadata store needs a file: sqlite:///<path>")
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # The BEGIN hook below issues BEGIN itself, so sqlite3's own transaction handling is off.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:  # busy_timeout first: switching to WAL needs a lock another connection may hold
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    is_write = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if is_write else "BEGIN")
