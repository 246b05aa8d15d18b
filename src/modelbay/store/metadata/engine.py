"""SQLAlchemy engines for the metadata store's two backends, and their locking quirks.

SQLite (the embedded default) runs in WAL mode so readers never block the writer; write
transactions start with BEGIN IMMEDIATE so concurrent writers queue on the busy timeout instead
of failing when a read lock cannot be upgraded. PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.engine import URL, make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
_WAL_SWITCH_RETRY_S = 0.01
_WRITE_OPTION = "modelbay_write"  # execution option read by the SQLite BEGIN hook


def create_metadata_engine(url: str, schema: str | None = None) -> Engine:
    """An Engine for `sqlite:///<file>` or `postgresql[+psycopg]://...` (its tables in `schema`, else in the
    search path's first schema); raise ValueError otherwise."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.get_driver_name() == "pysqlite" and schema is None:
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername in ("postgresql", "postgresql+psycopg"):
        engine = create_engine(parsed.set(drivername="postgresql+psycopg"), pool_pre_ping=True)
        if schema is not None:
            event.listen(engine, "connect", partial(_use_schema, quoted(engine, schema)))
        return engine
    if schema is not None:
        raise ValueError(f"a schema ({schema!r}) needs a PostgreSQL metadata store")
    raise ValueError(f"unsupported metadata store URL: {parsed.render_as_string(hide_password=True)!r} "
                     "(use sqlite:///<path> or postgresql://<user>@<host>/<database>)")


def quoted(engine: Engine, schema: str) -> str:
    """`schema` as an SQL identifier, quoted where it must be."""
    return engine.dialect.identifier_preparer.quote_identifier(schema)


def _use_schema(schema: str, dbapi_connection: Any, _record: Any) -> None:
    """Every session of the pool looks up and creates tables in `schema` (which need not exist yet: the
    migrations create it, see migrate.py)."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True  # so that the SET outlives the transaction it would otherwise start
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET SESSION search_path TO {schema}")
    dbapi_connection.autocommit = autocommit


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
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """Put the database in WAL mode (kept in the file, so a no-op once done).

    A connection switching a new database while another holds its write lock gets SQLITE_BUSY at
    once: SQLite skips the busy handler there (the switch upgrades a read lock, and waiting could
    deadlock). Processes opening one new database meet this, so the switch is tried again for as long
    as the busy timeout would have waited.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(_WAL_SWITCH_RETRY_S)


def _begin_sqlite(connection: Connection) -> None:
    is_write = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if is_write else "BEGIN")
