"""Where an instance goes on a Ray cluster (runtime/ray.py), and why it could not go anywhere.

Pure functions over Ray's entries of the nodes (ray.nodes()' dicts: NodeID, NodeManagerAddress, Alive, Resources,
Labels), but for the placement group a job's hosts reserve together (`reserve_hosts`).

- Demand: an instance holds its type's vCPUs as Ray CPUs, its memory and its GPUs, each at most what the largest
  alive node has (Ray's CPUs are a count to schedule by: on its node the launcher's cgroups limit the instance, and a
  type larger than the machine runs limited to it, as machine.py does locally), and `ml.<family>` (a token amount)
  when some node offers that resource: an operator pins a family to nodes so. A type no node could ever hold is
  refused (StartFailed).
- Node choice: a spec's zone selects the nodes labelled with it (`ray start --labels=zone=...`), when some alive node
  is; a spread group goes to the eligible node running the fewest of the group's instances (then the fewest
  instances).
- A job's hosts: one bundle each in a placement group, SPREAD over the nodes, reserved all or none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from typing import Any, NamedTuple

import ray
from ray.exceptions import GetTimeoutError, RayError, RayTaskError
from ray.util.placement_group import PlacementGroup, get_placement_group, placement_group, remove_placement_group
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from modelbay.instance_types import InstanceType
from modelbay.runtime.base import InstanceSpec, StartFailed

START_TIMEOUT_S = 60.0  # an instance (or a job's hosts) waits this long for room in the cluster
PLAIN_RESOURCES = ("CPU", "memory", "GPU")  # what Ray's num_cpus, memory and num_gpus ask for
CUSTOM_AMOUNT = 0.001  # of `ml.<family>`: a node offering it takes the family, however many instances
# Ray's own bookkeeping among a node's resources: `node:<address>`, `node:__internal_head__`, the object store's
# memory, the GPU model it detected (`accelerator_type:A100`), and what placement groups reserve
# (`CPU_group_<group id>`, `CPU_group_<bundle>_<group id>`, `bundle_group_...`; a group id is 36 hex digits)
_RAY_INTERNAL = re.compile(r"node:.*|object_store_memory|accelerator_type:.*|.+_group_(\d+_)?[0-9a-f]{32,}")

RayNode = Mapping[str, Any]


class Running(NamedTuple):
    """An instance running on the cluster, as node choice counts it."""

    instance_id: str
    node_id: str
    spread_group: str | None


def demand(kind: InstanceType, nodes: Iterable[RayNode]) -> dict[str, float]:
    """What an instance of `kind` asks of Ray (see the module); raise StartFailed if no node could hold it."""
    alive = [n for n in nodes if n["Alive"]]

    def capped(resource: str, wanted: float) -> float:
        return min(wanted, max((n["Resources"].get(resource, 0.0) for n in alive), default=0.0))

    asked = {"CPU": capped("CPU", kind.vcpus), "memory": capped("memory", kind.memory_bytes),
             "GPU": capped("GPU", kind.gpus)}
    custom = f"ml.{kind.family}"
    if any(custom in n["Resources"] for n in alive):
        asked[custom] = CUSTOM_AMOUNT
    if not fitting_nodes(asked, alive):
        biggest = max(alive, key=lambda n: n["Resources"].get("CPU", 0.0), default=None)
        has = "the cluster has no alive node" if biggest is None else \
            f"its largest node, {node_name(biggest)}, has {needs(biggest['Resources'])}"
        raise StartFailed(f"no node of the Ray cluster can hold an instance of {kind.name}, which needs "
                          f"{needs(asked)}: {has}")
    return asked


def custom_resources(asked: Mapping[str, float]) -> dict[str, float]:
    """The part of a demand Ray takes as `resources` (the rest has options of its own)."""
    return {name: amount for name, amount in asked.items() if name not in PLAIN_RESOURCES}


def placement(spec: InstanceSpec, asked: Mapping[str, float], nodes: Sequence[RayNode],
              running: Iterable[Running]) -> dict[str, Any]:
    """Ray's options placing an instance: its spread group's node, else its zone's nodes, else anywhere."""
    node_id = spread_node(spec, asked, nodes, running)
    if node_id is not None:
        return pinned(node_id)
    return {"label_selector": {"zone": spec.zone}} if zone_nodes(spec.zone, nodes) else {}


