"""`modelbay instance-types`: the catalog of SageMaker ML instance types, what each offers and costs.

It reads the catalog modelbay ships (modelbay/instance_types.py, a leaf module of data) and
botocore's SageMaker model, whose enums say which operations accept a type: no server is asked.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from typing import Any

import botocore.session
import typer

from modelbay.cli.output import output
from modelbay.instance_types import AcceleratorKind, InstanceType, catalog

OPTIONS = ("json", "debug")  # the shared options that apply: no server is asked
_COLUMNS = ["Instance type", "vCPUs", "Memory", "Accelerators", "USD/hour", "Accepted by"]


class Use(StrEnum):
    """What a type is for, named after the SDK's and console's words; each is one enum of SageMaker's model."""

    TRAINING = "training"
    HOSTING = "hosting"
    TRANSFORM = "transform"
    PROCESSING = "processing"
    NOTEBOOK = "notebook"
    STUDIO = "studio"


_ENUMS = {Use.TRAINING: "TrainingInstanceType", Use.HOSTING: "ProductionVariantInstanceType",
          Use.TRANSFORM: "TransformInstanceType", Use.PROCESSING: "ProcessingInstanceType",
          Use.NOTEBOOK: "InstanceType", Use.STUDIO: "AppInstanceType"}


def instance_types(
    ctx: typer.Context,
    family: str | None = typer.Option(None, "--family", help="Only this family: m5, c5, g5, p4d, inf2, ..."),
    gpu: bool = typer.Option(False, "--gpu", help="Only types with GPUs."),
    accelerator: AcceleratorKind | None = typer.Option(None, "--accelerator", case_sensitive=False,
                                                       help="Only types with this kind of accelerator."),
    use: Use | None = typer.Option(None, "--for", case_sensitive=False,
                                   help="Only types that this use's operations accept (CreateTrainingJob, "
                                        "CreateEndpointConfig, CreateTransformJob, CreateProcessingJob, "
                                        "CreateNotebookInstance, CreateApp)."),
) -> None:
    """List the ML instance types: vCPUs, memory, accelerators, on-demand price in us-east-1, what accepts them.

    Any type runs here: its memory is the instance's limit (at most this machine's), and a program sees the
    type's GPUs only as far as this machine has them (SM_NUM_GPUS).
    """
    kinds = [kind for kind in catalog().values()
             if (family is None or kind.family == family) and (not gpu or kind.gpus)
             and (accelerator is None or (kind.accelerators is not None and kind.accelerators.kind is accelerator))
             and (use is None or kind.name in _accepted(use))]
    out = output(ctx)
    out.table(_COLUMNS, [_json_row(kind) if out.as_json else _table_row(kind) for kind in kinds])


@functools.cache
def _accepted(use: Use) -> frozenset[str]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(model.shape_for(_ENUMS[use]).enum)


def _uses(kind: InstanceType) -> list[str]:
    return [use.value for use in Use if kind.name in _accepted(use)]


def _table_row(kind: InstanceType) -> dict[str, str]:
    price = "" if kind.price_per_hour is None else f"{kind.price_per_hour:g}"
    return {"Instance type": kind.name, "vCPUs": str(kind.vcpus), "Memory": kind.memory_label,
            "Accelerators": kind.accelerators.label if kind.accelerators else "", "USD/hour": price,
            "Accepted by": ",".join(_uses(kind))}  # one word: on a narrow terminal the column goes whole


def _json_row(kind: InstanceType) -> dict[str, Any]:
    accelerators = kind.accelerators and {"Kind": kind.accelerators.kind.value, "Count": kind.accelerators.count,
                                          "Model": kind.accelerators.model,
                                          "MemoryGiB": kind.accelerators.memory_gib}
    return {"InstanceType": kind.name, "VCpus": kind.vcpus, "MemoryGiB": kind.memory_mib / 1024,
            "Accelerators": accelerators, "PricePerHour": kind.price_per_hour, "AcceptedBy": _uses(kind)}
