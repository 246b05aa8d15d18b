"""A stand-in for a cluster runtime in controller tests: the real ProcessRuntime, its instances said to run on named
nodes, one of which a test can lose."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from modelbay.runtime.base import Instance, InstanceSpec, InstanceStatus, stop_instances
from modelbay.runtime.process import ProcessRuntime


def lost_reason(node: str) -> str:
    """What a cluster runtime says of an instance whose node was lost (runtime/ray.py's words)."""
    return f"the node {node} (10.0.0.7, zone us-east-1b) running it was lost"


class NodesRuntime(ProcessRuntime):
    """Instances are placed on the nodes not lost, in turn; `lose(node)` kills the instances of a node, which then
    show as a cluster runtime shows them: LOST, without an exit code, with a reason naming the node."""

    spans_machines = True

    def __init__(self, state_dir: Path, nodes: Sequence[str]) -> None:
        super().__init__(state_dir, namespaces=False)
        self._next_node = itertools.cycle(nodes)
        self.placed: dict[str, str] = {}  # instance id: the node it was placed on
        self._lost: set[str] = set()

    def start(self, spec: InstanceSpec, labels: Mapping[str, str]) -> Instance:
        instance = super().start(spec, labels)
        self.placed[instance.id] = next(n for n in self._next_node if n not in self._lost)
        return self._on_node(instance)

    def list(self, labels: Mapping[str, str]) -> list[Instance]:
        return [self._on_node(i) for i in super().list(labels)]

    def inspect(self, instance_id: str) -> Instance:
        return self._on_node(super().inspect(instance_id))

    def lose(self, node: str) -> list[str]:
        """Lose `node` and what runs there; return the ids of its instances."""
        gone = [i for i, placed in self.placed.items() if placed == node and self.inspect(i).is_alive]
        stop_instances(self, gone, grace_s=0)
        self._lost.add(node)
        return gone

    def _on_node(self, instance: Instance) -> Instance:
        node = self.placed.get(instance.id)
        if node in self._lost and not instance.is_alive:
            return replace(instance, node=node, status=InstanceStatus.LOST, exit_code=None, reason=lost_reason(node))
        return replace(instance, node=node)
