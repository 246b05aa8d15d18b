"""Opening the metadata store: URLs, migrations, SQLite's settings, and many threads at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from modelbay.store.metadata import AuditEvent, MetadataStore, open_metadata_store
from modelbay.store.metadata.engine import create_metadata_engine
from modelbay.store.metadata.migrate import alembic_config
from modelbay.store.metadata.tables import Base
from modelbay.store.metadata.tags import TooManyTags
from tests.helpers import wait_until

T = TypeVar("T")


def _revision(store: MetadataStore) -> str | None:
    with store.db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _head(store: MetadataStore) -> str | None:
    with store.db.engine.connect() as conn:
        return ScriptDirectory.from_config(alembic_config(conn)).get_current_head()


def _all_at_once(count: int, work: Callable[[int], T]) -> list[T]:
    """Run work(0..count-1) on `count` threads released together; return results or raise the first error."""
    barrier = threading.Barrier(count)

    def start(i: int) -> T:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(start, range(count)))


def test_open_migrates_to_head_and_models_match_migrations(store: MetadataStore) -> None:
    assert _revision(store) == _head(store) == "0034"
    with store.db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_opening_again_keeps_data_and_revision(metadata_url: str) -> None:
    first = open_metadata_store(metadata_url)
    first.tags.add("arn:one", [("k", "v")])
    first.close()
    second = open_metadata_store(metadata_url)
    try:
        assert second.tags.list("arn:one").items == [("k", "v")]
        assert _revision(second) == _head(second)
        with second.db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        second.close()


def test_a_database_at_head_is_opened_without_running_the_migrations(metadata_url: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Alembic loads every migration's script to run them (70-80 ms): a store at head is opened on one look at its
    revision."""
    open_metadata_store(metadata_url).close()
    monkeypatch.setattr(command, "upgrade", _never)
    store = open_metadata_store(metadata_url)
    try:
        assert _revision(store) == _head(store)
    finally:
        store.close()


def _never(*args: object) -> None:
    raise AssertionError("the migrations ran on a database at head")


def test_concurrent_opening_of_a_new_database(metadata_url: str) -> None:
    stores = _all_at_once(8, lambda _: open_metadata_store(metadata_url))
    try:
        assert {_revision(store) for store in stores} == {_head(stores[0])}
        stores[0].tags.add("arn:x", [("a", "1")])
        assert stores[-1].tags.list("arn:x").items == [("a", "1")]
    finally:
        for store in stores:
            store.close()


# Each process imports first, then waits for the go file, so that the opens really coincide.
_OPEN_ON_GO = """
import pathlib, sys, time
from modelbay.store.metadata import open_metadata_store
go = pathlib.Path(sys.argv[2])
pathlib.Path(sys.argv[3]).touch()
while not go.exists():
    time.sleep(0.005)
open_metadata_store(sys.argv[1]).close()
"""


def test_concurrent_opening_from_several_processes(metadata_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN_ON_GO, metadata_url, str(go), str(flag)],
                              stderr=subprocess.PIPE) for flag in ready]
    try:
        wait_until(lambda: all(flag.exists() for flag in ready), 60, "processes to import modelbay")
        go.touch()
        errors = [proc.communicate(timeout=60)[1].decode() for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    assert [proc.returncode for proc in procs] == [0] * 4, errors
    store = open_metadata_store(metadata_url)
    try:
        assert _revision(store) == _head(store)
    finally:
        store.close()


def test_downgrade_to_base_then_upgrade_again(metadata_url: str) -> None:
    store = open_metadata_store(metadata_url)  # its own database: the downgrade drops every table
    try:
        with store.db.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        with store.db.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        with store.db.engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        store.tags.add("arn:x", [("a", "1")])
        assert store.tags.count("arn:x") == 1
    finally:
        store.close()


def test_many_threads_write_concurrently(store: MetadataStore) -> None:
    def work(i: int) -> None:
        for round_ in range(5):
            store.tags.add(f"arn:resource-{i}", [(f"key-{round_}", f"value-{i}")])
            store.audit.append([AuditEvent(datetime.now(UTC), f"req-{i}-{round_}", f"user-{i}", "sagemaker",
                                           "AddTags", "Success", 200)])

    _all_at_once(16, work)
    for i in range(16):
        assert store.tags.list(f"arn:resource-{i}").items == [(f"key-{r}", f"value-{i}") for r in range(5)]
    request_ids = {event.request_id for event in store.audit.find(limit=1000)}
    assert request_ids == {f"req-{i}-{r}" for i in range(16) for r in range(5)}


def test_concurrent_adds_to_one_resource_respect_the_limit(store: MetadataStore) -> None:
    def work(i: int) -> bool:
        try:
            store.tags.add("arn:shared", [(f"t{i}-{k}", "v") for k in range(10)], max_tags=50)
            return True
        except TooManyTags:  # anything else fails the test
            return False

    results = _all_at_once(10, work)
    assert results.count(True) == 5
    assert store.tags.count("arn:shared") == 50
    assert len(store.tags.list("arn:shared", limit=100).items) == 50


def test_sqlite_runs_in_wal_mode_with_its_settings(tmp_path: Path) -> None:
    store = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}")
    try:
        with store.db.engine.connect() as conn:
            pragma = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                      for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")}
    finally:
        store.close()
    assert pragma == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "busy_timeout": 30_000}


def test_switching_to_wal_waits_for_another_connections_write_lock(tmp_path: Path) -> None:
    # SQLite answers this switch with "database is locked" at once, skipping its busy handler: the
    # race of processes opening one new database (a CI failure).
    path = tmp_path / "metadata.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.3, writer.execute, ["COMMIT"])
    released.start()
    engine = create_metadata_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert not released.is_alive()  # it did wait for the lock
    finally:
        released.join()
        engine.dispose()
        writer.close()


def test_sqlite_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there" / "metadata.db"
    open_metadata_store(f"sqlite:///{path}").close()
    assert path.is_file()


def test_plain_postgresql_urls_use_psycopg() -> None:
    engine = create_metadata_engine("postgresql://someone:secret@db.example:5432/modelbay")
    assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
    assert engine.pool._pre_ping  # type: ignore[attr-defined]  # no public accessor for pool_pre_ping


@pytest.mark.parametrize("url", ["mysql://u@h/db", "sqlite://", "sqlite:///:memory:", "postgresql+psycopg2://u@h/db"])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        create_metadata_engine(url)


def test_refusal_hides_the_password() -> None:
    with pytest.raises(ValueError) as info:
        create_metadata_engine("mysql://user:hunter2@host/db")
    assert "hunter2" not in str(info.value)
    assert make_url("mysql://user:hunter2@host/db").host in str(info.value)


@pytest.mark.postgresql
def test_stores_in_two_schemas_of_one_postgresql_database_are_apart(shared_postgres_url: str) -> None:
    """What keeps regions apart on PostgreSQL (Settings.in_region): a schema each, created as they open."""
    schemas = [f"modelbay_test_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    stores = [open_metadata_store(shared_postgres_url, schema=schema) for schema in schemas]
    arn = "arn:aws:sagemaker:eu-west-3:000000000000:model/m"
    try:
        stores[0].tags.add(arn, [("k", "v")])
        assert [stores[0].tags.list(arn).items, stores[1].tags.list(arn).items] == [[("k", "v")], []]
    finally:
        for store, schema in zip(stores, schemas, strict=True):
            with store.db.write() as session:
                session.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            store.close()


def test_a_schema_needs_postgresql(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        create_metadata_engine(f"sqlite:///{tmp_path / 'metadata.db'}", schema="modelbay_eu_west_3")
