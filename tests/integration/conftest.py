"""Fixtures the integration tests share beyond tests/conftest.py."""

from __future__ import annotations

from typing import Any

import pytest

from modelbay.sdk import Session
from tests.helpers import ServerProcess


@pytest.fixture
def bucket(s3: Any, unique: str) -> str:
    """A fresh bucket holding one training channel, data/rows.csv."""
    s3.create_bucket(Bucket=unique)
    s3.put_object(Bucket=unique, Key="data/rows.csv", Body=b"1,2\n")
    return unique


@pytest.fixture(scope="module")
def session(server: ServerProcess) -> Session:
    """The SDK's session with the shared server."""
    return Session(url=server.url)
