"""The log store's contract on every backend: ordering, persistence, concurrency, shipping and cross-stream search."""

from __future__ import annotations

import threading

import pytest

from modelbay.monitoring.log_patterns import compile_pattern
from modelbay.monitoring.logs import (
    LogGroupExists,
    LogGroupNotFound,
    LogStore,
    LogStreamExists,
    LogStreamNotFound,
    order_of,
)
from tests.log_stores import Opener

GROUP = "/aws/sagemaker/TrainingJobs"


@pytest.fixture
def store(opener: Opener) -> LogStore:
    return opener()


def test_append_creates_group_and_stream_on_demand(store: LogStore) -> None:
    assert store.append(GROUP, "job/algo-1-1700000000", ["epoch 1", "epoch 2"], timestamp_ms=1000) == 2
    assert [g.name for g in store.groups()] == [GROUP]
    assert [(e.timestamp, e.message, e.seq) for e in store.read(GROUP, "job/algo-1-1700000000", None, None)] == [
        (1000, "epoch 1", 1), (1000, "epoch 2", 2)]


def test_events_are_read_in_time_order_even_when_written_late(store: LogStore) -> None:
    store.create_group("g")
    store.create_stream("g", "s")
    assert store.put("g", "s", [(300, "c"), (400, "d")]) == 2
    assert store.put("g", "s", [(100, "a"), (200, "b")]) == 4
    assert [e.message for e in store.read("g", "s", None, None)] == ["a", "b", "c", "d"]
    assert [e.message for e in store.read("g", "s", 200, 400)] == ["b", "c"]  # end is exclusive


def test_a_stream_summarises_its_events(store: LogStore) -> None:
    store.create_group("g")
    empty = store.create_stream("g", "s")
    assert (empty.appended, empty.stored_bytes, empty.first_event_timestamp, empty.last_event_timestamp,
            empty.last_ingestion_time) == (0, 0, None, None, None)
    store.put("g", "s", [(300, "ccc"), (400, "dd")])
    store.put("g", "s", [(100, "é")])  # bytes, not characters
    stream = store.stream("g", "s")
    assert (stream.appended, stream.stored_bytes, stream.first_event_timestamp, stream.last_event_timestamp) == (
        3, 7, 100, 400)
    assert stream.last_ingestion_time is not None and stream.last_ingestion_time >= stream.creation_time
    store.append("g", "other", ["x"], timestamp_ms=1)
    assert [(g.name, g.stored_bytes) for g in store.groups()] == [("g", 8)]


def test_a_new_store_on_the_same_place_sees_everything(opener: Opener) -> None:
    first = opener()
    first.append(GROUP, "a/b:c", ["one", "two"], timestamp_ms=5)
    first.create_group("empty")
    again = opener()
    assert [g.name for g in again.groups()] == [GROUP, "empty"]
    assert [(e.timestamp, e.message, e.seq) for e in again.read(GROUP, "a/b:c", None, None)] == [
        (5, "one", 1), (5, "two", 2)]
    assert again.stream(GROUP, "a/b:c") == first.stream(GROUP, "a/b:c")
    again.append(GROUP, "a/b:c", ["three"], timestamp_ms=6)
    assert [e.seq for e in opener().read(GROUP, "a/b:c", None, None)] == [1, 2, 3]


def test_concurrent_appends_lose_nothing(opener: Opener) -> None:
    store = opener()

    def write(worker: int) -> None:
        for n in range(25):
            store.append("g", "s", [f"{worker}-{n}"], timestamp_ms=n)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for reader in (store, opener()):
        events = reader.read("g", "s", None, None)
        assert sorted(e.message for e in events) == sorted(f"{w}-{n}" for w in range(8) for n in range(25))
        assert sorted(e.seq for e in events) == list(range(1, 201))
        assert [e.key for e in events] == sorted(e.key for e in events)


