"""Where a model compiled by a compilation job (SageMaker Neo) may run: on the instance family it was compiled for.

SageMaker's Neo guide says a compiled model is deployed on the instance type its compilation targeted
(TargetDevice ml_c5: an ml.c5 instance type); its API documents no refusal, and a model deployed elsewhere
fails as its endpoint starts. modelbay refuses it at the first create that knows both the model and the
instance type: CreateEndpointConfig (each production and shadow variant) and CreateTransformJob
(TransformResources), with a ValidationException naming the model, its family and the instance type.

A model is compiled when one of its containers' model data (ModelDataUrl, or ModelDataSource's S3Uri) is the
ModelArtifacts.S3ModelArtifacts of a completed compilation job. What its job targeted decides:
- an ML instance family (`ml_c5`): instance types of that family only. A serverless variant (no instance type)
  is allowed: the SageMaker Python SDK deploys compiled models serverless, serverless inference's documented
  exclusions do not name Neo, and modelbay compiles for CPUs only, which is what serverless offers;
- an edge device (`rasp4b`, `jetson_nano`, ...): no endpoint nor transform job; it goes to devices through an edge
  packaging job, as the SDK's compile() warns ("not supported for deployment via SageMaker");
- a TargetPlatform (Os, Arch): the compiled model names no instance family and may run on any.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from modelbay.errors import ValidationError
from modelbay.services.base import Context
from modelbay.store.metadata import Definition

_INSTANCE_TARGET_PREFIX = "ml_"  # TargetDevice ml_c5 targets the instance family ml.c5


def check_instance_family(ctx: Context, model: Definition, instance_type: str | None, label: str) -> None:
    """Refuse to run `model` on `instance_type` (None: serverless) when it was compiled for another target;
    `label` names the member in the error (`ProductionVariant AllTraffic`, `TransformResources`)."""
    for url in model_data_urls(model.request):
        job = ctx.metadata.compilation_jobs.by_model_artifact(url)
        if job is None or job.target_device is None:
            continue
        device: str = job.target_device
        if not device.startswith(_INSTANCE_TARGET_PREFIX):
            raise ValidationError(
                f"{label}: model {model.name} was compiled for the edge device {device} (compilation job "
                f"{job.name}), not for an ML instance family: deploy it to devices with an edge packaging job, or "
                "compile it for an instance family (TargetDevice ml_c5, ...).")
        family = instance_family(device)
        if instance_type is not None and instance_type.rpartition(".")[0] != family:
            raise ValidationError(
                f"{label}: model {model.name} was compiled for the {family} instance family (TargetDevice {device}, "
                f"compilation job {job.name}) and cannot run on {instance_type}: use an {family} instance type, or "
                f"compile the model for ml_{instance_type.split('.')[1]}.")


def instance_family(target_device: str) -> str:
    """`ml_c5` → `ml.c5`, the prefix of the instance types a model compiled for it runs on."""
    return "ml." + target_device.removeprefix(_INSTANCE_TARGET_PREFIX)


def model_data_urls(request: dict[str, Any]) -> Iterator[str]:
    """The S3 URIs of the model data of each of a stored CreateModel request's containers."""
    containers = [request["PrimaryContainer"]] if "PrimaryContainer" in request else request.get("Containers", [])
    for container in containers:
        if "ModelDataUrl" in container:
            yield container["ModelDataUrl"]
        elif (source := container.get("ModelDataSource", {}).get("S3DataSource")) is not None:
            yield source["S3Uri"]
