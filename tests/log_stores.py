"""Log stores on each backend, for tests: files in a directory, or the tables of a PostgreSQL database.

A test gets an opener: each call opens another store on the same place, as a restarted server, or another server
sharing the database, would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from modelbay.monitoring.log_database import DatabaseLogStore
from modelbay.monitoring.log_files import FileLogStore
from modelbay.monitoring.logs import LogStore
from modelbay.store.metadata import MetadataStore, open_metadata_store
from modelbay.store.metadata.log_events import LogGroupRow
from tests.unit.store.metadata.conftest import fresh_postgres_database

Opener = Callable[[], LogStore]
BACKENDS: list[Any] = ["files", pytest.param("database", marks=pytest.mark.postgresql)]


@contextmanager
def log_database() -> Iterator[str]:
    """The URL of a new PostgreSQL database migrated to head (migrating takes a second or two: share it)."""
    with fresh_postgres_database() as url:
        open_metadata_store(url).close()
        yield url


@contextmanager
def log_store_opener(root: Path, database_url: str | None) -> Iterator[Opener]:
    """An opener of stores on one place: files under `root`, or (given `database_url`) that database, whose log
    tables are emptied first."""
    if database_url is None:
        yield lambda: FileLogStore(root)
        return
    opened: list[MetadataStore] = []

    def open_database_store() -> LogStore:
        opened.append(open_metadata_store(database_url))
        return DatabaseLogStore(opened[-1].db)

    try:
        open_database_store()
        with opened[0].db.write() as session:  # what earlier tests left (their streams and events go with them)
            session.execute(delete(LogGroupRow))
        yield open_database_store
    finally:
        for metadata in opened:
            metadata.close()
