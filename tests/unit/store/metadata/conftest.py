"""The metadata store's backends: a SQLite file in a temp dir, and a fresh PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from modelbay.store.metadata import MetadataStore, open_metadata_store
from modelbay.store.metadata.tables import Base
from tests.conftest import POSTGRES_ADMIN_URL
from tests.helpers import Clock

# CREATE and DROP DATABASE run from the maintenance database, never from the one they change.
POSTGRES_SERVER_URL = make_url(POSTGRES_ADMIN_URL).set(database="postgres")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, uniquely named, empty database for one test (so parallel runs never meet); dropped after."""
    name = f"modelbay_test_{uuid.uuid4().hex}"
    admin = create_engine(POSTGRES_SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield POSTGRES_SERVER_URL.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def end_advisory_lock_sessions(database_url: str) -> list[bool]:
    """pg_terminate_backend of every session holding an advisory lock in the database at `database_url` (and no
    other database's: tests in parallel each have their own), as when a leader's process dies."""
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            return list(connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")).scalars())
    finally:
        admin.dispose()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@contextmanager
def new_database(backend: str, directory: Path) -> Iterator[str]:
    """The URL of a new, empty database (no tables) on `backend`: a SQLite file in `directory`, or a fresh
    PostgreSQL database, dropped after."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'metadata.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def metadata_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database (no tables) on each backend."""
    with new_database(backend, tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def shared_postgres_url() -> Iterator[str]:
    """One PostgreSQL database for the tests that only need empty tables (creating one costs ~0.2 s)."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest, clock: Clock) -> Iterator[MetadataStore]:
    """A store migrated to head with empty tables, on each backend, its times read from `clock`."""
    if backend == "sqlite":
        store = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}", clock)
    else:
        store = open_metadata_store(request.getfixturevalue("shared_postgres_url"), clock)
        quote = store.db.engine.dialect.identifier_preparer.format_table
        with store.db.write() as session:  # what earlier tests left, in one round trip (a DELETE each took 30 ms)
            session.execute(text("; ".join(f"DELETE FROM {quote(table)}" for table in reversed(
                Base.metadata.sorted_tables))))
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def clock() -> Clock:
    """The repositories' clock: one second on at each reading, from T0."""
    return Clock()
