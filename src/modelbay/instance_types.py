"""The instance-type catalog: what each SageMaker ML instance type offers, as data.

The rows are in `instance_types.csv` beside this module: every `ml.*` value of botocore's
SageMaker instance-type enums (training, production variants, transform, processing, apps and
notebooks, clusters, ...), with vCPUs, memory, accelerators (kind, count, model, memory of each)
and the on-demand price in us-east-1 (Linux, USD per hour), from AWS's published SageMaker and
EC2 instance tables. Prices are for reference (estimates, the CLI); they are not fetched or kept
current, and are blank where this table does not know them. A unit test fails when botocore
names a type the table lacks.

Which operation accepts which type is not decided here: each operation's enum in botocore's
model is, checked by the codec. The module imports nothing else of modelbay, so the CLI may
read the catalog without a server.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources

_DATA_FILE = "instance_types.csv"


class AcceleratorKind(StrEnum):
    GPU = "GPU"
    INFERENTIA = "Inferentia"
    TRAINIUM = "Trainium"
    GAUDI = "Gaudi"


@dataclass(frozen=True)
class Accelerators:
    """An instance type's accelerators: `count` devices of `model`, each with `memory_gib`."""

    kind: AcceleratorKind
    count: int
    model: str
    memory_gib: float

    @property
    def label(self) -> str:
        """For people: "4 × NVIDIA A10G (24 GiB)"."""
        return f"{self.count} × {self.model} ({self.memory_gib:g} GiB)"


@dataclass(frozen=True)
class InstanceType:
    """One ML instance type. Memory is what the runtime enforces as the instance's limit."""

    name: str
    vcpus: int
    memory_mib: int
    price_per_hour: float | None = None
    accelerators: Accelerators | None = None

    @property
    def family(self) -> str:
        """"g5" for ml.g5.xlarge."""
        return self.name.split(".")[1]

    @property
    def gpus(self) -> int:
        """The GPUs the type offers (Inferentia, Trainium and Gaudi devices are not GPUs)."""
        found = self.accelerators
        return found.count if found is not None and found.kind is AcceleratorKind.GPU else 0

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib * 1024 * 1024

    @property
    def memory_label(self) -> str:
        """The memory for people: "8 GiB", "3.75 GiB", or "200 MiB" under 1 GiB."""
        if self.memory_mib < 1024:
            return f"{self.memory_mib} MiB"
        return f"{self.memory_mib / 1024:.10g} GiB"


class UnknownInstanceType(KeyError):
    """No instance type by that name."""

    def __str__(self) -> str:  # KeyError would quote the message as a repr
        return str(self.args[0])


@functools.cache
def catalog() -> Mapping[str, InstanceType]:
    """Every instance type by name, in the data file's order (by family, then size); read once."""
    rows = resources.files(__package__).joinpath(_DATA_FILE).read_text(encoding="utf-8").splitlines()
    return {row["name"]: _instance_type(row) for row in csv.DictReader(rows)}


def instance_type(name: str) -> InstanceType:
    """The catalog entry for `name`; raise UnknownInstanceType."""
    try:
        return catalog()[name]
    except KeyError:
        raise UnknownInstanceType(f"unknown instance type {name!r}; `modelbay instance-types` lists them") from None


def _instance_type(row: Mapping[str, str]) -> InstanceType:
    accelerators = None
    if row["accelerator"]:
        accelerators = Accelerators(AcceleratorKind(row["accelerator"]), int(row["accelerators"]),
                                    row["accelerator_model"], float(row["accelerator_memory_gib"]))
    return InstanceType(row["name"], int(row["vcpus"]), round(float(row["memory_gib"]) * 1024),
                        float(row["price_per_hour"]) if row["price_per_hour"] else None, accelerators)
