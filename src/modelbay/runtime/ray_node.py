"""NodeHost: the Ray actor that runs one instance on the node where Ray placed it (runtime/ray.py starts it).

The actor holds the node's launcher (a ProcessRuntime on the node's network: its instances' ports are the node's)
on the node's state directory, `$MODELBAY_NODE_DIR/runtime` (else under the system's
temporary directory), so what a node runs is found there as on a server's own machine. The instance runs in its own
directory there (`instances/<id>/opt_ml`), filled from and mirrored to the object store (instance_mirror.py).
Launchers of several actors share the state directory: one made or starting an instance holds the node's lock,
so another's start-up clean never takes the files of an instance half started.

The actor remembers nothing between polls: a poll names the log offset and the snapshot of the files the server has,
and its report carries the snapshot to pass next. So any server may poll (the leader of the moment), and one that
adopts the instance gets every file changed since the start, whoever polled before it.

Everything in and out is plain data (dataclasses, str, bytes), as Ray pickles it between machines.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import ray

from modelbay.config import Settings
from modelbay.runtime.base import Instance, InstanceSpec, Runtime, Usage
from modelbay.runtime.instance_mirror import InstanceMirror, Snapshot, output_snapshot
from modelbay.runtime.process import ProcessRuntime
from modelbay.store.objects import open_object_store

NODE_DIR_VARIABLE = "MODELBAY_NODE_DIR"  # the node's state directory (tests/ray_cluster.py sets it per node)
LOG_CHUNK_BYTES = 1024 * 1024  # the most of a log one poll carries


@dataclass(frozen=True)
class Report:
    """What a poll tells of the instance: its state as its launcher sees it, the log bytes from the offset asked for,
    the names of the opt_ml files changed since the snapshot passed (all of them uploaded before the report), and
    the snapshot to pass next time."""

    status: str
    exit_code: int | None
    reason: str | None
    ended_at: datetime | None
    log: bytes
    changed: tuple[str, ...]
    synced: Snapshot


def node_dir() -> Path:
    """This node's state directory."""
    configured = os.environ.get(NODE_DIR_VARIABLE)
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "modelbay-node"


class NodeHost:
    """One instance on this node. `settings` hold only what a node needs: the object store's endpoint and keys, and
    the region."""

    def __init__(self, settings: Settings, instance_id: str) -> None:
        self.settings = settings
        self.mirror = InstanceMirror(open_object_store(settings), instance_id, settings.region)
        self.directory = node_dir() / "instances" / instance_id
        self.opt_ml = self.directory / "opt_ml"
        self.launched: str | None = None  # the launcher's id for the instance
        self.record: dict[str, Any] = {}
        self._launcher: Runtime | None = None

    def start(self, spec: InstanceSpec, labels: Mapping[str, str], record: Mapping[str, Any]) -> dict[str, Any]:
        """Download the staged directory, start the instance on it; answer the server's `record` with this node's
        Ray id (`node_id`) and the snapshot of the files it started with (`synced`: what the server has already).
        Raise StartFailed. The answer is kept for a server that adopts the instance (see `recorded`)."""
        self.mirror.download_start(self.opt_ml)
        started_with = output_snapshot(self.opt_ml)
        launcher = self.launcher  # made under the node's lock, which is not reentrant
        with _node_lock():
            self.launched = launcher.start(self._here(spec), labels).id
        self.record = {**record, "node_id": str(ray.get_runtime_context().get_node_id()), "synced": started_with}
        return self.record

    def recorded(self) -> dict[str, Any]:
        """The record `start` answered: the starting server's, with this node's Ray id and the files at the start."""
        return self.record

    def poll(self, log_offset: int, synced: Snapshot) -> Report:
        """The instance's state, its log from `log_offset`, its files changed since `synced` uploaded; the state is
        read first, so an ended instance's last files are uploaded by the report that tells its end."""
        instance = self.launcher.inspect(self._id)
        changed, now_synced = self.mirror.upload_outputs(self.opt_ml, synced)
        return Report(instance.status.value, instance.exit_code, instance.reason, instance.ended_at,
                      _read_log(instance, log_offset), tuple(changed), now_synced)

    def stop(self, grace_s: float, reason: str | None) -> None:
        self.launcher.stop(self._id, grace_s, reason)

    def usage(self) -> Usage | None:
        return self.launcher.usage(self._id)

    def release(self) -> None:
        """Free what the node holds for the ended instance (its launcher's files, its directory) and the objects
        that carried its directory; the server has what it needs by then."""
        if self.launched is not None:
            self.launcher.remove(self.launched)
        shutil.rmtree(self.directory, ignore_errors=True)
        self.mirror.delete()

    @property
    def launcher(self) -> Runtime:
        if self._launcher is None:
            with _node_lock():
                self._launcher = ProcessRuntime(node_dir() / "runtime", networks=False)  # ports: the node's
        return self._launcher

    @property
    def _id(self) -> str:
        if self.launched is None:
            raise RuntimeError("the instance has not been started on this node")
        return self.launched

    def _here(self, spec: InstanceSpec) -> InstanceSpec:
        """`spec` with the server's opt_ml replaced by this node's, wherever it names it."""
        server = str(spec.opt_ml)

        def moved(value: str) -> str:
            return str(self.opt_ml) + value[len(server):] if value.startswith(server) else value

        workdir = None if spec.workdir is None else Path(moved(str(spec.workdir)))
        return replace(spec, opt_ml=self.opt_ml, workdir=workdir,
                       env={name: moved(value) for name, value in spec.env.items()})


def _read_log(instance: Instance, offset: int) -> bytes:
    try:
        with open(instance.log_path, "rb") as log:
            log.seek(offset)
            return log.read(LOG_CHUNK_BYTES)
    except FileNotFoundError:
        return b""


@contextmanager
def _node_lock() -> Iterator[None]:
    """Held by the one actor of this node making a launcher or starting an instance."""
    path = node_dir() / "launcher.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
