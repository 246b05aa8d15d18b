"""The service functions' context: a request over a real SQLite metadata store, with no execution behind it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay.config import Settings
from modelbay.platform import Platform
from modelbay.security.principal import Principal
from modelbay.services.base import Context
from modelbay.store.metadata import MetadataStore, open_metadata_store
from tests.helpers import Clock


@pytest.fixture
def clock() -> Clock:
    """The metadata store's clock: one second on at each reading, unless a test sets its step."""
    return Clock()


@pytest.fixture
def metadata(tmp_path: Path, clock: Clock) -> Iterator[MetadataStore]:
    """A SQLite metadata store whose repositories read `clock`."""
    store = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}", clock=clock)
    yield store
    store.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def region() -> str:
    """The region the request is signed for."""
    return "eu-west-1"


@pytest.fixture
def principal() -> Principal:
    return Principal(access_key_id="AKIDTEST", account_id="123456789012")


@pytest.fixture
def ctx(metadata: MetadataStore, settings: Settings, region: str, principal: Principal) -> Context:
    """A request's context; recording never touches the object store or the logs, so the platform has neither."""
    platform = Platform(settings=settings, metadata=metadata, objects=None, logs=None)  # type: ignore[arg-type]
    return Context(platform=platform, request_id="req-1", region=region, principal=principal)
