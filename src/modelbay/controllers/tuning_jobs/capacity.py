"""What trials the machine can hold at once: their instance types' vCPUs and memory against the machine's.

A trial's demand is what its instances get here (runtime/machine.py): the type's vCPUs and memory, each at most
the machine's, times the instance count. Trials start while the running ones' demands and the next one's fit
within the machine; one trial may always run, however large its type, as a plain training job would. A trial that
does not fit waits (held), and says why: `waiting` is its status message.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from modelbay.instance_types import instance_type
from modelbay.runtime.machine import machine_memory_bytes


@dataclass(frozen=True)
class Demand:
    """The vCPUs and bytes of memory some instances take."""

    cpus: int
    memory_bytes: int

    def __add__(self, other: Demand) -> Demand:
        return Demand(self.cpus + other.cpus, self.memory_bytes + other.memory_bytes)


NOTHING = Demand(0, 0)


@dataclass(frozen=True)
class Capacity:
    """A machine's vCPUs and memory, shared by the trials of every tuning job."""

    cpus: int
    memory_bytes: int

    @classmethod
    def of_machine(cls) -> Capacity:
        return cls(os.cpu_count() or 1, machine_memory_bytes())

    def demand(self, type_name: str, count: int) -> Demand:
        """What `count` instances of type `type_name` take here."""
        kind = instance_type(type_name)
        return Demand(min(kind.vcpus, self.cpus) * count, min(kind.memory_bytes, self.memory_bytes) * count)

    def fits(self, running: Iterable[Demand], next_one: Demand) -> bool:
        """Whether `next_one` may start beside the `running` demands (always, when nothing runs)."""
        taken = sum(running, NOTHING)
        if taken == NOTHING:
            return True
        total = taken + next_one
        return total.cpus <= self.cpus and total.memory_bytes <= self.memory_bytes

    def describe(self, demand: Demand) -> str:
        """The demand against the machine, for people."""
        return (f"{demand.cpus} of {self.cpus} vCPUs and {demand.memory_bytes / 1024**3:.1f} of "
                f"{self.memory_bytes / 1024**3:.1f} GiB of memory")

    def waiting(self, running: Iterable[Demand]) -> str:
        """The status message of a trial waiting for the `running` demands to leave it room."""
        return f"Waiting for capacity on this machine: {self.describe(sum(running, NOTHING))} in use by other trials"