def host_node(spec: InstanceSpec, asked: Mapping[str, float], nodes: Sequence[RayNode],
              running: Iterable[Running]) -> str:
    """The node for every container of one host: its spread group's node, else the first that could hold it."""
    return spread_node(spec, asked, nodes, running) or str(fitting_nodes(asked, nodes)[0]["NodeID"])


def spread_node(spec: InstanceSpec, asked: Mapping[str, float], nodes: Sequence[RayNode],
                running: Iterable[Running]) -> str | None:
    """For a spread group: among the nodes that could hold the instance (in its zone, if a node has it), the one
    running the fewest of its group, then the fewest instances; None for no group."""
    if spec.spread_group is None:
        return None
    eligible = fitting_nodes(asked, nodes)
    instances = list(running)

    def load(node: RayNode) -> tuple[int, int]:
        here = [r for r in instances if r.node_id == node["NodeID"]]
        return sum(r.spread_group == spec.spread_group for r in here), len(here)

    chosen = min(zone_nodes(spec.zone, eligible) or eligible, key=load, default=None)
    return None if chosen is None else str(chosen["NodeID"])


def pinned(node_id: str) -> dict[str, Any]:
    """Ray's options that run an actor on that node, or nowhere."""
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False)}


def fitting_nodes(asked: Mapping[str, float], nodes: Iterable[RayNode]) -> list[RayNode]:
    """The alive nodes with at least `asked` of every resource in all (free or not)."""
    return [n for n in nodes if n["Alive"]
            and all(n["Resources"].get(name, 0.0) >= amount for name, amount in asked.items())]


def zone_nodes(zone: str | None, nodes: Iterable[RayNode]) -> list[RayNode]:
    return [n for n in nodes if zone is not None and n["Alive"] and n["Labels"].get("zone") == zone]


def node_name(node: RayNode) -> str:
    """A node's stable name: its `name` label, else its Ray id's first 12 hex digits."""
    return str(node["Labels"].get("name") or node["NodeID"][:12])


def visible_resources(resources: Mapping[str, float]) -> dict[str, float]:
    """A node's resources as people know them (CPU, memory, GPU, the operator's own), without Ray's bookkeeping."""
    return {name: amount for name, amount in resources.items() if not _RAY_INTERNAL.fullmatch(name)}


# -- a job's hosts ------------------------------------------------------------------------
def reserve_hosts(kind: InstanceType, asked: Mapping[str, float], count: int, name: str) -> PlacementGroup:
    """A placement group named `name` of `count` bundles of `asked`, spread over the nodes, reserved within
    START_TIMEOUT_S; raise StartFailed (nothing reserved) when the cluster has no room for them all."""
    group: PlacementGroup = placement_group([dict(asked) for _ in range(count)], strategy="SPREAD", name=name,
                                            lifetime="detached")
    try:
        ray.get(group.ready(), timeout=START_TIMEOUT_S)
    except RayError as err:
        remove_placement_group(group)
        raise StartFailed(f"the cluster has no room for {count} hosts of {kind.name} (each needs {needs(asked)}) "
                          f"within {START_TIMEOUT_S:g} s") from err
    return group


def remove_group(name: str) -> None:
    """Free a placement group's reservation (none if it is gone already)."""
    with suppress(ValueError, RayError):
        remove_placement_group(get_placement_group(name))


# -- what people are told ----------------------------------------------------------------
def needs(resources: Mapping[str, float]) -> str:
    """Resources for people: "2 CPUs, 8.0 GiB of memory, ml.c5"."""
    parts = [f"{resources.get('CPU', 0.0):g} CPUs", f"{resources.get('memory', 0.0) / 1024**3:.1f} GiB of memory"]
    parts += [f"{resources['GPU']:g} GPUs"] if resources.get("GPU") else []
    parts += sorted(name for name in visible_resources(resources) if name not in PLAIN_RESOURCES)
    return ", ".join(parts)


def start_failure(kind: InstanceType, asked: Mapping[str, float], error: RayError) -> str:
    """Why an instance's actor did not start: no room within START_TIMEOUT_S, or its node's own failure."""
    if isinstance(error, GetTimeoutError):
        return (f"the Ray cluster had no room for an instance of {kind.name} (it needs {needs(asked)}) within "
                f"{START_TIMEOUT_S:g} s")
    cause = error.cause if isinstance(error, RayTaskError) else error
    return str(cause) if isinstance(cause, StartFailed) else \
        f"the node could not start an instance of {kind.name}: {type(cause).__name__}: {cause}"
