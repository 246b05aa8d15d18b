"""The instance-type catalog: what each SageMaker ML instance type offers, as data.

Prices are SageMaker's public on-demand list prices for training in us-east-1 (USD per hour),
kept for reference (billing estimates, the console); they are not fetched or kept current.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceType:
    """One ML instance type. Memory is what the runtime enforces as the instance's limit."""

    name: str
    vcpus: int
    memory_mib: int
    gpus: int
    price_per_hour: float

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib * 1024 * 1024

    @property
    def memory_label(self) -> str:
        """The memory for people: "8 GiB", or "200 MiB" when not a whole number of GiB."""
        if self.memory_mib % 1024 == 0:
            return f"{self.memory_mib // 1024} GiB"
        return f"{self.memory_mib} MiB"


class UnknownInstanceType(KeyError):
    """No instance type by that name; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message as a repr
        return str(self.args[0])


def _gib(name: str, vcpus: int, memory_gib: int, gpus: int, price_per_hour: float) -> InstanceType:
    return InstanceType(name, vcpus, memory_gib * 1024, gpus, price_per_hour)


CATALOG: dict[str, InstanceType] = {t.name: t for t in (
    _gib("ml.t3.medium", 2, 4, 0, 0.05),
    _gib("ml.m5.large", 2, 8, 0, 0.115),
    _gib("ml.m5.xlarge", 4, 16, 0, 0.23),
    _gib("ml.m5.2xlarge", 8, 32, 0, 0.461),
    _gib("ml.m5.4xlarge", 16, 64, 0, 0.922),
    _gib("ml.c5.xlarge", 4, 8, 0, 0.204),
    _gib("ml.c5.2xlarge", 8, 16, 0, 0.408),
    _gib("ml.c5.4xlarge", 16, 32, 0, 0.816),
    _gib("ml.p3.2xlarge", 8, 61, 1, 3.825),
    _gib("ml.g4dn.xlarge", 4, 16, 1, 0.736),
)}


def instance_type(name: str) -> InstanceType:
    """The catalog entry for `name`; raise UnknownInstanceType naming the known types."""
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise UnknownInstanceType(f"unknown instance type {name!r}; known types: {known}") from None
