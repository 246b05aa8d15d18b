"""What this machine has for instances, and what is left of it once its running instances have taken theirs.

Resources are named as Ray names a node's (CPU, memory in bytes, GPU), so `modelbay cluster` shows a lone machine
and a cluster's nodes alike. An instance takes what this machine gives its type (machine.py): its vCPUs, its memory
limit and its GPUs, each at most the machine's. The process and podman runtimes share CPUs between instances rather
than refuse one, so what is free may fall below zero: the machine is shown oversubscribed, not hidden as full. An
instance whose type the catalog does not name takes nothing that can be counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from modelbay.instance_types import InstanceType, catalog
from modelbay.runtime.machine import gpus_for, machine_cpus, machine_gpus, machine_memory_bytes, memory_limit


def machine_resources() -> dict[str, float]:
    """This machine's CPUs (those the server may run on), memory in bytes and GPUs."""
    return {"CPU": float(len(machine_cpus())), "memory": float(machine_memory_bytes()), "GPU": float(machine_gpus())}


def free_resources(resources: Mapping[str, float], running_types: Iterable[str]) -> dict[str, float]:
    """`resources` less what instances of `running_types` (instance type names, one per instance) take here."""
    free = dict(resources)
    for name in running_types:
        kind = catalog().get(name)
        if kind is not None:
            for resource, amount in _taken_by(kind, resources).items():
                free[resource] -= amount
    return free


def _taken_by(kind: InstanceType, resources: Mapping[str, float]) -> dict[str, float]:
    """What an instance of `kind` takes of this machine."""
    return {"CPU": min(float(kind.vcpus), resources["CPU"]), "memory": float(memory_limit(kind)),
            "GPU": float(gpus_for(kind))}
