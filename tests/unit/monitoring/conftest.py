"""The log stores' backends for the monitoring tests: files, and one PostgreSQL database for the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.log_stores import BACKENDS, Opener, log_database, log_store_opener


@pytest.fixture(scope="session")
def log_database_url() -> Iterator[str]:
    with log_database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens log stores on one place of each backend (the database's log tables emptied for each test)."""
    url = request.getfixturevalue("log_database_url") if request.param == "database" else None
    with log_store_opener(tmp_path / "logs", url) as opener:
        yield opener
