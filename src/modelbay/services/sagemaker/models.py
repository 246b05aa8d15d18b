"""SageMaker's models: CreateModel, DescribeModel, ListModels, DeleteModel.

A model names the container image(s) to serve and the model data to put in /opt/ml/model:
one PrimaryContainer, or Containers (an inference pipeline, called in order, or one by one
with InferenceExecutionConfig Mode Direct); a container may name a model package instead, whose
containers it stands for. Models never change; endpoints copy what they use.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from modelbay.errors import ValidationError
from modelbay.services.base import Context, Handler
from modelbay.services.sagemaker.definitions import DefinitionKind
from modelbay.services.sagemaker.model_packages import get_package
from modelbay.services.sagemaker.network_config import check_vpc
from modelbay.statuses import ModelApprovalStatus
from modelbay.store.metadata import Definition

MODEL = DefinitionKind(noun="model", arn_kind="model", member="Model", plural="Models",
                      repository=lambda store: store.models)
# What SageMaker shows in DescribeModel when the request left these out.
REQUEST_DEFAULTS: dict[str, Any] = {"EnableNetworkIsolation": False}
# What a model package's container gives the model's container it stands for.
_PACKAGE_CONTAINER_MEMBERS = ("ContainerHostname", "Image", "ModelDataUrl", "ModelDataSource",
                              "AdditionalModelDataSources")
# The CreateModel members that DescribeModel gives back as they were sent.
ECHOED_MEMBERS = ("PrimaryContainer", "Containers", "InferenceExecutionConfig", "ExecutionRoleArn", "VpcConfig",
                  "EnableNetworkIsolation")


def create_model(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record the model and its tags; ValidationException if its containers cannot be served or the name is taken."""
    params = from_packages(ctx, params)
    check_containers(params)
    if "VpcConfig" in params:
        check_vpc(params["VpcConfig"])
    request = REQUEST_DEFAULTS | {key: value for key, value in params.items() if key in ECHOED_MEMBERS}
    return MODEL.create(ctx, params, request)


def check_containers(params: dict[str, Any]) -> None:
    """Exactly one of PrimaryContainer and Containers, each container with an Image, hostnames unique."""
    has_primary, containers = "PrimaryContainer" in params, params.get("Containers")
    if has_primary and containers is not None:
        raise ValidationError("Specify either PrimaryContainer or Containers, not both.")
    if not has_primary and not containers:
        raise ValidationError("Specify a PrimaryContainer, or Containers for an inference pipeline.")
    if has_primary and "InferenceExecutionConfig" in params:
        raise ValidationError("InferenceExecutionConfig applies to a model with Containers, not to a PrimaryContainer.")
    for member, container in _labelled(params):
        if "Image" not in container:
            raise ValidationError(f"{member}.Image is required (or a ModelPackageName whose containers to serve).")
    hostnames = [c["ContainerHostname"] for c in containers or [] if "ContainerHostname" in c]
    if repeated := sorted({name for name in hostnames if hostnames.count(name) > 1}):
        raise ValidationError(f"ContainerHostname must be unique within Containers; repeated: {', '.join(repeated)}")


def from_packages(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The request with each container that names a ModelPackageName replaced by the package's containers (several
    make an inference pipeline, as SageMaker does): their Image, model data and Environment, under the container's
    own Environment. ValidationException for an unknown package, or a version that is not Approved (SageMaker
    deploys only approved versions; the SageMaker Python SDK's ModelPackage.deploy() approves it first)."""
    primary = params.get("PrimaryContainer")
    if primary is not None and "ModelPackageName" in primary and "Containers" not in params:  # both: refused below
        containers = _package_containers(ctx, primary)
        rest = {key: value for key, value in params.items() if key != "PrimaryContainer"}
        return rest | ({"PrimaryContainer": containers[0]} if len(containers) == 1 else {"Containers": containers})
    if any("ModelPackageName" in container for container in params.get("Containers", [])):
        return params | {"Containers": [resolved for container in params["Containers"] for resolved in (
            _package_containers(ctx, container) if "ModelPackageName" in container else [container])]}
    return params


def _package_containers(ctx: Context, container: dict[str, Any]) -> list[dict[str, Any]]:
    package = get_package(ctx, container["ModelPackageName"])
    if package.version is not None and package.approval_status != ModelApprovalStatus.APPROVED:
        raise ValidationError(f"Model package {package.arn} is {package.approval_status}: a model package version "
                              "must be Approved to be deployed.")
    if not package.containers:
        raise ValidationError(f"Model package {package.arn} has no InferenceSpecification containers to serve.")
    own = {key: value for key, value in container.items() if key not in ("Environment", "ModelPackageName")}
    return [{key: value for key, value in found.items() if key in _PACKAGE_CONTAINER_MEMBERS} | own | {
        "ModelPackageName": package.arn,
        "Environment": found.get("Environment", {}) | container.get("Environment", {})}
        for found in package.containers]


def _labelled(params: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    if "PrimaryContainer" in params:
        yield "PrimaryContainer", params["PrimaryContainer"]
    for number, container in enumerate(params.get("Containers", []), start=1):
        yield f"Containers.{number}", container


def get_model(ctx: Context, name: str) -> Definition:
    """The model named so; ValidationException `Could not find model "<arn>".` if there is none."""
    return MODEL.get(ctx, name)


OPERATIONS: dict[str, Handler] = MODEL.operations(create_model)
