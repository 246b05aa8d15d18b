"""What HAProxy serves alone, and the settings it serves with (front_door_proxy.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from modelbay.config import Settings
from modelbay.controllers.route_book import RouteTable
from modelbay.front_door_proxy import ProxyUnavailable, is_plain, require_proxy
from modelbay.serving import haproxy
from modelbay.serving.router import Backend, TrafficShift, VariantRoute


def variant(name: str = "a", instances: int = 1, containers: int = 1, max_concurrency: int | None = None
            ) -> VariantRoute:
    backends = tuple(Backend(f"i-{name}{index}", "z", tuple(f"http://127.0.0.1:{9000 + c}" for c in range(containers)))
                     for index in range(instances))
    return VariantRoute(name, 1.0, backends, max_concurrency)


PLAIN = RouteTable((variant("a"), variant("b", instances=2)))


def test_variants_of_single_container_instances_are_plain() -> None:
    assert is_plain(PLAIN)


@pytest.mark.parametrize("table", [
    replace(PLAIN, queued=True),
    replace(PLAIN, shift=TrafficShift((variant("c"),), 0.5)),
    replace(PLAIN, shadows=(variant("s"),)),
    replace(PLAIN, capture={"EnableCapture": True}),
    RouteTable((variant("a", max_concurrency=4),)),  # serverless
    RouteTable((variant("a", containers=2),)),  # an inference pipeline
    RouteTable((variant("a", instances=0),)),  # no instance yet
    RouteTable((variant("a", instances=haproxy.SERVERS_PER_SLOT + 1),)),
], ids=["queued", "shift", "shadows", "capture", "serverless", "pipeline", "bare", "too-many-instances"])
def test_what_haproxy_cannot_serve_alone_is_the_front_doors(table: RouteTable) -> None:
    assert not is_plain(table)


def test_haproxy_serves_open_plain_http_only() -> None:
    require_proxy(Settings(host="127.0.0.1", auth="open"), tls=False)
    with pytest.raises(ProxyUnavailable, match="--auth open without TLS"):
        require_proxy(Settings(host="127.0.0.1", auth="iam"), tls=False)
    with pytest.raises(ProxyUnavailable, match="--auth open without TLS"):
        require_proxy(Settings(host="127.0.0.1", auth="open"), tls=True)


def test_an_unknown_data_plane_is_refused() -> None:
    with pytest.raises(ValueError, match="MODELBAY_DATA_PLANE must be one of python, haproxy"):
        Settings(data_plane="nginx")
