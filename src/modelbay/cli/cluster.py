"""`modelbay cluster`: the machines instances run on, what each has and has free, what runs there, and the leader.

The server answers from the view the leading server publishes in the store (GET /_modelbay/v1/cluster, api/cluster.py):
one node (this machine) with the process and podman runtimes, a cluster's nodes with Ray. Resources are Ray's names:
CPU, memory (bytes), GPU, and any custom ones a node was started with.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import typer
from rich.markup import escape

from modelbay.cli.native import native_get
from modelbay.cli.output import local_time, output

_COLUMNS = ["Node", "Address", "Zone", "Alive", "CPU", "Memory (GiB)", "GPU", "Other resources", "Instances"]
_SHOWN_APART = ("CPU", "memory", "GPU")  # resources with a column of their own
_GIB = 1024**3


def cluster(
    ctx: typer.Context,
    wide: bool = typer.Option(False, "--wide", "-v", help="Also list the ids of the instances on each node."),
) -> None:
    """List the nodes instances run on: address, zone, whether alive, CPU, memory (GiB) and GPUs used of all, other
    resources, the instances there; then the leading server, since when, and when it last renewed its lead."""
    answer: dict[str, Any] = native_get(ctx.obj["url"], "/cluster")
    out = output(ctx)
    if not out.as_json:
        out.table(_COLUMNS, [_row(node, wide) for node in answer["nodes"]], names=("Node",))
    out.result(answer, leader_line(answer["leader"], datetime.now(UTC)))


def _row(node: dict[str, Any], wide: bool) -> dict[str, str]:
    resources, free = node["resources"], node["free"]
    others = sorted(name for name in resources if name not in _SHOWN_APART)
    ids: list[str] = node["instances"]
    instances = f"{len(ids)}: {', '.join(ids)}" if wide and ids else str(len(ids))
    return {"Node": escape(node["name"]), "Address": escape(node["address"]), "Zone": escape(node["zone"] or "-"),
            "Alive": "yes" if node["alive"] else "[red]no[/red]", "CPU": used_of(resources, free, "CPU"),
            "Memory (GiB)": used_of(resources, free, "memory", _GIB), "GPU": used_of(resources, free, "GPU"),
            "Other resources": escape(", ".join(f"{name} {used_of(resources, free, name)}" for name in others)),
            "Instances": escape(instances)}


def used_of(resources: Mapping[str, float], free: Mapping[str, float], name: str, unit: float = 1) -> str:
    """"used/total" of resource `name` in `unit`s ("2/8", "7.5/15.6"); "-" for a resource the node lacks."""
    if name not in resources:
        return "-"
    total = resources[name]
    return f"{_amount((total - free.get(name, total)) / unit)}/{_amount(total / unit)}"


def _amount(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def leader_line(leader: dict[str, Any] | None, now: datetime) -> str:
    """"leader: <url> since <time>, renewed <n> s ago", or that no server leads yet."""
    if leader is None:
        return "leader: none yet (no server has published the cluster view)"
    renewed = datetime.fromisoformat(leader["renewed_at"])
    ago = max(0, round((now - renewed).total_seconds()))
    return (f"leader: {escape(leader['url'])} since {local_time(datetime.fromisoformat(leader['since']))}, "
            f"renewed {ago} s ago")
