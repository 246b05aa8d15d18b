"""What this machine gives an instance of a type: the type's memory, CPUs and GPUs, at most what the machine has.

A type may ask for more than the machine holds (ml.p4d.24xlarge's 1,152 GiB and 8 GPUs on a
laptop). Its instances run anyway, as code written for SageMaker expects: their memory limit is
the machine's memory (said once per type in the server's log), and they are told of the GPUs
that really exist (SM_NUM_GPUS), which the top of the instance's own log states, where the
user reads it.

CPUs: an instance gets as many of the server's CPUs as its type has vCPUs (at most all of them),
the least used by other instances first, so instances spread over the machine. The pids limit
(processes and threads) is 256 per vCPU of the type, at least 512: room for a thread per CPU in
every worker a framework starts, far below the host's pid_max, so a fork bomb ends at the limit.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from modelbay.instance_types import InstanceType

log = logging.getLogger(__name__)

_NVIDIA_DEVICE = re.compile(r"nvidia\d+")  # /dev/nvidia0, ...: one per GPU the driver exposes


def machine_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@functools.cache
def machine_gpus(devices: Path = Path("/dev")) -> int:
    """The NVIDIA GPUs this machine has (0 without the driver)."""
    try:
        return sum(1 for entry in devices.iterdir() if _NVIDIA_DEVICE.fullmatch(entry.name))
    except OSError:
        return 0


@functools.cache
def memory_limit(kind: InstanceType) -> int:
    """The type's memory in bytes, capped at the machine's: a limit above it could never act (said once per type)."""
    machine = machine_memory_bytes()
    if kind.memory_bytes <= machine:
        return kind.memory_bytes
    log.warning("%s has %s of memory, more than this machine's %s: its instances are limited to the machine's",
                kind.name, kind.memory_label, _gib(machine))
    return machine


def memory_label(kind: InstanceType) -> str:
    """The limit for people: the type's memory, or the machine's when capped."""
    limit = memory_limit(kind)
    return kind.memory_label if limit == kind.memory_bytes else f"{_gib(limit)} (this machine's)"


def gpus_for(kind: InstanceType) -> int:
    """The GPUs an instance of `kind` may use here: what the type has, at most what the machine has."""
    return min(kind.gpus, machine_gpus())


def gpu_notice(kind: InstanceType) -> str | None:
    """The line that opens an instance's log when the type has more GPUs than this machine, else None."""
    available = gpus_for(kind)
    if available == kind.gpus:
        return None
    assert kind.accelerators is not None  # a type with GPUs has accelerators
    has = "no GPU" if machine_gpus() == 0 else f"{machine_gpus()} GPU{'s' * (machine_gpus() > 1)}"
    return (f"modelbay: {kind.name} has {kind.accelerators.label} but this machine has {has}; "
            f"the program runs with SM_NUM_GPUS={available}")


PIDS_PER_VCPU = 256
MIN_PIDS = 512


def machine_cpus() -> list[int]:
    """The CPUs the server may run on (its affinity mask, which a container engine may have narrowed)."""
    return sorted(os.sched_getaffinity(0))


def choose_cpus(kind: InstanceType, available: Sequence[int], in_use: Iterable[Sequence[int]]) -> list[int]:
    """The CPUs for an instance of `kind`: its vCPUs' worth of `available` (all when it has fewer), those in the
    fewest of the CPU sets `in_use` by other instances first, then the lowest numbered."""
    load = collections.Counter(cpu for cpus in in_use for cpu in cpus)
    return sorted(sorted(available, key=lambda cpu: (load[cpu], cpu))[:kind.vcpus])


def pids_limit(kind: InstanceType) -> int:
    """The most processes and threads an instance of `kind` may have at once (see the module docstring)."""
    return max(MIN_PIDS, PIDS_PER_VCPU * kind.vcpus)


def format_cpu_list(cpus: Iterable[int]) -> str:
    """The kernel's CPU list format ("0-2,5"), as in cpuset.cpus and /sys/devices/system/cpu/online."""
    ranges: list[list[int]] = []
    for cpu in sorted(cpus):
        if ranges and ranges[-1][1] == cpu - 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(first) if first == last else f"{first}-{last}" for first, last in ranges)


def parse_cpu_list(text: str) -> list[int]:
    """The CPUs a kernel CPU list names ("0-2,5" → [0, 1, 2, 5]; blank → [])."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if part:
            first, _, last = part.partition("-")
            cpus.extend(range(int(first), int(last or first) + 1))
    return cpus


def _gib(size: int) -> str:
    return f"{size / 1024**3:.1f} GiB"
