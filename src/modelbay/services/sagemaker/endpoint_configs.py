"""SageMaker's endpoint configs: Create-, Describe-, List- and DeleteEndpointConfig(s).

A config lists up to 10 production variants, each a model on instances of one type (or
serverless), with a weight that sets its share of the traffic. Configs never change.

A config with AsyncInferenceConfig makes its endpoints asynchronous: InvokeEndpointAsync queues
requests, and the answers go to OutputConfig.S3OutputPath (failures to S3FailurePath). Its
NotificationConfig (SNS topics told of each result) is accepted and echoed, but modelbay has no
SNS: nobody is notified, and clients poll the output locations (as the SageMaker SDK's
AsyncInferenceResponse does).

ShadowProductionVariants (one, beside one production variant, as SageMaker allows) run on instances of their own
and are copied a share of the production traffic (their weight relative to the production variant's); their
answers reach nobody (serving/router.py).
"""

from __future__ import annotations

from typing import Any

from modelbay.errors import ValidationError
from modelbay.services.base import Context, Handler
from modelbay.services.sagemaker.compiled_models import check_instance_family
from modelbay.services.sagemaker.definitions import DefinitionKind
from modelbay.services.sagemaker.kms_key_ids import check_endpoint_config_keys
from modelbay.services.sagemaker.models import get_model
from modelbay.store.metadata import Definition
from modelbay.store.objects.uris import S3Location, parse_uri

ENDPOINT_CONFIG = DefinitionKind(noun="endpoint configuration", arn_kind="endpoint-config", member="EndpointConfig",
                                 plural="EndpointConfigs", repository=lambda store: store.endpoint_configs)
DEFAULT_VARIANT_WEIGHT = 1.0
SERVERLESS_MEMORY_STEP_MB = 1024
# The CreateEndpointConfig members that DescribeEndpointConfig gives back as they were sent.
ECHOED_MEMBERS = ("ProductionVariants", "DataCaptureConfig", "KmsKeyId", "ExecutionRoleArn", "VpcConfig",
                  "EnableNetworkIsolation", "MetricsConfig", "AsyncInferenceConfig", "ShadowProductionVariants")
# What each CaptureMode captures.
_CAPTURE_MODES = {"Input": ("Input",), "Output": ("Output",), "InputAndOutput": ("Input", "Output")}
UNAVAILABLE_MEMBERS = {"ExplainerConfig": "online explainability (SageMaker Clarify)"}


def create_endpoint_config(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record the config and its tags; ValidationException for a variant that cannot run or a name taken."""
    for member, feature in UNAVAILABLE_MEMBERS.items():
        if member in params:
            raise ValidationError(f"{member}: {feature} is not available in modelbay yet.")
    check_endpoint_config_keys(ctx, params)
    variants = [_with_defaults(variant) for variant in params["ProductionVariants"]]
    shadows = [_with_defaults(variant) for variant in params.get("ShadowProductionVariants", [])]
    _check_unique_names(variants + shadows)
    for variant in variants:
        check_variant(ctx, variant)
    if shadows:
        _check_shadows(ctx, params, variants, shadows)
    if "AsyncInferenceConfig" in params:
        _check_async(params["AsyncInferenceConfig"], variants)
    if "DataCaptureConfig" in params:
        check_data_capture(params["DataCaptureConfig"])
    request = {key: value for key, value in params.items() if key in ECHOED_MEMBERS} | {"ProductionVariants": variants}
    if shadows:
        request["ShadowProductionVariants"] = shadows
    return ENDPOINT_CONFIG.create(ctx, params, request)


def _with_defaults(variant: dict[str, Any]) -> dict[str, Any]:
    return {"InitialVariantWeight": DEFAULT_VARIANT_WEIGHT} | variant


def _check_unique_names(variants: list[dict[str, Any]]) -> None:
    """Names are unique across the production and shadow variants: requests name a variant by them alone."""
    names = [variant["VariantName"] for variant in variants]
    if repeated := sorted({name for name in names if names.count(name) > 1}):
        raise ValidationError(f"VariantName must be unique within ProductionVariants; repeated: {', '.join(repeated)}")


def _check_shadows(ctx: Context, params: dict[str, Any], variants: list[dict[str, Any]],
                   shadows: list[dict[str, Any]]) -> None:
    """As SageMaker: one production variant and one shadow variant, both on instances, on a real-time endpoint."""
    if len(variants) != 1 or len(shadows) != 1:
        raise ValidationError("With ShadowProductionVariants, specify exactly one variant in ProductionVariants and "
                              "one in ShadowProductionVariants.")
    shadow = shadows[0]
    check_variant(ctx, shadow, label=f"ShadowProductionVariant {shadow['VariantName']}")
    if any("ServerlessConfig" in variant for variant in variants + shadows):
        raise ValidationError("ShadowProductionVariants cannot be used with serverless variants.")
    if "AsyncInferenceConfig" in params:
        raise ValidationError("ShadowProductionVariants cannot be used with AsyncInferenceConfig.")


def check_variant(ctx: Context, variant: dict[str, Any], label: str | None = None) -> None:
    """A variant names a model that exists, and runs either on instances or serverless (the codec checked the
    instance type against ProductionVariantInstanceType); `label` names it in errors."""
    label = label or f"ProductionVariant {variant['VariantName']}"
    if "ModelName" not in variant:
        raise ValidationError(f"{label}: ModelName is required.")
    model = get_model(ctx, variant["ModelName"])
    if ("InstanceType" in variant) == ("ServerlessConfig" in variant):
        raise ValidationError(f"{label}: specify either InstanceType and InitialInstanceCount, or ServerlessConfig.")
    if "ServerlessConfig" in variant:
        _check_serverless(label, variant)
    else:
        _check_instances(label, variant)
    check_instance_family(ctx, model, variant.get("InstanceType"), label)


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


def check_data_capture(config: dict[str, Any]) -> None:
    """Captures go to an S3 prefix; each mode is named once; a content type is CSV or JSON, not both (the codec
    checked InitialSamplingPercentage's range, the modes' names and the lists' lengths)."""
    uri = config["DestinationS3Uri"]
    if not _is_s3_uri(uri):
        raise ValidationError(
            f"DataCaptureConfig.DestinationS3Uri must be an S3 URI (s3://bucket/prefix), not {uri!r}.")
    modes = [mode for option in config["CaptureOptions"] for mode in _CAPTURE_MODES[option["CaptureMode"]]]
    if repeated := sorted({mode for mode in modes if modes.count(mode) > 1}):
        raise ValidationError(f"DataCaptureConfig.CaptureOptions must name each capture mode once; "
                              f"{' and '.join(repeated)} repeated.")
    header = config.get("CaptureContentTypeHeader", {})
    csv_types = {content_type.lower() for content_type in header.get("CsvContentTypes", ())}
    if both := sorted(csv_types & {t.lower() for t in header.get("JsonContentTypes", ())}):
        raise ValidationError("DataCaptureConfig.CaptureContentTypeHeader: a content type is either CSV or JSON; "
                              f"{', '.join(both)} is listed as both.")


def _is_s3_uri(uri: str) -> bool:
    try:
        return isinstance(parse_uri(uri), S3Location)
    except ValueError:
        return False


def get_endpoint_config(ctx: Context, name: str) -> Definition:
    """The config named so; ValidationException `Could not find endpoint configuration "<arn>".` if none."""
    return ENDPOINT_CONFIG.get(ctx, name)


OPERATIONS: dict[str, Handler] = ENDPOINT_CONFIG.operations(create_endpoint_config)
