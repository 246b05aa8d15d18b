"""`modelbay cluster`'s cells: resources used of all, and the leader line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from modelbay.cli.cluster import leader_line, used_of

NOW = datetime(2026, 12, 5, 13, 0, tzinfo=UTC)
GIB = 1024**3


def test_used_is_total_less_free_in_the_unit_asked() -> None:
    resources, free = {"CPU": 8.0, "memory": 16.0 * GIB, "GPU": 0.0}, {"CPU": 6.0, "memory": 8.5 * GIB, "GPU": 0.0}
    assert used_of(resources, free, "CPU") == "2/8"
    assert used_of(resources, free, "memory", GIB) == "7.5/16"
    assert used_of(resources, free, "GPU") == "0/0"


def test_an_oversubscribed_resource_shows_more_used_than_there_is() -> None:
    assert used_of({"CPU": 4.0}, {"CPU": -2.0}, "CPU") == "6/4"


def test_a_resource_the_node_lacks_is_a_dash() -> None:
    assert used_of({"CPU": 4.0}, {"CPU": 4.0}, "GPU") == "-"


def test_the_leader_line_says_where_since_when_and_how_long_ago_it_renewed() -> None:
    since = NOW - timedelta(hours=1)
    leader = {"server": "s1", "url": "http://10.0.0.1:7070", "since": since.isoformat(),
              "renewed_at": (NOW - timedelta(seconds=3.4)).isoformat()}
    line = leader_line(leader, NOW)
    assert line == (f"leader: http://10.0.0.1:7070 since {since.astimezone().strftime('%Y-%m-%d %H:%M:%S')}, "
                    "renewed 3 s ago")


def test_no_leader_yet_is_said_so() -> None:
    assert leader_line(None, NOW).startswith("leader: none yet")
