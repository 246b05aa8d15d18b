"""The routing tables in the store: the leader's RouteBook applies a table here and records it when it changed; a
follower applies each change once; a new leader bridges the variants it has no instances of yet with the
previous leader's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay.config import Settings
from modelbay.controllers.route_book import RouteBook, RouteFollower, RouteTable, decode, encode
from modelbay.platform import Platform, open_platform
from modelbay.serving.router import Backend, TrafficShift, VariantRoute
from modelbay.serving.router_fleet import RouterFleet, Several

CAPTURE = {"EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": "s3://bucket/capture",
           "CaptureOptions": [{"CaptureMode": "Input"}]}


def route(name: str, *instances: str, weight: float = 1.0, max_concurrency: int | None = None) -> VariantRoute:
    return VariantRoute(name, weight, tuple(Backend(i, "us-east-1a", (f"http://127.0.0.1:1/{i}",)) for i in instances),
                        max_concurrency)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[Platform, Platform]]:
    """Two servers' platforms on one metadata store (SQLite: the same file)."""
    opened = [open_platform(Settings(data_dir=tmp_path)) for _ in range(2)]
    try:
        yield opened[0], opened[1]
    finally:
        for platform in opened:
            platform.capture.close()
            platform.metadata.close()


def instances(platform: Platform, endpoint: str) -> dict[str, list[str]] | None:
    """The endpoint's instances per variant, as the platform's router routes it (None: not routed)."""
    placement = platform.router.placement(endpoint)
    if placement is None:
        return None
    found: dict[str, list[str]] = {}
    for where in placement:
        found.setdefault(where.variant, []).append(where.instance_id)
    return found


def test_a_table_survives_its_encoding() -> None:
    table = RouteTable((route("a", "i-1", "i-2", weight=0.7), route("s", max_concurrency=4)), queued=True,
                       shift=TrafficShift((route("a", "i-3"),), 0.25), shadows=(route("shadow", "i-4", weight=0.5),),
                       capture=CAPTURE)
    assert decode(encode(table)) == table
    assert decode(encode(RouteTable((route("a", "i-1"),)))) == RouteTable((route("a", "i-1"),))


def test_the_leader_serves_a_table_at_once_and_records_it_only_when_it_changed(
        servers: tuple[Platform, Platform]) -> None:
    leader, _ = servers
    book = RouteBook(leader)
    book.take_over()
    book.publish("e", RouteTable((route("a", "i-1"),), capture=CAPTURE))
    assert instances(leader, "e") == {"a": ["i-1"]}
    assert leader.capture.sample("e") is not None
    recorded = leader.metadata.routes.changed_since(0)
    assert [(c.endpoint, decode(c.table or {})) for c in recorded] == [
        ("e", RouteTable((route("a", "i-1"),), capture=CAPTURE))]
    book.publish("e", RouteTable((route("a", "i-1"),), capture=CAPTURE))  # the usual pass: nothing changed
    assert leader.metadata.routes.changed_since(recorded[-1].version) == []
    book.publish("e", RouteTable((route("a", "i-1", "i-2"),)))
    book.withdraw("e")
    assert instances(leader, "e") is None and leader.capture.sample("e") is None
    assert [(c.endpoint, c.table) for c in leader.metadata.routes.changed_since(recorded[-1].version)] == [("e", None)]


def test_a_follower_applies_each_change_in_order(servers: tuple[Platform, Platform]) -> None:
    leader, follower = servers
    book, following = RouteBook(leader), RouteFollower(follower)
    book.take_over()
    book.publish("e", RouteTable((route("a", "i-1"), route("b", "i-2", weight=0)), capture=CAPTURE))
    book.publish("gone", RouteTable((route("a", "i-9"),)))
    following.follow()
    assert instances(follower, "e") == {"a": ["i-1"], "b": ["i-2"]}
    assert follower.capture.sample("e") is not None and instances(follower, "gone") == {"a": ["i-9"]}
    assert following.routed() == {"i-1", "i-2", "i-9"}
    book.withdraw("gone")
    book.publish("e", RouteTable((route("a", "i-1", "i-3"),), shift=TrafficShift((route("a", "i-5"),), 0.5)))
    following.follow()
    assert instances(follower, "e") == {"a": ["i-1", "i-3", "i-5"]}
    assert follower.capture.sample("e") is None and instances(follower, "gone") is None
    assert following.routed() == {"i-1", "i-3", "i-5"}


def test_a_new_leader_routes_to_the_previous_ones_instances_until_it_has_its_own(
        servers: tuple[Platform, Platform]) -> None:
    previous, successor = servers
    before = RouteBook(previous)
    before.take_over()
    before.publish("e", RouteTable((route("a", "old-1", "old-2"), route("b", "old-3"),
                                    route("serverless", "old-4", max_concurrency=2))))
    book = RouteBook(successor)
    book.take_over()
    book.publish("e", RouteTable((route("a"), route("b", "new-1"), route("serverless", max_concurrency=2))))
    assert instances(successor, "e") == {"a": ["old-1", "old-2"], "b": ["new-1"]}  # scaled to zero: its own
    following = RouteFollower(previous)  # now a follower, it routes by the bridged table too
    following.follow()
    assert instances(previous, "e") == {"a": ["old-1", "old-2"], "b": ["new-1"]}
    book.publish("e", RouteTable((route("a", "new-2"), route("b", "new-1"), route("serverless", max_concurrency=2))))
    assert instances(successor, "e") == {"a": ["new-2"], "b": ["new-1"]}
    book.publish("e", RouteTable((route("a"), route("b", "new-1"))))  # its own instance failed: no bridge now
    assert instances(successor, "e") == {"b": ["new-1"]}
    following.follow()
    assert instances(previous, "e") == {"b": ["new-1"]}


def test_instances_a_leader_stops_leave_every_table_and_are_not_bridged(servers: tuple[Platform, Platform]) -> None:
    leader, successor = servers
    book = RouteBook(leader)
    book.take_over()
    book.publish("e", RouteTable((route("a", "i-1", "kept"),), shift=TrafficShift((route("a", "i-2"),), 0.5),
                                 shadows=(route("s", "i-3"),)))
    book.publish("other", RouteTable((route("a", "kept"),)))
    book.drop(["i-1", "i-2", "i-3"])
    assert instances(leader, "e") == {"a": ["kept"]}
    following = RouteFollower(successor)
    following.follow()
    assert instances(successor, "e") == {"a": ["kept"]} and instances(successor, "other") == {"a": ["kept"]}
    after = RouteBook(successor)
    after.take_over()
    after.publish("e", RouteTable((route("a"),)))
    assert instances(successor, "e") == {"a": ["kept"]}  # what was still routed, and only that


class CountingWorkers(Several):
    """The front door's workers, as the leader tells them of new tables: each telling counted."""

    def __init__(self) -> None:
        super().__init__()
        self.told: list[str] = []

    def follow(self, region: str) -> None:
        self.told.append(region)


def test_the_workers_are_told_of_each_table_the_store_records_before_the_book_returns(
        servers: tuple[Platform, Platform]) -> None:
    leader, _ = servers
    workers = CountingWorkers()
    book = RouteBook(leader, RouterFleet(leader.router, "us-east-1", workers))
    book.publish("ep", RouteTable((route("a", "i-1"),)))
    book.publish("ep", RouteTable((route("a", "i-1"),)))  # unchanged: recorded once, told once
    book.withdraw("ep")
    assert workers.told == ["us-east-1", "us-east-1"]

