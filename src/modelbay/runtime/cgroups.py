"""The cgroups of process instances: a group per instance in each of the memory, pids and cpuset controllers.

Each runtime keeps its groups under `<hierarchy>/modelbay/rt-<key>/<instance id>`, `key` a hash of
its state directory, and records which directory that is as a symlink `REGISTRY/rt-<key>`. So a
runtime cleans exactly what is its own (groups of no running instance: e.g. a server SIGKILLed
before it removed them) and what belongs to no state directory any more, and never a group another
live runtime still needs (it reads an ended instance's memory.oom_control after the end). Groups
of the flat layout before runtime keys (`modelbay/<instance id>`) are removed once empty.

cgroup v1 has a hierarchy per controller (`/sys/fs/cgroup/<controller>`); cgroup v2 one
(`/sys/fs/cgroup`, controllers enabled down the path through cgroup.subtree_control). A controller
this machine lacks or does not let us write is left out, said once in the log; memory.py falls
back to an RSS watchdog, the CPUs to an affinity mask (process.py), and there is no pids limit.

A group is removed when its instance is removed; removal fails while processes remain (a kill
that has not landed yet) and is retried by the next remove and at the next start-up.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import signal
import time
from collections.abc import Container, Mapping, Sequence
from pathlib import Path

from modelbay.runtime.machine import format_cpu_list, parse_cpu_list

log = logging.getLogger(__name__)

CGROUP_MOUNT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "pids", "cpuset")
REGISTRY = Path("/run/modelbay/cgroups")  # tmpfs, emptied at boot like the cgroups themselves
_TOP = "modelbay"
_LEGACY_GROUP = re.compile(r"[0-9a-f]{16}")
_REMOVE_TRIES = 20


class CgroupTree:
    """One runtime's instance groups: `parents` maps each usable controller to the directory holding them
    (the same directory for every controller under cgroup v2)."""

    def __init__(self, parents: Mapping[str, Path]) -> None:
        self.parents = dict(parents)

    def group(self, controller: str, instance_id: str) -> Path | None:
        """The instance's group in `controller`, None when that controller is not used."""
        parent = self.parents.get(controller)
        return None if parent is None else parent / instance_id

    def create(self, instance_id: str, cpus: Sequence[int], pids_max: int) -> list[Path]:
        """Make the instance's groups, pinned to `cpus` and limited to `pids_max` tasks; return the
        cgroup.procs files its first process must join (write its pid to) before it execs."""
        for directory in self._directories(instance_id):
            directory.mkdir(exist_ok=True)
        if (cpuset := self.group("cpuset", instance_id)) is not None:
            _inherit_mems(cpuset)
            (cpuset / "cpuset.cpus").write_text(format_cpu_list(cpus))
        if (pids := self.group("pids", instance_id)) is not None:
            (pids / "pids.max").write_text(str(pids_max))
        return [directory / "cgroup.procs" for directory in self._directories(instance_id)]

    def cpus_in_use(self) -> list[list[int]]:
        """The CPU sets of this runtime's groups, one per instance."""
        parent = self.parents.get("cpuset")
        if parent is None:
            return []
        return [parse_cpu_list(_read(group / "cpuset.cpus")) for group in _groups(parent)]

    def procs_file(self, instance_id: str) -> Path | None:
        """One cgroup.procs file listing every process of the instance (pids' first: it also counts threads)."""
        for controller in ("pids", *CONTROLLERS):
            if (group := self.group(controller, instance_id)) is not None:
                return group / "cgroup.procs"
        return None

    def pids(self, instance_id: str) -> list[int]:
        """The instance's processes, wherever they moved (another process group, session, a daemon)."""
        procs = self.procs_file(instance_id)
        return [] if procs is None else [int(pid) for pid in _read(procs).split()]

    def kill(self, instance_id: str) -> None:
        """SIGKILL every process of the instance."""
        for pid in self.pids(instance_id):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def remove(self, instance_id: str) -> bool:
        """Remove the instance's groups, killing what is left in them, retrying for about a second (a killed
        process leaves its group within milliseconds); False when one is still busy (call again later)."""
        for _ in range(_REMOVE_TRIES):
            if all(_remove_group(directory) for directory in self._directories(instance_id)):
                return True
            self.kill(instance_id)
            time.sleep(0.05)
        return False

    def clean(self, running: Container[str]) -> None:
        """Remove this runtime's groups of instances not `running` (start-up, after a crash), killing what
        their instances left in them (processes outlive a supervisor killed with SIGKILL)."""
        for instance_id in {group.name for parent in self.parents.values() for group in _groups(parent)}:
            if instance_id not in running and not self.remove(instance_id):
                log.warning("could not remove the cgroups of instance %s", instance_id)

    def _directories(self, instance_id: str) -> list[Path]:
        return sorted({parent / instance_id for parent in self.parents.values()})