def test_missing_and_duplicate_resources(store: LogStore) -> None:
    with pytest.raises(LogGroupNotFound, match="nope"):
        store.create_stream("nope", "s")
    with pytest.raises(LogGroupNotFound):
        store.streams("nope")
    with pytest.raises(LogGroupNotFound):
        store.search("nope", ["s"], compile_pattern(""), None, None, None)  # at the call, before any hit is asked
    store.create_group("g")
    with pytest.raises(LogStreamNotFound, match="s"):
        store.put("g", "s", [(1, "x")])
    with pytest.raises(LogStreamNotFound):
        store.read("g", "s", None, None)
    with pytest.raises(LogGroupExists, match="g"):
        store.create_group("g")
    store.create_stream("g", "s")
    with pytest.raises(LogStreamExists, match="s"):
        store.create_stream("g", "s")


def test_delete_group_removes_its_streams_and_events(opener: Opener) -> None:
    store = opener()
    store.append("g", "s", ["x"], timestamp_ms=1)
    store.append("kept", "s", ["y"], timestamp_ms=1)
    store.delete_group("g")
    for reader in (store, opener()):
        assert [g.name for g in reader.groups()] == ["kept"]
    with pytest.raises(LogGroupNotFound):
        store.delete_group("g")
    store.append("g", "s", ["again"], timestamp_ms=2)
    assert [(e.message, e.seq) for e in store.read("g", "s", None, None)] == [("again", 1)]


def test_prefixes_match_exactly(store: LogStore) -> None:
    for name in ("/aws/a_b", "/aws/axb", "/AWS/a_b", "/aws/a%z"):
        store.append(name, name, ["x"], timestamp_ms=1)
        store.create_stream(name, name.upper())
    assert [g.name for g in store.groups("/aws/a_")] == ["/aws/a_b"]  # _ and % are no wildcards
    assert [g.name for g in store.groups("/aws/a%")] == ["/aws/a%z"]
    assert [g.name for g in store.groups("/aws/")] == ["/aws/a%z", "/aws/a_b", "/aws/axb"]  # case counts
    assert [s.name for s in store.streams("/aws/a_b")] == ["/AWS/A_B", "/aws/a_b"]  # by code point
    assert [s.name for s in store.streams("/aws/a_b", "/aws")] == ["/aws/a_b"]


def test_search_orders_by_time_then_stream_and_resumes_after_a_position(store: LogStore) -> None:
    store.append("g", "b", ["ERROR b1", "ok b2"], timestamp_ms=10)
    store.append("g", "a", ["ERROR a1"], timestamp_ms=10)
    store.append("g", "a", ["ERROR a2"], timestamp_ms=30)
    errors = compile_pattern("ERROR")
    hits = list(store.search("g", ["a", "b"], errors, None, None, None))
    assert [h.event.message for h in hits] == ["ERROR a1", "ERROR b1", "ERROR a2"]
    assert [h.event.message for h in store.search("g", ["a", "b"], errors, None, None, order_of(hits[0]))] == [
        "ERROR b1", "ERROR a2"]
    assert [h.event.message for h in store.search("g", ["a", "b"], errors, 10, 10, None)] == ["ERROR a1", "ERROR b1"]
    assert list(store.search("g", ["b", "missing"], compile_pattern("a2"), None, None, None)) == []


def test_search_orders_streams_by_code_point(store: LogStore) -> None:
    for name in ("b", "B", "a", "É"):
        store.append("g", name, [f"at {name}"], timestamp_ms=1)
    hits = store.search("g", ["a", "b", "B", "É"], compile_pattern(""), None, None, None)
    assert [hit.stream for hit in hits] == ["B", "a", "b", "É"]


def test_a_second_shipper_continues_where_the_first_stopped(opener: Opener) -> None:
    first = opener()
    assert first.shipped("g", "s") == 0  # no group, no stream: nothing shipped
    assert first.ship("g", "s", ["one", "two"], 0, 8)
    assert not first.ship("g", "s", ["one", "two"], 0, 8)  # a shipper that read an old offset writes nothing
    second = opener()  # a restarted server, or the next leader
    assert second.shipped("g", "s") == 8
    assert second.ship("g", "s", ["three"], 8, 14)
    second.append("g", "s", ["not from the file"], timestamp_ms=0)
    reader = opener()
    assert reader.shipped("g", "s") == 14
    assert [(e.message, e.seq) for e in reader.read("g", "s", None, None)] == [
        ("not from the file", 4), ("one", 1), ("two", 2), ("three", 3)]
