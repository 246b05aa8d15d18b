"""ShadowProductionVariants as the service functions take them: accepted beside one production variant on
instances, echoed by DescribeEndpointConfig, summarised by DescribeEndpoint, weighed by
UpdateEndpointWeightsAndCapacities, promoted by UpdateEndpoint; refused where SageMaker refuses them."""

from __future__ import annotations

from typing import Any

import pytest

from modelbay.services.base import Context
from modelbay.statuses import EndpointStatus
from modelbay.store.metadata import UpdateOutcome
from tests.unit.services.sagemaker.test_hosting import _call, _error, _model, _variant


def _shadowed(ctx: Context, name: str = "c", **shadow: Any) -> None:
    """Config `name`: production variant "live" (model m), shadow variant "shadow" (model m2)."""
    for model in ("m", "m2"):
        if ctx.metadata.models.get(model) is None:
            _model(ctx, model)
    _call(ctx, "CreateEndpointConfig", EndpointConfigName=name, ProductionVariants=[_variant("live")],
          ShadowProductionVariants=[_variant("shadow", ModelName="m2") | shadow])


def _in_service(ctx: Context, name: str) -> None:
    ctx.metadata.endpoints.advance(name, EndpointStatus.IN_SERVICE)


def test_a_config_with_a_shadow_is_echoed_with_its_defaults(ctx: Context) -> None:
    _shadowed(ctx, InitialVariantWeight=0.25)
    described = _call(ctx, "DescribeEndpointConfig", EndpointConfigName="c")
    assert described["ShadowProductionVariants"] == [_variant("shadow", ModelName="m2", InitialVariantWeight=0.25)]
    assert described["ProductionVariants"] == [_variant("live", InitialVariantWeight=1.0)]
    _call(ctx, "CreateEndpointConfig", EndpointConfigName="d", ProductionVariants=[_variant("live")])
    assert "ShadowProductionVariants" not in _call(ctx, "DescribeEndpointConfig", EndpointConfigName="d")


@pytest.mark.parametrize(("production", "shadows", "words"), [
    ([_variant("a"), _variant("b")], [_variant("s")], "exactly one variant in ProductionVariants and one in Shadow"),
    ([_variant("a")], [_variant("s"), _variant("t")], "exactly one variant in ProductionVariants and one in Shadow"),
    ([_variant("a")], [_variant("a")], "VariantName must be unique within ProductionVariants; repeated: a"),
    ([_variant("a")], [_variant("s", ModelName="nope")], "Could not find model"),
    ([_variant("a")], [{"VariantName": "s", "ModelName": "m", "InstanceType": "ml.m5.large"}],
     "ShadowProductionVariant s: InitialInstanceCount is required"),
    ([_variant("a")], [{"VariantName": "s", "ModelName": "m",
                        "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1}}],
     "cannot be used with serverless variants"),
])
def test_shadows_sagemaker_refuses_are_refused(ctx: Context, production: list[dict[str, Any]],
                                               shadows: list[dict[str, Any]], words: str) -> None:
    _model(ctx)
    error = _error(ctx, "CreateEndpointConfig", EndpointConfigName="c", ProductionVariants=production,
                   ShadowProductionVariants=shadows)
    assert (error.code, words in str(error)) == ("ValidationException", True), str(error)
    assert ctx.metadata.endpoint_configs.get("c") is None


def test_a_shadow_is_refused_on_an_asynchronous_endpoint(ctx: Context) -> None:
    _model(ctx)
    error = _error(ctx, "CreateEndpointConfig", EndpointConfigName="c", ProductionVariants=[_variant("a")],
                   ShadowProductionVariants=[_variant("s")],
                   AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": "s3://b/out"}})
    assert "cannot be used with AsyncInferenceConfig" in str(error)


def test_describe_endpoint_summarises_the_shadow_apart_and_its_weights_can_change(ctx: Context) -> None:
    _shadowed(ctx, InitialVariantWeight=0.5, InitialInstanceCount=2)
    _call(ctx, "CreateEndpoint", EndpointName="e", EndpointConfigName="c")
    described = _call(ctx, "DescribeEndpoint", EndpointName="e")
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["live"]
    assert described["ShadowProductionVariants"] == [
        {"VariantName": "shadow", "DesiredWeight": 0.5, "DesiredInstanceCount": 2}]
    _in_service(ctx, "e")
    _call(ctx, "UpdateEndpointWeightsAndCapacities", EndpointName="e",
          DesiredWeightsAndCapacities=[{"VariantName": "shadow", "DesiredWeight": 1.0, "DesiredInstanceCount": 1}])
    shadow, = _call(ctx, "DescribeEndpoint", EndpointName="e")["ShadowProductionVariants"]
    assert (shadow["DesiredWeight"], shadow["DesiredInstanceCount"]) == (1.0, 1)
    endpoint = ctx.metadata.endpoints.get("e")
    assert endpoint is not None and [v.name for v in endpoint.spec.shadow_variants] == ["shadow"]
    assert set(endpoint.spec.models) == {"m", "m2"}


def test_promoting_the_shadow_is_an_update_to_a_config_where_its_model_is_production(ctx: Context) -> None:
    _shadowed(ctx)
    _call(ctx, "CreateEndpoint", EndpointName="e", EndpointConfigName="c")
    _in_service(ctx, "e")
    _call(ctx, "CreateEndpointConfig", EndpointConfigName="promoted",
          ProductionVariants=[_variant("live", ModelName="m2")])
    _call(ctx, "UpdateEndpoint", EndpointName="e", EndpointConfigName="promoted")
    pending = _call(ctx, "DescribeEndpoint", EndpointName="e")["PendingDeploymentSummary"]
    assert [v["VariantName"] for v in pending["ProductionVariants"]] == ["live"]
    assert "ShadowProductionVariants" not in pending
    ctx.metadata.endpoints.advance("e", EndpointStatus.IN_SERVICE, update=UpdateOutcome.DEPLOYED)
    described = _call(ctx, "DescribeEndpoint", EndpointName="e")
    assert "ShadowProductionVariants" not in described and described["EndpointConfigName"] == "promoted"
