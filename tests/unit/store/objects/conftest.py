"""The `object_store` fixture: every backend, for the one suite in test_backends.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelbay.config import Settings
from modelbay.store.objects import LocalObjectStore, ObjectStore, open_object_store
from tests.unit.store.objects.fake_keys import FakeKeyRing


@pytest.fixture(scope="session")
def s3_object_store(moto_url: str) -> ObjectStore:
    """The S3 backend on moto's server, built from settings as the server builds it."""
    settings = Settings(s3_endpoint_url=moto_url, s3_access_key_id="AKIDTEST", s3_secret_access_key="secret")
    store = open_object_store(settings)
    assert type(store).__name__ == "S3ObjectStore"
    store.default_keys = FakeKeyRing()  # SSE-KMS objects are encrypted: the server's stores have its key ring
    return store


@pytest.fixture(params=["local", "s3"])
def object_store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "s3":
        store: ObjectStore = request.getfixturevalue("s3_object_store")
        return store
    store = open_object_store(Settings(data_dir=tmp_path))
    assert isinstance(store, LocalObjectStore) and store.root == tmp_path / "objects"
    store.default_keys = FakeKeyRing()
    return store


@pytest.fixture
def bucket(object_store: ObjectStore, unique: str) -> str:
    """A new, empty bucket (names are unique: moto's server is shared by the session)."""
    object_store.create_bucket(unique, "us-east-1")
    return unique
