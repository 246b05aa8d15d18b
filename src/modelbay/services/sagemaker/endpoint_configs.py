"""SageMaker's endpoint configs: Create-, Describe-, List- and DeleteEndpointConfig(s).

A config lists up to 10 production variants, each a model on instances of one type (or
serverless), with a weight that sets its share of the traffic. Configs never change.

A config with AsyncInferenceConfig makes its endpoints asynchronous: InvokeEndpointAsync queues
requests, and the answers go to OutputConfig.S3OutputPath (failures to S3FailurePath). Its
NotificationConfig (SNS topics told of each result) is accepted and echoed, but modelbay has no
SNS: nobody is notified, and clients poll the output locations (as the SageMaker SDK's
AsyncInferenceResponse does).
"""

from __future__ import annotations

from typing import Any

from modelbay.errors import ValidationError
from modelbay.services.base import Context, Handler
from modelbay.services.sagemaker.definitions import DefinitionKind
from modelbay.services.sagemaker.models import get_model
from modelbay.store.metadata import Definition
from modelbay.store.objects.uris import S3Location, parse_uri

ENDPOINT_CONFIG = DefinitionKind(noun="endpoint configuration", arn_kind="endpoint-config", member="EndpointConfig",
                                 plural="EndpointConfigs", repository=lambda store: store.endpoint_configs)
DEFAULT_VARIANT_WEIGHT = 1.0
SERVERLESS_MEMORY_STEP_MB = 1024
# The CreateEndpointConfig members that DescribeEndpointConfig gives back as they were sent.
ECHOED_MEMBERS = ("ProductionVariants", "DataCaptureConfig", "KmsKeyId", "ExecutionRoleArn", "VpcConfig",
                  "EnableNetworkIsolation", "MetricsConfig", "AsyncInferenceConfig")
UNAVAILABLE_MEMBERS = {
    "ShadowProductionVariants": "shadow variants", "ExplainerConfig": "online explainability (SageMaker Clarify)"}


def create_endpoint_config(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record the config and its tags; ValidationException for a variant that cannot run or a name taken."""
    for member, feature in UNAVAILABLE_MEMBERS.items():
        if member in params:
            raise ValidationError(f"{member}: {feature} is not available in modelbay yet.")
    variants = [_with_defaults(variant) for variant in params["ProductionVariants"]]
    _check_unique_names(variants)
    for variant in variants:
        check_variant(ctx, variant)
    if "AsyncInferenceConfig" in params:
        _check_async(params["AsyncInferenceConfig"], variants)
    request = {key: value for key, value in params.items() if key in ECHOED_MEMBERS} | {"ProductionVariants": variants}
    return ENDPOINT_CONFIG.create(ctx, params, request)


def _with_defaults(variant: dict[str, Any]) -> dict[str, Any]:
    return {"InitialVariantWeight": DEFAULT_VARIANT_WEIGHT} | variant


def _check_unique_names(variants: list[dict[str, Any]]) -> None:
    names = [variant["VariantName"] for variant in variants]
    if repeated := sorted({name for name in names if names.count(name) > 1}):
        raise ValidationError(f"VariantName must be unique within ProductionVariants; repeated: {', '.join(repeated)}")


def check_variant(ctx: Context, variant: dict[str, Any]) -> None:
    """A variant names a model that exists, and runs either on instances or serverless (the codec checked the
    instance type against ProductionVariantInstanceType)."""
    label = f"ProductionVariant {variant['VariantName']}"
    if "ModelName" not in variant:
        raise ValidationError(f"{label}: ModelName is required.")
    get_model(ctx, variant["ModelName"])
    if ("InstanceType" in variant) == ("ServerlessConfig" in variant):
        raise ValidationError(f"{label}: specify either InstanceType and InitialInstanceCount, or ServerlessConfig.")
    if "ServerlessConfig" in variant:
        _check_serverless(label, variant)
    else:
        _check_instances(label, variant)


def _check_instances(label: str, variant: dict[str, Any]) -> None:
    if "InitialInstanceCount" not in variant:
        raise ValidationError(f"{label}: InitialInstanceCount is required with InstanceType (at least 1).")


def _check_serverless(label: str, variant: dict[str, Any]) -> None:
    if "InitialInstanceCount" in variant:
        raise ValidationError(f"{label}: a serverless variant takes no InitialInstanceCount.")
    serverless = variant["ServerlessConfig"]
    if serverless["MemorySizeInMB"] % SERVERLESS_MEMORY_STEP_MB:
        raise ValidationError(f"{label}: ServerlessConfig.MemorySizeInMB must be one of 1024, 2048, 3072, 4096, "
                              f"5120 or 6144, not {serverless['MemorySizeInMB']}.")
    if serverless.get("ProvisionedConcurrency", 0) > serverless["MaxConcurrency"]:
        raise ValidationError(f"{label}: ServerlessConfig.ProvisionedConcurrency must not exceed MaxConcurrency.")


def _check_async(config: dict[str, Any], variants: list[dict[str, Any]]) -> None:
    """Answers go to S3 URIs; asynchronous endpoints run on instances (SageMaker has no serverless ones)."""
    output = config["OutputConfig"]
    if "S3OutputPath" not in output:
        raise ValidationError("AsyncInferenceConfig.OutputConfig.S3OutputPath is required.")
    for member in ("S3OutputPath", "S3FailurePath"):
        if member in output and not _is_s3_uri(output[member]):
            raise ValidationError(f"AsyncInferenceConfig.OutputConfig.{member} must be an S3 URI "
                                  f"(s3://bucket/prefix), not {output[member]!r}.")
    if any("ServerlessConfig" in variant for variant in variants):
        raise ValidationError("AsyncInferenceConfig cannot be used with serverless production variants.")


def _is_s3_uri(uri: str) -> bool:
    try:
        return isinstance(parse_uri(uri), S3Location)
    except ValueError:
        return False


def get_endpoint_config(ctx: Context, name: str) -> Definition:
    """The config named so; ValidationException `Could not find endpoint configuration "<arn>".` if none."""
    return ENDPOINT_CONFIG.get(ctx, name)


OPERATIONS: dict[str, Handler] = ENDPOINT_CONFIG.operations(create_endpoint_config)
