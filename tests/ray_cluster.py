"""A real Ray cluster on this machine for tests: a head and worker nodes, each a `ray start --block` process of its
own (its own session, so a node is killed whole), with its own CPUs, resources and zone label.

Each node is told where its instances' state lives (MODELBAY_NODE_DIR, which Ray's workers inherit), so that a
test that kills a node can also end what the node's launcher started, as the loss of a machine would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from modelbay.runtime.base import stop_all
from modelbay.runtime.process import ProcessRuntime
from tests.helpers import free_port, wait_until

RAY = Path(sys.executable).with_name("ray")
NODE_DIR_VARIABLE = "MODELBAY_NODE_DIR"  # where a node's launcher keeps its instances (runtime/ray_node.py)
_OBJECT_STORE_BYTES = 80 * 1024 * 1024  # Ray's object store holds nothing of ours: its minimum, per node
_START_TIMEOUT_S = 60


@dataclass(frozen=True)
class NodeSpec:
    """One node to start: its zone label, CPUs, memory (bytes, None: Ray's reading) and custom resources."""

    zone: str
    cpus: int = 2
    memory: int | None = None
    resources: dict[str, float] = field(default_factory=dict)


@dataclass
class RayNode:
    spec: NodeSpec
    process: subprocess.Popen[bytes]
    node_dir: Path

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class RayCluster:
    address: str  # host:port of the head, what MODELBAY_RAY_ADDRESS names
    nodes: list[RayNode]

    def kill(self, index: int) -> None:
        """Kill node `index` as a machine is lost: its Ray processes at once, then what its launcher ran."""
        node = self.nodes[index]
        _kill_session(node.process, signal.SIGKILL)
        stop_all(ProcessRuntime(node.node_dir / "runtime"), grace_s=0)


@contextmanager
def ray_cluster(root: Path, nodes: Sequence[NodeSpec], environ: dict[str, str] | None = None) -> Iterator[RayCluster]:
    """Start `nodes` (the first is the head) under `root`; stop them all on the way out."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    temp_dir = Path(f"/tmp/ray-{port}")  # short: Ray's unix sockets live under it
    started: list[RayNode] = []
    try:
        for index, spec in enumerate(nodes):
            node_dir = root / f"node-{index}"
            node_dir.mkdir(parents=True, exist_ok=True)
            where = ["--head", f"--port={port}", f"--temp-dir={temp_dir}", "--include-dashboard=false"] \
                if index == 0 else [f"--address={address}"]
            started.append(RayNode(spec, _start(where, spec, node_dir, environ), node_dir))
            wait_until(lambda: _alive_nodes(address) >= len(started), _START_TIMEOUT_S, f"Ray node {index} to join")
        yield RayCluster(address, started)
    finally:
        for node in started:  # at once, as a test's cluster keeps nothing worth a graceful stop
            _kill_session(node.process, signal.SIGKILL)
            node.process.wait()
            stop_all(ProcessRuntime(node.node_dir / "runtime"), grace_s=0)
        _kill_remaining(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _start(where: list[str], spec: NodeSpec, node_dir: Path, environ: dict[str, str] | None) -> subprocess.Popen[bytes]:
    memory = [] if spec.memory is None else [f"--memory={spec.memory}"]
    argv = [str(RAY), "start", "--block", *where, "--node-ip-address=127.0.0.1", f"--num-cpus={spec.cpus}",
            "--num-gpus=0", f"--resources={json.dumps(spec.resources)}", f"--labels=zone={spec.zone}", *memory,
            f"--object-store-memory={_OBJECT_STORE_BYTES}", "--disable-usage-stats"]
    env = (os.environ if environ is None else environ) | {NODE_DIR_VARIABLE: str(node_dir),
                                                          "RAY_USAGE_STATS_ENABLED": "0"}
    log = (node_dir / "ray-start.log").open("ab")
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _alive_nodes(address: str) -> int:
    """How many nodes the cluster at `address` counts alive (asked in a process of its own: a test's process
    stays free of Ray's driver state)."""
    script = ("import ray, sys; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False); "
              "print(sum(n['Alive'] for n in ray.nodes()))")
    done = subprocess.run([sys.executable, "-c", script, address], capture_output=True, text=True, timeout=60)
    return int(done.stdout.strip() or 0) if done.returncode == 0 else 0


def _kill_session(process: subprocess.Popen[bytes], sig: int) -> None:
    """Signal every process of the node's session (`ray start` and what it started: GCS, raylet, workers)."""
    session = process.pid
    for pid in _session_members(session):
        with suppress(ProcessLookupError):
            os.kill(pid, sig)


def _session_members(session: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session:  # after the command: state, ppid, pgrp, session
                members.append(int(entry.name))
    return members


def _kill_remaining(temp_dir: Path) -> None:
    """Kill what still names the cluster's temp dir (a worker Ray started outside its node's session)."""
    marker = str(temp_dir).encode()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline_has(p, marker)]
        if not left:
            return
        for pid in left:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _cmdline_has(proc: Path, marker: bytes) -> bool:
    try:
        return marker in (proc / "cmdline").read_bytes()
    except OSError:
        return False
