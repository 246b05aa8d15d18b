"""The cluster route through the app: the leader's record and the nodes it published, or none yet."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from modelbay.api.app import build_app
from modelbay.api.cluster import cluster_view
from modelbay.config import Settings
from modelbay.store.metadata.leadership import LeaderRecord

ROUTE = "/_modelbay/v1/cluster"
SINCE, RENEWED = datetime(2026, 12, 5, 13, 0, tzinfo=UTC), datetime(2026, 12, 5, 13, 5, tzinfo=UTC)
NODE = {"name": "n1", "address": "192.0.2.2", "zone": "a", "alive": True, "resources": {"CPU": 4.0},
        "free": {"CPU": 2.0}, "instances": ["i-1"]}
pytestmark = pytest.mark.anyio


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Starlette]:
    application = build_app(Settings.from_env({}, data_dir=tmp_path))  # its lifespan, and so the election, not run
    yield application
    application.state.audit.close()
    application.state.regions.close()


@pytest.fixture
def http(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://modelbay")


async def test_the_route_answers_the_record_the_leader_renewed(app: Starlette, http: httpx.AsyncClient) -> None:
    leadership = app.state.platform.metadata.leadership
    leadership.claim("http://10.0.0.1:7070 pid 7", "http://10.0.0.1:7070")
    leadership.renew("http://10.0.0.1:7070 pid 7", [NODE])
    answer = (await http.get(ROUTE)).json()
    assert answer["nodes"] == [NODE]
    leader = answer["leader"]
    assert (leader["server"], leader["url"]) == ("http://10.0.0.1:7070 pid 7", "http://10.0.0.1:7070")
    since, renewed = (datetime.fromisoformat(leader[name]) for name in ("since", "renewed_at"))
    assert since.tzinfo is not None and renewed >= since


async def test_before_any_server_has_led_there_is_no_leader_and_no_node(http: httpx.AsyncClient) -> None:
    assert (await http.get(ROUTE)).json() == {"leader": None, "nodes": []}


def test_times_are_iso_8601_with_their_zone() -> None:
    view = cluster_view(LeaderRecord("s1", "http://10.0.0.1:7070", SINCE, RENEWED, (NODE,)))
    assert view["leader"] == {"server": "s1", "url": "http://10.0.0.1:7070", "since": "2026-12-05T13:00:00+00:00",
                              "renewed_at": "2026-12-05T13:05:00+00:00"}
