"""SageMaker's endpoints: Create/Describe/List/Update/UpdateEndpointWeightsAndCapacities/DeleteEndpoint.

These functions record desired state only: the EndpointController brings instances up and
down and moves each endpoint through its statuses (see store.metadata.endpoints). An endpoint
copies its config and the config's models when created or updated, so deleting those later
changes nothing that runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from modelbay.errors import ValidationError
from modelbay.services.base import Context, Handler, present
from modelbay.services.listing import list_page
from modelbay.services.sagemaker.deployment_configs import check_deployment_config, check_deployment_fleet
from modelbay.services.sagemaker.endpoint_configs import get_endpoint_config
from modelbay.services.sagemaker.models import get_model
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.statuses import EndpointStatus
from modelbay.store.metadata import (
    Endpoint,
    EndpointNotFound,
    EndpointSpec,
    RecordExists,
    StatusConflict,
    UnknownVariants,
    VariantState,
)
from modelbay.store.metadata.lineage_records import record_endpoint


def create_endpoint(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record the endpoint as Creating with its tags and answer at once; the controller brings it up."""
    name: str = params["EndpointName"]
    arn = _arn(ctx, name)
    tags = creation_tags(params)
    spec = endpoint_spec(ctx, params["EndpointConfigName"])
    if "DeploymentConfig" in params:
        check_deployment_config(ctx, params["DeploymentConfig"])
    try:
        ctx.metadata.endpoints.create(name, arn, params["EndpointConfigName"], initial_variants(spec), spec,
                                      params.get("DeploymentConfig"))
    except RecordExists as err:
        raise ValidationError(f'Cannot create already existing endpoint "{err.arn}".') from err
    store_tags(ctx, arn, tags)
    record_endpoint(ctx.metadata.lineage, arn, spec)
    return {"EndpointArn": arn}


def endpoint_spec(ctx: Context, config_name: str) -> EndpointSpec:
    """A copy of the config and its models; ValidationException ("Could not find ...") if one is missing."""
    config = get_endpoint_config(ctx, config_name)
    models = {variant["ModelName"]: get_model(ctx, variant["ModelName"]).request
              for variant in _config_variants(config.request)}
    return EndpointSpec(config=config.request, models=models)


def initial_variants(spec: EndpointSpec) -> list[VariantState]:
    """Each variant (the shadow variants too) as the config starts it: its initial weight and instance count (0 when
    serverless)."""
    return [VariantState(v.name, v.initial_weight, v.initial_instance_count) for v in spec.all_variants]


