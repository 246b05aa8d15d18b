"""An endpoint instance lost with its cluster node: out of the router's rotation at the pass that finds it lost, and
replaced at once, without waiting for health checks to fail (the real ProcessRuntime, its instances said to run on
nodes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay.controllers.endpoints.controller import EndpointController
from modelbay.controllers.images import Images
from modelbay.platform import Platform
from modelbay.runtime.base import stop_all
from tests.helpers import wait_until
from tests.unit.controllers.cluster_nodes import NodesRuntime
from tests.unit.controllers.endpoints.conftest import create, invoke, model, serving, settle, spec

HEALTH_WINDOW_S = 3 * 60.0  # checks every minute, three failed to fail: far longer than the test may take


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[NodesRuntime]:
    runtime = NodesRuntime(tmp_path / "runtime", ["node-a", "node-b", "node-c"])
    yield runtime
    stop_all(runtime, grace_s=0)


def test_an_instance_lost_with_its_node_leaves_the_rotation_at_once_and_is_replaced_on_another_node(
        platform: Platform, nodes: NodesRuntime, images: Images, image: str) -> None:
    controller = EndpointController(platform, nodes, images, check_every_s=HEALTH_WINDOW_S / 3, failures_to_replace=3,
                                    drain_timeout_s=5, stop_grace_s=1)
    create(platform, "e", spec({"a": (model(image, "m1"), 3, 1.0)}))
    assert settle(controller, "e").status == "InService"
    assert sorted(i.node for i in serving(controller, "e", "a")) == ["node-a", "node-b", "node-c"]
    lost, = nodes.lose("node-b")
    controller.reconcile("e")
    routed = platform.router.placement("e")
    assert routed is not None and {p.instance_id for p in routed} == {
        i.id for i in serving(controller, "e", "a")} and lost not in {p.instance_id for p in routed}
    assert invoke(platform, "e").startswith("m1 ")

    def healed() -> bool:
        controller.reconcile("e")
        placed = platform.router.placement("e") or []
        return len(placed) == 3 and all(p.in_rotation for p in placed)
    wait_until(healed, 30, "a replacement to serve")
    assert sorted(i.node or "" for i in serving(controller, "e", "a")) in (
        ["node-a", "node-a", "node-c"], ["node-a", "node-c", "node-c"])
    endpoint = controller.endpoints.get("e")
    assert endpoint is not None and endpoint.status == "InService"
    assert endpoint.variants[0].current_instance_count == 3