def runtime_key(state_dir: Path) -> str:
    """The name of the group holding the instance groups of the runtime on `state_dir`."""
    return "rt-" + hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]


def cgroup_tree(state_dir: Path) -> CgroupTree | None:
    """The cgroups for the runtime on `state_dir`: its parent groups made, its key registered, the groups of
    deleted state directories removed. None where no controller is usable (said once in the log)."""
    key = runtime_key(state_dir)
    _register(key, state_dir)  # first: another runtime's clean-up must not take our parents for abandoned
    roots = _controller_roots()
    parents = {controller: parent for controller, root in roots.items()
               if (parent := _make_parent(root, controller, key)) is not None}
    missing = [controller for controller in CONTROLLERS if controller not in parents]
    if missing:
        log.warning("no writable cgroup for %s: instances run without that limit", ", ".join(missing))
    if not parents:
        return None
    for top in {parent.parent for parent in parents.values()}:
        _clean_abandoned(top)
    return CgroupTree(parents)


def _controller_roots() -> dict[str, Path]:
    """Each controller's hierarchy: v1's own mount, else the v2 root where the controller is available."""
    v2 = _read(CGROUP_MOUNT / "cgroup.controllers").split()
    roots = {}
    for controller in CONTROLLERS:
        if (CGROUP_MOUNT / controller / "cgroup.procs").exists():
            roots[controller] = CGROUP_MOUNT / controller
        elif controller in v2:
            roots[controller] = CGROUP_MOUNT
    return roots


def _make_parent(root: Path, controller: str, key: str) -> Path | None:
    """`root/modelbay/<key>`, made and able to hold instance groups of `controller`; None if it cannot."""
    path = root
    try:
        for name in (_TOP, key):
            if root == CGROUP_MOUNT:  # v2: a child gets a controller only when its parent enables it
                (path / "cgroup.subtree_control").write_text(f"+{controller}")
            path = path / name
            path.mkdir(exist_ok=True)
            if controller == "cpuset":
                _inherit_mems(path)
        if root == CGROUP_MOUNT:
            (path / "cgroup.subtree_control").write_text(f"+{controller}")
    except OSError:
        return None
    return path


def _inherit_mems(group: Path) -> None:
    """cgroup v1 cpuset: a group takes no process until its CPUs and memory nodes are set; start from its
    parent's. (v2 groups inherit them: the files are empty or absent there, and nothing is written.)"""
    for name in ("cpuset.cpus", "cpuset.mems"):
        if (group / name).exists() and not _read(group / name).strip():
            (group / name).write_text(_read(group.parent / name).strip())


def _register(key: str, state_dir: Path) -> None:
    with contextlib.suppress(OSError):
        REGISTRY.mkdir(parents=True, exist_ok=True)
        link = REGISTRY / key
        link.unlink(missing_ok=True)
        link.symlink_to(state_dir.resolve())


def _clean_abandoned(top: Path) -> None:
    """Under `top` (a hierarchy's modelbay group): remove the groups of runtimes whose state directory is
    gone, and empty groups of the flat layout."""
    for entry in _groups(top):
        if _LEGACY_GROUP.fullmatch(entry.name):
            _remove_group(entry)
        elif not (REGISTRY / entry.name).exists():  # exists() follows the link: False once the target is gone
            for group in _groups(entry):
                _remove_group(group)
            if _remove_group(entry):
                (REGISTRY / entry.name).unlink(missing_ok=True)


def _groups(parent: Path) -> list[Path]:
    try:
        return [entry for entry in parent.iterdir() if entry.is_dir()]
    except OSError:
        return []


def _remove_group(group: Path) -> bool:
    """rmdir a cgroup (its files go with it); False while processes (or child groups) remain."""
    try:
        group.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
