"""Why a job's hosts failed: a host lost with its cluster node is named with the node, before what its peers did."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from modelbay.controllers.host_failures import failure_reason, lost_with_node
from modelbay.runtime.base import Instance, InstanceStatus

NODE_LOST = "the node 5f0c1e9a2b3d (10.0.0.12, zone us-east-1b) running it was lost"


def host(name: str, status: InstanceStatus, exit_code: int | None = None, reason: str | None = None,
         node: str | None = None) -> Instance:
    return Instance(name, {"training-job": "j", "host": name}, status, "ml.m5.large", Path("/nowhere"),
                    Path("/nowhere/log"), datetime(2026, 1, 1, tzinfo=UTC), exit_code=exit_code, reason=reason,
                    node=node)


def reason(*found: Instance) -> str | None:
    return failure_reason(found, "the training process", "the training job", "LOST", lambda _: "peer gone")


def test_a_host_lost_with_its_node_names_the_node_even_after_a_peer_that_failed_for_it() -> None:
    peer = host("algo-1", InstanceStatus.EXITED, exit_code=1, node="aa11")
    lost = host("algo-2", InstanceStatus.LOST, reason=NODE_LOST, node="5f0c1e9a2b3d")
    assert lost_with_node([peer, lost]) is lost
    assert reason(peer, lost) == f"InternalServerError: host algo-2 of the training job was lost: {NODE_LOST}"


def test_a_host_lost_on_the_servers_own_machine_is_the_familys_lost_reason() -> None:
    lost = host("algo-1", InstanceStatus.LOST, reason="the instance's supervisor ended")
    assert lost_with_node([lost]) is None
    assert reason(lost) == "LOST"
    assert reason(host("algo-1", InstanceStatus.EXITED, exit_code=1, node="aa11")) == (
        "AlgorithmError: peer gone, exit code: 1")
