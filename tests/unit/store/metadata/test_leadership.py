"""The leader's record and lock on every metadata backend: claimed by a new leader, renewed by it alone; on
PostgreSQL one store at a time holds the lock (one per schema), until it releases it or its connection ends; on
SQLite the one server holds it always."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from modelbay.store.metadata import MetadataStore, open_metadata_store
from modelbay.store.metadata.leadership import LeaderLock, SoleLock
from tests.helpers import T0
from tests.unit.store.metadata.conftest import end_advisory_lock_sessions, fresh_postgres_database

NODE = {"name": "n1", "address": "192.0.2.2", "zone": "a", "alive": True, "resources": {"CPU": 4.0},
        "free": {"CPU": 3.0}, "instances": ["i-1"]}


def test_no_leader_until_one_claims(store: MetadataStore) -> None:
    assert store.leadership.leader() is None
    store.leadership.claim("http://a:1 pid 7", "http://a:1")
    leader = store.leadership.leader()
    assert leader is not None
    assert (leader.server, leader.url, leader.nodes) == ("http://a:1 pid 7", "http://a:1", ())
    assert leader.since == leader.renewed_at > T0


def test_the_leader_renews_its_record_and_a_former_one_cannot(store: MetadataStore) -> None:
    store.leadership.claim("a", "http://a:1")
    store.leadership.renew("a", [NODE])
    renewed = store.leadership.leader()
    assert renewed is not None and renewed.nodes == (NODE,) and renewed.renewed_at > renewed.since
    store.leadership.claim("b", "http://b:2")
    store.leadership.renew("a", [])  # a leader that lost the lead leaves its successor's record alone
    taken = store.leadership.leader()
    assert taken is not None
    assert (taken.server, taken.url, taken.nodes, taken.since == taken.renewed_at) == ("b", "http://b:2", (), True)
    assert taken.since > renewed.renewed_at


def test_on_sqlite_the_one_server_holds_the_lock(tmp_path: Path) -> None:
    store = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}")
    try:
        lock = store.leadership.lock()
        assert isinstance(lock, SoleLock) and lock.hold() and lock.hold()
    finally:
        store.close()


@contextmanager
def two_stores(url: str) -> Iterator[tuple[MetadataStore, MetadataStore]]:
    first, second = open_metadata_store(url), open_metadata_store(url)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


@contextmanager
def locks(*stores: MetadataStore) -> Iterator[list[LeaderLock]]:
    made = [store.leadership.lock() for store in stores]
    try:
        yield made
    finally:
        for lock in made:
            lock.release()


@pytest.mark.postgresql
def test_one_store_holds_the_lock_until_it_releases_it(postgres_url: str) -> None:
    with two_stores(postgres_url) as (first, second), locks(first, second) as (mine, theirs):
        assert mine.hold() and not theirs.hold()
        assert mine.hold() and not theirs.hold()  # checked again: still held, still taken
        mine.release()
        assert theirs.hold() and not mine.hold()


@pytest.mark.postgresql
def test_the_lock_ends_with_its_connection(postgres_url: str) -> None:
    with two_stores(postgres_url) as (first, second), locks(first, second) as (mine, theirs):
        assert mine.hold() and not theirs.hold()
        assert end_advisory_lock_sessions(postgres_url) == [True]  # the leader's session ends, as when it dies
        assert not mine.hold()  # the holder finds out at its next check
        assert theirs.hold()


@pytest.mark.postgresql
def test_each_schema_has_a_lock_of_its_own(postgres_url: str) -> None:
    home, paris = open_metadata_store(postgres_url), open_metadata_store(postgres_url, schema="modelbay_eu_west_3")
    try:
        with locks(home, paris) as (first, second):
            assert first.hold() and second.hold()
    finally:
        home.close()
        paris.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database (the lock's tests need several stores on one)."""
    with fresh_postgres_database() as url:
        yield url
