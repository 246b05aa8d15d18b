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
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import struct

# struct sched_attr (include/uapi/linux/sched/types.h, its first version): size, policy, flags, nice, priority,
# runtime, deadline, period (the utilisation clamps of later versions are left out: a size of 48 says so)
_ATTR = struct.Struct("=IIQiIQQQ")
_SCHED_OTHER, _SCHED_BATCH = 0, 3  # the fair policies, whose sched_runtime is a slice
MIN_MS, MAX_MS = 1, 100  # whole milliseconds within the kernel's range
_SYSCALLS = {"x86_64": (314, 315), "aarch64": (274, 275)}  # (sched_setattr, sched_getattr) by machine

log = logging.getLogger(__name__)


def lengthen(slice_ms: int) -> bool:
    """Ask for a slice of `slice_ms` for this process; whether it now has it (False: unchanged, as for a slice out of
    the kernel's range)."""
    calls = _SYSCALLS.get(platform.machine())
    if not MIN_MS <= slice_ms <= MAX_MS or calls is None:
        return False
    set_call, get_call = calls
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    attr = ctypes.create_string_buffer(_ATTR.size)
    this, size, none = ctypes.c_long(0), ctypes.c_long(_ATTR.size), ctypes.c_long(0)  # syscall(2) reads longs
    if libc.syscall(ctypes.c_long(get_call), this, attr, size, none) != 0:
        return _refused("sched_getattr")
    _, policy, flags, nice, priority, _, deadline, period = _ATTR.unpack(attr.raw)
    if policy not in (_SCHED_OTHER, _SCHED_BATCH):
        return False
    wanted = slice_ms * 1_000_000
    _ATTR.pack_into(attr, 0, _ATTR.size, policy, flags, nice, priority, wanted, deadline, period)
    if libc.syscall(ctypes.c_long(set_call), this, attr, none) != 0:
        return _refused("sched_setattr")
    libc.syscall(ctypes.c_long(get_call), this, attr, size, none)  # before 6.12 a kernel takes the call, not the slice
    return bool(_ATTR.unpack(attr.raw)[5] == wanted)


def _refused(call: str) -> bool:
    log.debug("the scheduler slice stays the kernel's: %s failed (%s)", call, os.strerror(ctypes.get_errno()))
    return False
