"""Bringing a database's schema to the newest revision with Alembic, run from code.

No alembic.ini: the configuration is built here. To write a new revision, run for example
`alembic.command.revision(alembic_config(conn), "add training jobs", autogenerate=True)` with a
connection to a database at head, then review the generated file.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from modelbay.store.metadata.engine import for_writing, quoted, serialize

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Alembic's commands keep their context in module globals (alembic.context, alembic.op), so one
# thread at a time per process may run them, whatever database each one migrates.
_ALEMBIC_LOCK = threading.Lock()


def alembic_config(connection: Connection) -> Config:
    """An Alembic configuration whose env.py runs on `connection` (see migrations/env.py)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest revision, read from the migrations' scripts once a process: Alembic loads every script to find it
    (70-80 ms), and a store opened at head needs nothing else from them."""
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def upgrade_to_head(engine: Engine, schema: str | None = None) -> None:
    """Apply the migrations the database (or its PostgreSQL `schema`, created if need be) lacks, in one
    transaction; a no-op when it is at head, which one look at its revision tells.

    Safe when several processes or threads open the same database at once: the upgrade holds
    a lock (SQLite's write lock, PostgreSQL's advisory lock), so the others wait, then find it done.
    """
    with _ALEMBIC_LOCK, for_writing(engine).begin() as connection:
        serialize(connection, "modelbay schema migrations")
        if schema is not None:
            connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted(engine, schema)}")
        if MigrationContext.configure(connection).get_current_revision() != head_revision():
            command.upgrade(alembic_config(connection), "head")
