"""Fixtures the integration tests share beyond tests/conftest.py."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def bucket(s3: Any, unique: str) -> str:
    """A fresh bucket holding one training channel, data/rows.csv."""
    s3.create_bucket(Bucket=unique)
    s3.put_object(Bucket=unique, Key="data/rows.csv", Body=b"1,2\n")
    return unique
