"""Placement on a Ray cluster over Ray's node entries as ray.nodes() gives them, without a cluster: what an instance
asks for, which node a spread group or a zone picks, what people are shown of a node, and the reasons of StartFailed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ray.exceptions import GetTimeoutError, RaySystemError

from modelbay.instance_types import instance_type
from modelbay.runtime.base import InstanceSpec, StartFailed
from modelbay.runtime.ray_placement import (
    CUSTOM_AMOUNT,
    Running,
    demand,
    host_node,
    needs,
    placement,
    start_failure,
    visible_resources,
)

GIB = 1024**3
SMALL = instance_type("ml.m6g.medium")  # 1 vCPU, 4 GiB


def node(name: str, zone: str | None = None, cpus: float = 4, memory_gib: float = 16, alive: bool = True,
         custom: dict[str, float] | None = None) -> dict[str, Any]:
    """Ray's entry of a node named `name` (its Ray id: `name` in hex, padded)."""
    return {"NodeID": node_id(name), "NodeManagerAddress": "192.0.2.2", "Alive": alive,
            "Resources": {"CPU": cpus, "memory": memory_gib * GIB, "node:192.0.2.2": 1.0, "object_store_memory": 8e7,
                          **(custom or {})},
            "Labels": {"name": name} | ({"zone": zone} if zone else {})}


def node_id(name: str) -> str:
    return name.encode().hex().ljust(56, "0")


def spec(**options: Any) -> InstanceSpec:
    return InstanceSpec(argv=("true",), opt_ml=Path("/nowhere"), instance_type=SMALL, **options)


def test_a_type_larger_than_every_node_is_capped_at_the_largest_and_a_family_resource_is_asked_for() -> None:
    nodes = [node("a", cpus=2, memory_gib=8), node("b", cpus=8, memory_gib=32, custom={"ml.c5": 4.0}),
             node("dead", cpus=64, memory_gib=512, alive=False)]
    assert demand(instance_type("ml.c5.9xlarge"), nodes) == {"CPU": 8, "memory": 32 * GIB, "GPU": 0,
                                                             "ml.c5": CUSTOM_AMOUNT}
    assert demand(SMALL, nodes) == {"CPU": 1, "memory": 4 * GIB, "GPU": 0}  # no node offers ml.m6g


def test_a_type_no_node_can_hold_is_refused_naming_the_largest_node() -> None:
    nodes = [node("a", cpus=2, memory_gib=8), node("b", cpus=8, memory_gib=4)]  # 8 CPUs and 8 GiB: on no one node
    with pytest.raises(StartFailed) as refused:
        demand(instance_type("ml.c5.9xlarge"), nodes)
    assert str(refused.value) == ("no node of the Ray cluster can hold an instance of ml.c5.9xlarge, which needs "
                                  "8 CPUs, 8.0 GiB of memory: its largest node, b, has 8 CPUs, 4.0 GiB of memory")
    with pytest.raises(StartFailed, match="the cluster has no alive node"):
        demand(SMALL, [node("a", alive=False)])


def test_a_spread_group_goes_where_fewest_of_it_run_then_fewest_instances() -> None:
    nodes = [node("a"), node("b"), node("c")]
    a, b, c = map(node_id, "abc")
    running = [Running("1", a, "ep/v1"), Running("2", b, "ep/v1"), Running("3", b, None)]
    asked = demand(SMALL, nodes)
    assert host_node(spec(spread_group="ep/v1"), asked, nodes, running) == c
    running.append(Running("4", c, "ep/v1"))
    assert host_node(spec(spread_group="ep/v1"), asked, nodes, running) == a  # a tie at one each: a runs fewer
    options = placement(spec(spread_group="ep/v1"), asked, nodes, running)
    assert options["scheduling_strategy"].node_id == a and options["scheduling_strategy"].soft is False


def test_a_zone_selects_its_nodes_when_an_alive_node_carries_it() -> None:
    nodes = [node("a", "us-east-1a"), node("b", "us-east-1b"), node("c", "us-east-1c", alive=False)]
    asked = demand(SMALL, nodes)
    assert placement(spec(zone="us-east-1b"), asked, nodes, []) == {"label_selector": {"zone": "us-east-1b"}}
    assert placement(spec(zone="us-east-1c"), asked, nodes, []) == {}  # its node is dead: anywhere
    assert host_node(spec(zone="us-east-1b", spread_group="g"), asked, nodes, [Running("1", node_id("a"), None)]) \
        == node_id("b")
    assert host_node(spec(), asked, nodes, []) == node_id("a")  # no group: the first node that could hold it


def test_a_node_shows_its_resources_and_the_operators_but_not_rays_bookkeeping() -> None:
    group = "4c58a3ef2d0b1f9e7a6c5d4b3a2f1e0d9c8b"  # a placement group's id: 36 hex digits
    resources = {"CPU": 4.0, "memory": 16.0 * GIB, "GPU": 1.0, "ml.c5": 4.0, "team_group_a": 1.0,
                 "node:192.0.2.2": 1.0, "node:__internal_head__": 1.0, "object_store_memory": 8e7,
                 "accelerator_type:A100": 1.0, f"CPU_group_{group}": 2.0, f"CPU_group_0_{group}": 2.0,
                 f"bundle_group_{group}": 1000.0, f"bundle_group_1_{group}": 1000.0}
    assert visible_resources(resources) == {"CPU": 4.0, "memory": 16.0 * GIB, "GPU": 1.0, "ml.c5": 4.0,
                                            "team_group_a": 1.0}
    assert needs(resources) == "4 CPUs, 16.0 GiB of memory, 1 GPUs, ml.c5, team_group_a"


def test_why_an_instance_did_not_start() -> None:
    asked = {"CPU": 1.0, "memory": 4.0 * GIB, "GPU": 0.0}
    assert start_failure(SMALL, asked, GetTimeoutError("waited")) == (
        "the Ray cluster had no room for an instance of ml.m6g.medium (it needs 1 CPUs, 4.0 GiB of memory) within "
        "60 s")
    assert start_failure(SMALL, asked, RaySystemError("gone")) == (
        "the node could not start an instance of ml.m6g.medium: RaySystemError: System error: gone")
