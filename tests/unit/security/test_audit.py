"""The audit trail's background writer over a real SQLite metadata store."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import DataError, OperationalError

from modelbay.security.audit import SUCCESS, AuditEvent, AuditTrail
from modelbay.store.metadata import AuditRepository, MetadataStore, open_metadata_store
from modelbay.store.metadata.database import Database
from tests.helpers import wait_until

WRITER = "audit-trail-writer"


def _event(request_id: str) -> AuditEvent:
    return AuditEvent(event_time=datetime.now(UTC), request_id=request_id, principal="anonymous",
                      service="sagemaker", operation="ListTags", outcome=SUCCESS, status_code=200)


def _stored(store: MetadataStore) -> list[str]:
    """Request ids of the stored events, oldest first."""
    return [event.request_id for event in reversed(store.audit.find(limit=100_000))]


def _writers() -> int:
    return sum(thread.name == WRITER for thread in threading.enumerate())


class _Wrapped(AuditRepository):
    """The real repository, with a hook before each append (to fail or block) and a log of batches."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.batches: list[list[str]] = []

    def append(self, events: Sequence[AuditEvent]) -> None:
        self.before(events)
        super().append(events)
        self.batches.append([event.request_id for event in events])

    def before(self, events: Sequence[AuditEvent]) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetadataStore]:
    store = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}")
    yield store
    store.close()


@pytest.fixture
def wrapped(store: MetadataStore) -> _Wrapped:
    store.audit = _Wrapped(store.db)
    return store.audit


@pytest.fixture
def trails() -> Iterator[list[AuditTrail]]:
    """Trails a test makes; closed after it, giving up on a failing database after a second."""
    made: list[AuditTrail] = []
    yield made
    for trail in made:
        trail.close(timeout_s=1)


def test_events_are_written_in_the_background_without_a_flush(store: MetadataStore,
                                                               trails: list[AuditTrail]) -> None:
    trails.append(trail := AuditTrail(store, flush_interval_s=0.05))
    trail.record(_event("req-1"))
    wait_until(lambda: _stored(store) == ["req-1"], 10, "the event to be written")


def test_flush_returns_once_everything_recorded_is_written(store: MetadataStore,
                                                           trails: list[AuditTrail]) -> None:
    trails.append(trail := AuditTrail(store, flush_interval_s=60))  # only flush() makes it write
    for i in range(100):
        trail.record(_event(f"req-{i}"))
    assert trail.flush(timeout_s=10)
    assert _stored(store) == [f"req-{i}" for i in range(100)]


def test_record_does_not_wait_for_the_database(store: MetadataStore, wrapped: _Wrapped,
                                               trails: list[AuditTrail]) -> None:
    gate, stuck = threading.Event(), threading.Event()

    def block(events: Sequence[AuditEvent]) -> None:
        stuck.set()
        gate.wait()

    wrapped.before = block  # type: ignore[method-assign]
    trails.append(trail := AuditTrail(store, flush_interval_s=0.01))
    trail.record(_event("first"))
    assert stuck.wait(10)  # the writer is now inside append, held by the gate
    for i in range(1000):
        trail.record(_event(f"req-{i}"))
    assert not trail.flush(timeout_s=0.2)  # cannot be written while the database is held
    gate.set()
    assert trail.flush(timeout_s=10)
    assert _stored(store) == ["first"] + [f"req-{i}" for i in range(1000)]


def test_events_are_written_in_batches_in_order(store: MetadataStore, wrapped: _Wrapped,
                                                trails: list[AuditTrail]) -> None:
    trails.append(trail := AuditTrail(store, flush_interval_s=60, batch_size=10))
    for i in range(35):
        trail.record(_event(f"req-{i}"))
    assert trail.flush(timeout_s=10)
    assert max(len(batch) for batch in wrapped.batches) == 10
    assert [rid for batch in wrapped.batches for rid in batch] == [f"req-{i}" for i in range(35)]


def test_events_recorded_from_many_threads_all_land(store: MetadataStore, trails: list[AuditTrail]) -> None:
    trails.append(trail := AuditTrail(store, flush_interval_s=0.01, batch_size=50))
    barrier = threading.Barrier(8)

    def work(t: int) -> None:
        barrier.wait()
        for i in range(200):
            trail.record(_event(f"t{t}-{i}"))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert trail.flush(timeout_s=10)
    stored = _stored(store)
    assert sorted(stored) == sorted(f"t{t}-{i}" for t in range(8) for i in range(200))
    for t in range(8):  # each thread's events keep their order
        assert [rid for rid in stored if rid.startswith(f"t{t}-")] == [f"t{t}-{i}" for i in range(200)]


def test_close_writes_what_is_pending_and_stops_the_writer(store: MetadataStore) -> None:
    before = _writers()
    trail = AuditTrail(store, flush_interval_s=60)
    assert _writers() == before + 1
    for i in range(50):
        trail.record(_event(f"req-{i}"))
    trail.close()
    assert _stored(store) == [f"req-{i}" for i in range(50)]
    assert _writers() == before
    with pytest.raises(RuntimeError):
        trail.record(_event("late"))
    trail.close()  # again: nothing to do
    assert trail.flush(timeout_s=0)


def test_transient_database_errors_are_retried(store: MetadataStore, wrapped: _Wrapped,
                                               trails: list[AuditTrail], caplog: pytest.LogCaptureFixture) -> None:
    failures = iter(range(3))

    def fail_three_times(events: Sequence[AuditEvent]) -> None:
        if next(failures, None) is not None:
            raise OperationalError("INSERT INTO audit_events", {}, Exception("database is locked"))

    wrapped.before = fail_three_times  # type: ignore[method-assign]
    trails.append(trail := AuditTrail(store, flush_interval_s=0.01))
    for i in range(5):
        trail.record(_event(f"req-{i}"))
    assert trail.flush(timeout_s=10)
    assert _stored(store) == [f"req-{i}" for i in range(5)]
    retries = [r for r in caplog.records if r.name == "modelbay.security.audit" and r.levelno == logging.WARNING]
    assert len(retries) == 3


def test_an_event_the_database_refuses_is_dropped_alone(store: MetadataStore, wrapped: _Wrapped,
                                                       trails: list[AuditTrail],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    def refuse_poison(events: Sequence[AuditEvent]) -> None:
        if any(event.request_id == "poison" for event in events):
            raise DataError("INSERT INTO audit_events", {}, Exception("invalid byte sequence"))

    wrapped.before = refuse_poison  # type: ignore[method-assign]
    trails.append(trail := AuditTrail(store, flush_interval_s=60))
    for request_id in ("a", "poison", "b"):
        trail.record(_event(request_id))
    assert trail.flush(timeout_s=10)
    assert _stored(store) == ["a", "b"]
    assert any("poison" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


def test_close_can_give_up_on_a_database_that_keeps_failing(store: MetadataStore, wrapped: _Wrapped,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    def always_fail(events: Sequence[AuditEvent]) -> None:
        raise OperationalError("INSERT INTO audit_events", {}, Exception("could not connect"))

    wrapped.before = always_fail  # type: ignore[method-assign]
    before = _writers()
    trail = AuditTrail(store, flush_interval_s=0.01, max_retry_delay_s=0.05)
    for i in range(3):
        trail.record(_event(f"req-{i}"))
    trail.close(timeout_s=0.2)
    assert _writers() == before
    assert not trail.flush(timeout_s=0)
    assert any("3 events not written" in r.getMessage() for r in caplog.records)