def describe_endpoint(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The endpoint's status, config, variants as the record has them, and the update in progress, if any."""
    endpoint = _get(ctx, params["EndpointName"])
    variants = _variant_summaries(endpoint.spec, endpoint.variants)
    return _summary(endpoint) | {"EndpointConfigName": endpoint.config_name} | variants | present(
        FailureReason=endpoint.failure_reason, LastDeploymentConfig=endpoint.deployment_config,
        DataCaptureConfig=_capture_summary(endpoint.spec), PendingDeploymentSummary=_pending_summary(endpoint),
        AsyncInferenceConfig=endpoint.spec.config.get("AsyncInferenceConfig"))


def list_endpoints(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return list_page(params, ctx.metadata.endpoints.list, "Endpoints", _summary)


def update_endpoint(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record a new config as pending and move an InService endpoint to Updating; the controller deploys it, as
    the DeploymentConfig given says (or, with RetainDeploymentConfig, the endpoint's last one; else all at once)."""
    name, config_name = params["EndpointName"], params["EndpointConfigName"]
    endpoint = _get(ctx, name)
    spec = endpoint_spec(ctx, config_name)
    variants = initial_variants(spec)
    if params.get("RetainAllVariantProperties"):
        excluded = {item["VariantPropertyType"] for item in params.get("ExcludeRetainedVariantProperties", [])}
        variants = _retained(endpoint.variants, variants, excluded)
    deployment = params.get("DeploymentConfig")
    if deployment is None and params.get("RetainDeploymentConfig"):
        deployment = endpoint.deployment_config
    if deployment is not None:
        check_deployment_config(ctx, deployment)
        check_deployment_fleet(deployment, endpoint, spec, variants)
    try:
        ctx.metadata.endpoints.request_update(name, config_name, variants, spec, deployment)
    except EndpointNotFound as err:
        raise _not_found(ctx, name) from err
    except StatusConflict as err:
        raise _cannot_update(endpoint.arn, err.status) from err
    record_endpoint(ctx.metadata.lineage, endpoint.arn, spec)
    return {"EndpointArn": endpoint.arn}


def _retained(current: Sequence[VariantState], new: list[VariantState], excluded: set[str]) -> list[VariantState]:
    """The new variants, with the current desired weight and count of those the endpoint has, unless excluded. A
    count is kept only between variants on instances: a serverless variant has none (DataCaptureConfig, the third
    VariantPropertyType, SageMaker does not retain either)."""
    by_name = {variant.name: variant for variant in current}

    def retain(variant: VariantState) -> VariantState:
        if (old := by_name.get(variant.name)) is None:
            return variant
        keep_count = "DesiredInstanceCount" not in excluded and old.desired_instance_count and \
            variant.desired_instance_count
        return replace(variant, desired_weight=variant.desired_weight if "DesiredWeight" in excluded
                       else old.desired_weight, desired_instance_count=old.desired_instance_count if keep_count
                       else variant.desired_instance_count)
    return [retain(variant) for variant in new]


def update_endpoint_weights_and_capacities(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record new desired weights and instance counts and move the InService endpoint to Updating."""
    name = params["EndpointName"]
    endpoint = _get(ctx, name)
    desired = _desired(endpoint, params["DesiredWeightsAndCapacities"])
    try:
        ctx.metadata.endpoints.request_weights(name, desired)
    except EndpointNotFound as err:
        raise _not_found(ctx, name) from err
    except StatusConflict as err:
        raise _cannot_update(endpoint.arn, err.status) from err
    except UnknownVariants as err:
        raise ValidationError(f'The variant name(s) "{", ".join(err.names)}" is/are not present within endpoint '
                              f'configuration "{endpoint.config_name}".') from err
    return {"EndpointArn": endpoint.arn}


def _desired(endpoint: Endpoint, items: list[dict[str, Any]]) -> dict[str, tuple[float | None, int | None]]:
    desired: dict[str, tuple[float | None, int | None]] = {}
    for item in items:
        variant, weight, count = item["VariantName"], item.get("DesiredWeight"), item.get("DesiredInstanceCount")
        if variant in desired:
            raise ValidationError(f'The variant name "{variant}" was non-unique within the request.')
        if "ServerlessUpdateConfig" in item or weight is None and count is None:
            raise ValidationError(f"Variant {variant}: give DesiredWeight, DesiredInstanceCount or both "
                                  "(ServerlessUpdateConfig is not available in modelbay).")
        if count is not None and count < 1:
            raise ValidationError(f"Variant {variant}: DesiredInstanceCount must be at least 1.")
        if count is not None and "ServerlessConfig" in _config_variant(endpoint.spec, variant):
            raise ValidationError(f"Variant {variant} is serverless: it takes no DesiredInstanceCount.")
        desired[variant] = (weight, count)
    return desired


def delete_endpoint(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Move the endpoint to Deleting; the controller stops its instances and removes it (and its tags).

    As SageMaker, only an endpoint with nothing in progress is deleted: one Creating, Updating
    (or Deleting) is refused in the words of a refused update, which SageMaker uses for
    DeleteEndpoint too, and which clients match (AWS's SageMaker operator for Kubernetes waits
    and retries on that message); the caller deletes once the endpoint is InService or Failed.
    """
    name = params["EndpointName"]
    try:
        ctx.metadata.endpoints.request_delete(name)
    except EndpointNotFound as err:
        raise _not_found(ctx, name) from err
    except StatusConflict as err:
        raise _cannot_update(_arn(ctx, name), err.status) from err
    return {}


def _arn(ctx: Context, name: str) -> str:
    return ctx.arn("sagemaker", f"endpoint/{name.lower()}")


def _get(ctx: Context, name: str) -> Endpoint:
    endpoint = ctx.metadata.endpoints.get(name)
    if endpoint is None:
        raise _not_found(ctx, name)
    return endpoint


def _not_found(ctx: Context, name: str) -> ValidationError:
    return ValidationError(f'Could not find endpoint "{_arn(ctx, name)}".')


def _cannot_update(arn: str, status: str) -> ValidationError:
    """SageMaker's refusal of an update or a delete, by the endpoint's status (the same words for both)."""
    return ValidationError(f'Cannot update {"failed" if status == EndpointStatus.FAILED else "in-progress"} '
                           f'endpoint "{arn}".')


def _config_variants(config: dict[str, Any]) -> list[dict[str, Any]]:
    """An endpoint config's production variants, then its shadow variants, as stored."""
    variants: list[dict[str, Any]] = config["ProductionVariants"] + config.get("ShadowProductionVariants", [])
    return variants


def _config_variant(spec: EndpointSpec, name: str) -> dict[str, Any]:
    return next((v for v in _config_variants(spec.config) if v["VariantName"] == name), {})


def _summary(endpoint: Endpoint) -> dict[str, Any]:
    return {"EndpointName": endpoint.name, "EndpointArn": endpoint.arn, "CreationTime": endpoint.creation_time,
            "LastModifiedTime": endpoint.last_modified_time, "EndpointStatus": endpoint.status}


def _variant_summary(state: VariantState, config: dict[str, Any]) -> dict[str, Any]:
    """A ProductionVariantSummary; a serverless variant shows its ServerlessConfig instead of instance counts."""
    serverless = config.get("ServerlessConfig")
    running = state.current_weight is not None
    return {"VariantName": state.name, "DesiredWeight": state.desired_weight} | present(
        DesiredInstanceCount=None if serverless else state.desired_instance_count,
        CurrentWeight=state.current_weight,
        CurrentInstanceCount=None if serverless else state.current_instance_count,
        DeployedImages=list(state.deployed_images) or None, VariantStatus=list(state.status) or None,
        DesiredServerlessConfig=serverless, CurrentServerlessConfig=serverless if running else None,
        RoutingConfig=config.get("RoutingConfig"))


def _variant_summaries(spec: EndpointSpec, states: Sequence[VariantState],
                       is_pending: bool = False) -> dict[str, Any]:
    """ProductionVariants, and ShadowProductionVariants if the config has any, from the variants' states; a pending
    config's name their InstanceType too."""
    shadows = {variant.name for variant in spec.shadow_variants}

    def summary(state: VariantState) -> dict[str, Any]:
        config = _config_variant(spec, state.name)
        pending = present(InstanceType=config.get("InstanceType")) if is_pending else {}
        return _variant_summary(state, config) | pending
    return {"ProductionVariants": [summary(state) for state in states if state.name not in shadows]} | present(
        ShadowProductionVariants=[summary(state) for state in states if state.name in shadows] or None)


def _pending_summary(endpoint: Endpoint) -> dict[str, Any] | None:
    if endpoint.pending_config_name is None or endpoint.pending_spec is None:
        return None
    return {"EndpointConfigName": endpoint.pending_config_name} | _variant_summaries(
        endpoint.pending_spec, endpoint.pending_variants, is_pending=True) | present(StartTime=endpoint.pending_since)


def _capture_summary(spec: EndpointSpec) -> dict[str, Any] | None:
    """The config's DataCaptureConfig as DescribeEndpoint summarises it."""
    capture = spec.config.get("DataCaptureConfig")
    if capture is None:
        return None
    enabled = capture.get("EnableCapture", True)
    return {"EnableCapture": enabled, "CaptureStatus": "Started" if enabled else "Stopped",
            "CurrentSamplingPercentage": capture["InitialSamplingPercentage"],
            "DestinationS3Uri": capture["DestinationS3Uri"], "KmsKeyId": capture.get("KmsKeyId", "")}


OPERATIONS: dict[str, Handler] = {
    "CreateEndpoint": create_endpoint, "DescribeEndpoint": describe_endpoint, "ListEndpoints": list_endpoints,
    "UpdateEndpoint": update_endpoint, "UpdateEndpointWeightsAndCapacities": update_endpoint_weights_and_capacities,
    "DeleteEndpoint": delete_endpoint}
