"""The database log store as several servers use it: each one's writes seen by the others, shippers racing
without shipping a line twice, searches paged in order; and one store per region."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelbay.config import Settings
from modelbay.monitoring import log_database
from modelbay.monitoring.log_database import DatabaseLogStore
from modelbay.monitoring.log_files import FileLogStore
from modelbay.monitoring.log_patterns import compile_pattern
from modelbay.monitoring.logs import LogGroupNotFound, LogStore, order_of
from modelbay.platform import Regions
from tests.log_stores import log_store_opener

pytestmark = pytest.mark.postgresql


@pytest.fixture
def servers(tmp_path: Path, log_database_url: str) -> Iterator[tuple[LogStore, LogStore]]:
    """The log stores of two servers on one database."""
    with log_store_opener(tmp_path, log_database_url) as opener:
        yield opener(), opener()


def _on_threads(count: int, work: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=work, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_each_server_sees_what_the_other_wrote(servers: tuple[LogStore, LogStore]) -> None:
    leader, follower = servers
    leader.append("/aws/sagemaker/Endpoints/e", "v/i-1", ["up", "ready"], timestamp_ms=10)
    assert [g.name for g in follower.groups()] == ["/aws/sagemaker/Endpoints/e"]
    assert [s.name for s in follower.streams("/aws/sagemaker/Endpoints/e")] == ["v/i-1"]
    assert [e.message for e in follower.read("/aws/sagemaker/Endpoints/e", "v/i-1", None, None)] == ["up", "ready"]
    hits = follower.search("/aws/sagemaker/Endpoints/e", ["v/i-1"], compile_pattern("ready"), None, None, None)
    assert [hit.event.seq for hit in hits] == [2]
    follower.create_group("made by the follower")
    assert "made by the follower" in [g.name for g in leader.groups()]
    leader.delete_group("/aws/sagemaker/Endpoints/e")
    with pytest.raises(LogGroupNotFound):
        follower.read("/aws/sagemaker/Endpoints/e", "v/i-1", None, None)


def test_appends_from_two_servers_to_one_stream_lose_nothing(servers: tuple[LogStore, LogStore]) -> None:
    def write(worker: int) -> None:
        for n in range(20):
            servers[worker % 2].append("g", "s", [f"{worker}-{n}"], timestamp_ms=n)

    _on_threads(4, write)
    events = servers[0].read("g", "s", None, None)
    assert sorted(e.message for e in events) == sorted(f"{w}-{n}" for w in range(4) for n in range(20))
    assert sorted(e.seq for e in events) == list(range(1, 81))


def test_shippers_racing_on_two_servers_ship_each_line_once(servers: tuple[LogStore, LogStore]) -> None:
    source = [f"line {n}" for n in range(60)]  # an instance's log, 7 bytes a line with its newline

    def ship(worker: int) -> None:  # what ship_log does, on the log as it grows
        store = servers[worker % 2]
        while (offset := store.shipped("g", "s")) < 7 * len(source):
            lines = source[offset // 7:offset // 7 + 1 + worker]
            store.ship("g", "s", lines, offset, offset + 7 * len(lines))

    _on_threads(4, ship)
    assert [e.message for e in servers[1].read("g", "s", None, None)] == source


def test_a_search_reads_page_after_page_in_order(servers: tuple[LogStore, LogStore],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_database, "SEARCH_PAGE", 2)
    store = servers[0]
    for timestamp in (3, 1, 2):
        for stream in ("b", "B", "a"):
            store.append("g", stream, [f"ERROR {stream}{timestamp}", f"ok {stream}{timestamp}"], timestamp_ms=timestamp)
    errors = compile_pattern("ERROR")
    hits = list(store.search("g", ["a", "b", "B", "missing"], errors, 2, None, None))
    assert [hit.event.message for hit in hits] == ["ERROR B2", "ERROR a2", "ERROR b2", "ERROR B3", "ERROR a3",
                                                   "ERROR b3"]
    assert [h.event.message for h in store.search("g", ["a", "b", "B"], errors, 2, 2, order_of(hits[1]))] == [
        "ERROR b2"]


def test_each_region_keeps_its_logs_in_its_own_schema(tmp_path: Path, log_database_url: str) -> None:
    regions = Regions(Settings(data_dir=tmp_path, database_url=log_database_url))
    try:
        home, paris = regions.home.logs, regions.get("eu-west-3").logs
        assert isinstance(home, DatabaseLogStore) and isinstance(paris, DatabaseLogStore)
        paris.append("/aws/sagemaker/TrainingJobs/paris", "j/algo-1-1", ["bonjour"])
        assert home.groups("/aws/sagemaker/TrainingJobs/paris") == []  # the home schema's tables hold other tests'
        assert [g.name for g in paris.groups()] == ["/aws/sagemaker/TrainingJobs/paris"]
        assert not (tmp_path / "logs").exists()
    finally:
        regions.close()


def test_without_postgresql_the_logs_are_files_under_the_data_dir(tmp_path: Path) -> None:
    regions = Regions(Settings(data_dir=tmp_path))
    try:
        assert isinstance(regions.home.logs, FileLogStore) and regions.home.logs.root == tmp_path / "logs"
    finally:
        regions.close()
