"""Memory limits for process instances: a cgroup per instance, else a watchdog on RSS.

`memory_limiter()` picks the best this machine offers: the instance's memory cgroup (v1 or v2,
see cgroups.py) when there is one (the kernel kills on excess), else a watchdog that samples the process group's
resident memory from /proc and kills it (looser: a fast allocation can overshoot between
samples), else nothing, with a warning.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from modelbay.runtime.cgroups import CGROUP_MOUNT, CgroupTree

log = logging.getLogger(__name__)

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class MemoryLimiter(abc.ABC):
    """Applies one instance's memory limit and tells afterwards whether it was exceeded."""

    @abc.abstractmethod
    def prepare(self, instance_id: str, limit_bytes: int) -> None:
        """Set the limit up before the instance starts (its cgroups exist by then, when there are any)."""

    @abc.abstractmethod
    def watch(self, instance_id: str, pgid: int, limit_bytes: int) -> None:
        """Called once the instance's process group exists."""

    @abc.abstractmethod
    def exceeded(self, instance_id: str) -> bool:
        """Whether the instance was killed for exceeding its limit (valid after it ended)."""

    @abc.abstractmethod
    def release(self, instance_id: str) -> None:
        """Forget the instance; it has ended."""


@dataclass(frozen=True)
class _CgroupFiles:
    limit: tuple[str, ...]  # written with the limit, in order
    events: str  # holds an "oom_kill N" line
    no_swap: str | None  # written with "0" so excess is killed instead of swapped


_V1 = _CgroupFiles(("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"), "memory.oom_control", None)
_V2 = _CgroupFiles(("memory.max",), "memory.events", "memory.swap.max")


class CgroupMemoryLimiter(MemoryLimiter):
    """The limit in the instance's memory cgroup, which `tree` makes and removes."""

    def __init__(self, tree: CgroupTree) -> None:
        self.tree = tree
        self.files = _V1 if (CGROUP_MOUNT / "memory" / "memory.limit_in_bytes").exists() else _V2

    def _group(self, instance_id: str) -> Path:
        group = self.tree.group("memory", instance_id)
        assert group is not None  # chosen only when the tree has the memory controller
        return group

    def prepare(self, instance_id: str, limit_bytes: int) -> None:
        group = self._group(instance_id)
        for name in self.files.limit:
            if (group / name).exists():  # memsw exists only with swap accounting
                (group / name).write_text(str(limit_bytes))
        if self.files.no_swap and (group / self.files.no_swap).exists():
            (group / self.files.no_swap).write_text("0")

    def watch(self, instance_id: str, pgid: int, limit_bytes: int) -> None:
        pass  # the kernel enforces the limit

    def exceeded(self, instance_id: str) -> bool:
        try:
            lines = (self._group(instance_id) / self.files.events).read_text().splitlines()
        except FileNotFoundError:
            return False
        counts = dict(line.split() for line in lines if " " in line)
        return int(counts.get("oom_kill", "0")) > 0

    def release(self, instance_id: str) -> None:
        pass  # the tree removes the group


class RssWatchdog(MemoryLimiter):
    """Samples the resident memory of each watched process group; kills a group over its limit."""

    def __init__(self, every_s: float = 0.05) -> None:
        self.every_s = every_s
        self._exceeded: set[str] = set()

    def prepare(self, instance_id: str, limit_bytes: int) -> None:
        return None

    def watch(self, instance_id: str, pgid: int, limit_bytes: int) -> None:
        thread = threading.Thread(target=self._watch, args=(instance_id, pgid, limit_bytes),
                                  name=f"rss-watchdog-{instance_id}", daemon=True)
        thread.start()

    def _watch(self, instance_id: str, pgid: int, limit_bytes: int) -> None:
        while True:
            time.sleep(self.every_s)
            rss = group_rss_bytes(pgid)
            if rss is None:
                return  # the group is gone
            if rss > limit_bytes:
                self._exceeded.add(instance_id)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                return

    def exceeded(self, instance_id: str) -> bool:
        return instance_id in self._exceeded

    def release(self, instance_id: str) -> None:
        self._exceeded.discard(instance_id)


def group_rss_bytes(pgid: int) -> int | None:
    """Total resident memory of the live processes in a process group; None when none is left."""
    total, found = 0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        # after the command: state, ppid, pgrp, ... rss (pages) is field 24 overall, index 21 here
        if int(fields[2]) == pgid and fields[0] != "Z":
            total, found = total + int(fields[21]) * PAGE_SIZE, True
    return total if found else None


def memory_limiter(tree: CgroupTree | None) -> MemoryLimiter | None:
    """The best memory limiter available here, or None (limits not enforced, warned once)."""
    if tree is not None and "memory" in tree.parents:
        return CgroupMemoryLimiter(tree)
    if Path("/proc/self/stat").exists():
        log.warning("no writable memory cgroup: instance memory limits are enforced by sampling RSS")
        return RssWatchdog()
    log.warning("no memory cgroup and no /proc: instance memory limits are NOT enforced")
    return None
