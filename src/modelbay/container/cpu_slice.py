"""A model server worker's scheduler slice: how long the kernel lets it run before it switches to another task that
wants the same CPU.

Linux's fair scheduler (EEVDF) gives a task a base slice times 1 + log2 of the CPUs (at most 8) by default: 1.4 ms
on a 2-CPU VM. Where more workers are busy than there are CPUs for them (an instance's CPUs shared with its front
door, or SAGEMAKER_MODEL_SERVER_WORKERS above the CPU count), a predict longer than that is cut by the other
workers, and resumes with caches they have filled. Measured on a 2-CPU VM with a random forest predicting in 2 ms:
two processes predicting on one CPU spent 5–16 % more CPU per predict than one alone, 0–6 % with 20 ms slices; an
endpoint's model server of two workers on one CPU, at concurrency 16, answered 83.5 % of one process's predicts per
second with the default slice and 85.8 % with a 20 ms one (medians of 8 alternated loads), through its front door
77.6 and 81.2 %.

A worker asks for a longer slice: sched_setattr's sched_runtime, which Linux reads as a fair task's slice from 6.12
on (clamped to 0.1–100 ms). Its policy and nice value stay what they were. A task waking with a shorter slice still
preempts it at once (EEVDF's rule since 6.12), so interactive work on the CPU waits no longer (measured: a task
sleeping 2 ms at a time beside a busy process woke 0.07 ms late at the median, whether that process had the default
slice or a 100 ms one); only batch tasks, which never preempt on waking, wait for the slice's end or the worker's
next wait. Elsewhere (another system or processor, a kernel that predates the field and ignores it, a seccomp filter
that refuses the call) nothing changes.

Only a worker whose requests are long asks (`FittedSlice`), and for three of its requests: one whose requests take
less than half the kernel's slice is not cut in them anyway, and every millisecond a slice lasts beyond the worker's
request is one the other workers' requests may wait. Called on its port, on a 2-CPU VM: the light model's p99 at
concurrency 16 was 6.5 ms with the kernel's slice and 25 ms with 20 ms slices; the heavy model's (2 ms predicts, its
connections taking turns, http_server.py) 38–41 ms with 6 ms slices and 60–78 ms with 20 ms ones, at the same
throughput.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import platform
import statistics
import struct

# struct sched_attr (include/uapi/linux/sched/types.h, its first version): size, policy, flags, nice, priority,
# runtime, deadline, period (the utilisation clamps of later versions are left out: a size of 48 says so)
_ATTR = struct.Struct("=IIQiIQQQ")
_SCHED_OTHER, _SCHED_BATCH = 0, 3  # the fair policies, whose sched_runtime is a slice
MIN_MS, MAX_MS = 1, 100  # whole milliseconds within the kernel's range
_SYSCALLS = {"x86_64": (314, 315), "aarch64": (274, 275)}  # (sched_setattr, sched_getattr) by machine

log = logging.getLogger(__name__)


class FittedSlice:
    """A worker's slice fitted to its requests: REQUESTS_PER_SLICE times the median CPU time of its last WINDOW
    requests (at most `longest_ms`) while that median is at least half the kernel's slice, the kernel's own otherwise
    (and until WINDOW requests are seen)."""

    WINDOW = 64
    REQUESTS_PER_SLICE = 3

    def __init__(self, longest_ms: int) -> None:
        self.longest_ms = longest_ms
        self.kernel_ns = current_ns() if MIN_MS <= longest_ms <= MAX_MS else None  # None: the kernel's, always
        self.slice_ms = 0  # 0: the kernel's
        self._times: list[float] = []

    def observe(self, cpu_s: float) -> None:
        """One request took `cpu_s` seconds of the worker's CPU."""
        if self.kernel_ns is None:
            return
        self._times.append(cpu_s)
        if len(self._times) < self.WINDOW:
            return
        median_ns = statistics.median(self._times) * 1e9
        self._times.clear()
        wanted = 0 if median_ns < self.kernel_ns / 2 else min(
            self.longest_ms, max(MIN_MS, math.ceil(self.REQUESTS_PER_SLICE * median_ns / 1e6)))
        if wanted != self.slice_ms and (lengthen(wanted) if wanted else _set_runtime(0)):
            self.slice_ms = wanted


def current_ns() -> int | None:
    """The slice this process runs with, in ns; None where the kernel does not say (before 6.12, elsewhere)."""
    attr = _get_attr()
    if attr is None:
        return None
    _, policy, _, _, _, runtime, _, _ = _ATTR.unpack(attr.raw)
    return int(runtime) if policy in (_SCHED_OTHER, _SCHED_BATCH) and runtime else None


def lengthen(slice_ms: int) -> bool:
    """Ask for a slice of `slice_ms` for this process; whether it now has it (False: unchanged, as for a slice out of
    the kernel's range)."""
    return MIN_MS <= slice_ms <= MAX_MS and _set_runtime(slice_ms * 1_000_000)


def _set_runtime(runtime_ns: int) -> bool:
    """sched_runtime = `runtime_ns` (0: the kernel's slice); whether the kernel now says so."""
    attr = _get_attr()
    if attr is None:
        return False
    _, policy, flags, nice, priority, _, deadline, period = _ATTR.unpack(attr.raw)
    if policy not in (_SCHED_OTHER, _SCHED_BATCH):
        return False
    _ATTR.pack_into(attr, 0, _ATTR.size, policy, flags, nice, priority, runtime_ns, deadline, period)
    if _syscall(_SYSCALLS[platform.machine()][0], attr) != 0:
        return _refused("sched_setattr")
    after = _get_attr()  # before 6.12 a kernel takes the call, not the slice
    runtime = _ATTR.unpack(after.raw)[5] if after is not None else None
    return bool(runtime == runtime_ns if runtime_ns else runtime)


def _get_attr() -> ctypes.Array[ctypes.c_char] | None:
    """This process's sched_attr (sched_getattr); None where there is no such call."""
    calls = _SYSCALLS.get(platform.machine())
    if calls is None:
        return None
    attr = ctypes.create_string_buffer(_ATTR.size)
    if _syscall(calls[1], attr, ctypes.c_long(_ATTR.size)) != 0:
        _refused("sched_getattr")
        return None
    return attr


def _syscall(number: int, attr: ctypes.Array[ctypes.c_char], *more: ctypes.c_long) -> int:
    """syscall(number, 0 (this process), attr, *more, 0), every argument a long, as syscall(2) reads them."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return int(libc.syscall(ctypes.c_long(number), ctypes.c_long(0), attr, *more, ctypes.c_long(0)))


def _refused(call: str) -> bool:
    log.debug("the scheduler slice stays the kernel's: %s failed (%s)", call, os.strerror(ctypes.get_errno()))
    return False
