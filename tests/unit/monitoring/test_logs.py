"""The log store: ordering, persistence, concurrency and cross-stream search."""

from __future__ import annotations

import threading
from pathlib import Path

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

GROUP = "/aws/sagemaker/TrainingJobs"


def test_append_creates_group_and_stream_on_demand(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    assert store.append(GROUP, "job/algo-1-1700000000", ["epoch 1", "epoch 2"], timestamp_ms=1000) == 2
    assert [g.name for g in store.groups()] == [GROUP]
    assert [(e.timestamp, e.message, e.seq) for e in store.read(GROUP, "job/algo-1-1700000000", None, None)] == [
        (1000, "epoch 1", 1), (1000, "epoch 2", 2)]


def test_events_are_read_in_time_order_even_when_written_late(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.create_group("g")
    store.create_stream("g", "s")
    store.put("g", "s", [(300, "c"), (400, "d")])
    store.put("g", "s", [(100, "a"), (200, "b")])
    assert [e.message for e in store.read("g", "s", None, None)] == ["a", "b", "c", "d"]
    assert [e.message for e in store.read("g", "s", 200, 400)] == ["b", "c"]  # end is exclusive


def test_a_new_store_on_the_same_directory_sees_everything(tmp_path: Path) -> None:
    first = LogStore(tmp_path)
    first.append(GROUP, "a/b:c", ["one", "two"], timestamp_ms=5)
    first.create_group("empty")
    again = LogStore(tmp_path)
    assert [g.name for g in again.groups()] == [GROUP, "empty"]
    stream = again.stream(GROUP, "a/b:c")
    assert [(e.timestamp, e.message, e.seq) for e in stream.events] == [(5, "one", 1), (5, "two", 2)]
    assert stream.creation_time == first.stream(GROUP, "a/b:c").creation_time
    again.append(GROUP, "a/b:c", ["three"], timestamp_ms=6)
    assert [e.seq for e in LogStore(tmp_path).stream(GROUP, "a/b:c").events] == [1, 2, 3]


def test_a_torn_last_line_is_cut_off_and_appends_continue(tmp_path: Path) -> None:
    LogStore(tmp_path).append("g", "s", ["kept"], timestamp_ms=1)
    [events_file] = tmp_path.glob("*/*.jsonl")
    with open(events_file, "a", encoding="utf-8") as file:
        file.write('{"t": 2, "i": 2, "m": "tor')
    store = LogStore(tmp_path)
    store.append("g", "s", ["next"], timestamp_ms=3)
    assert [e.message for e in LogStore(tmp_path).read("g", "s", None, None)] == ["kept", "next"]


def test_concurrent_appends_lose_nothing(tmp_path: Path) -> None:
    store = LogStore(tmp_path)

    def write(worker: int) -> None:
        for n in range(50):
            store.append("g", "s", [f"{worker}-{n}"], timestamp_ms=n)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for reader in (store, LogStore(tmp_path)):
        events = reader.read("g", "s", None, None)
        assert sorted(e.message for e in events) == sorted(f"{w}-{n}" for w in range(8) for n in range(50))
        assert sorted(e.seq for e in events) == list(range(1, 401))
        assert [e.key for e in events] == sorted(e.key for e in events)


def test_missing_and_duplicate_resources(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    with pytest.raises(LogGroupNotFound, match="nope"):
        store.create_stream("nope", "s")
    store.create_group("g")
    with pytest.raises(LogStreamNotFound, match="s"):
        store.put("g", "s", [(1, "x")])
    with pytest.raises(LogGroupExists, match="g"):
        store.create_group("g")
    store.create_stream("g", "s")
    with pytest.raises(LogStreamExists, match="s"):
        store.create_stream("g", "s")


def test_delete_group_removes_its_files(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.append("g", "s", ["x"], timestamp_ms=1)
    store.delete_group("g")
    assert store.groups() == [] and list(tmp_path.iterdir()) == []
    with pytest.raises(LogGroupNotFound):
        store.delete_group("g")


def test_search_orders_by_time_then_stream_and_resumes_after_a_position(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
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
