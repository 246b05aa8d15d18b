"""UpdateEndpoint's DeploymentConfig (deployment guardrails): what is refused, in SageMaker's words, and what is
kept."""

from __future__ import annotations

from typing import Any

import pytest

from modelbay.services.base import Context
from modelbay.statuses import EndpointStatus
from modelbay.store.metadata import UpdateOutcome
from tests.unit.services.sagemaker.test_hosting import _call, _config, _endpoint, _error, _variant


def _in_service(ctx: Context, count: int = 4) -> None:
    _config(ctx, "c", _variant(InitialInstanceCount=count))
    _endpoint(ctx)
    ctx.metadata.endpoints.advance("e", EndpointStatus.IN_SERVICE)


def _blue_green(kind: str, **routing: Any) -> dict[str, Any]:
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": kind, "WaitIntervalInSeconds": 5,
                                                                      **routing}}}


def _rolling(batch: int, kind: str = "INSTANCE_COUNT") -> dict[str, Any]:
    return {"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": kind, "Value": batch}, "WaitIntervalInSeconds": 5}}


def _percent(value: int) -> dict[str, Any]:
    return {"Type": "CAPACITY_PERCENT", "Value": value}


@pytest.mark.parametrize(("config", "words"), [
    (_blue_green("LINEAR"), "LinearStepSize must be specified in TrafficRoutingConfiguration when its Type is LINEAR."),
    (_blue_green("CANARY"), "CanarySize must be specified in TrafficRoutingConfiguration when its Type is CANARY."),
    (_blue_green("ALL_AT_ONCE", CanarySize=_percent(10)), "CanarySize can only be specified"),
    (_blue_green("CANARY", CanarySize=_percent(60)),
     "CanarySize (60 CAPACITY_PERCENT) must be at most 50% of the variant's total instance count (4)."),
    (_blue_green("CANARY", CanarySize={"Type": "INSTANCE_COUNT", "Value": 3}), "must be at most 50%"),
    (_blue_green("LINEAR", LinearStepSize=_percent(5)),
     "LinearStepSize (5 CAPACITY_PERCENT) must be between 10% and 50%"),
    (_blue_green("ALL_AT_ONCE") | _rolling(1), "Only one of BlueGreenUpdatePolicy and RollingUpdatePolicy"),
    (_rolling(3), "MaximumBatchSize (3 INSTANCE_COUNT) must be between 5% and 50%"),
    ({"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 600},
                                "MaximumExecutionTimeoutInSeconds": 600}},
     "MaximumExecutionTimeoutInSeconds (600) must be larger than the total waiting time"),
    ({"AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "nope"}]}},
     "The following CloudWatch alarm(s) in AutoRollbackConfiguration do not exist: nope."),
])
def test_deployment_config_refusals_leave_the_endpoint_in_service(ctx: Context, config: dict[str, Any],
                                                                  words: str) -> None:
    _in_service(ctx)
    _config(ctx, "c2", _variant(InitialInstanceCount=4))
    error = _error(ctx, "UpdateEndpoint", EndpointName="e", EndpointConfigName="c2", DeploymentConfig=config)
    assert error.code == "ValidationException" and words in str(error)
    assert ctx.metadata.endpoints.get("e").status == "InService"  # type: ignore[union-attr]


@pytest.mark.parametrize(("variants", "words"), [
    ([_variant("Other", InitialInstanceCount=4)], 'the same variant name as the endpoint: "Other" is not "AllTraffic"'),
    ([_variant(InitialInstanceCount=2)], "must keep its instance count (4), not 2"),
    ([_variant(InitialInstanceCount=2), _variant("B", InitialInstanceCount=2)],
     "RollingUpdatePolicy is not supported for endpoints with multiple production variants."),
])
def test_a_rolling_update_replaces_one_variant_one_for_one(ctx: Context, variants: list[dict[str, Any]],
                                                           words: str) -> None:
    _in_service(ctx)
    _config(ctx, "c2", *variants)
    error = _error(ctx, "UpdateEndpoint", EndpointName="e", EndpointConfigName="c2", DeploymentConfig=_rolling(1))
    assert words in str(error)


def test_guardrails_are_refused_for_serverless_endpoints(ctx: Context) -> None:
    _in_service(ctx)
    serverless = {"VariantName": "AllTraffic", "ModelName": "m",
                  "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 2}}
    _config(ctx, "c2", serverless)
    error = _error(ctx, "UpdateEndpoint", EndpointName="e", EndpointConfigName="c2",
                   DeploymentConfig=_blue_green("ALL_AT_ONCE"))
    assert "not supported for serverless endpoints" in str(error)


def test_the_deployment_config_is_the_last_one_only_when_retained(ctx: Context) -> None:
    _in_service(ctx)
    ctx.metadata.alarms.put("latency", "arn:alarm", {"AlarmName": "latency"})
    _config(ctx, "c2", _variant(InitialInstanceCount=4))
    config = _blue_green("CANARY", CanarySize=_percent(25)) | {
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "latency"}]}}
    _call(ctx, "UpdateEndpoint", EndpointName="e", EndpointConfigName="c2", DeploymentConfig=config)
    described = _call(ctx, "DescribeEndpoint", EndpointName="e")
    assert described["LastDeploymentConfig"] == config
    assert described["PendingDeploymentSummary"]["EndpointConfigName"] == "c2"
    for retain, expected in ((True, config), (False, None)):
        ctx.metadata.endpoints.advance("e", EndpointStatus.IN_SERVICE, update=UpdateOutcome.DEPLOYED)
        _call(ctx, "UpdateEndpoint", EndpointName="e", EndpointConfigName="c", RetainDeploymentConfig=retain)
        assert ctx.metadata.endpoints.get("e").deployment_config == expected  # type: ignore[union-attr]


def test_a_retained_instance_count_is_never_a_serverless_variants_zero(ctx: Context) -> None:
    serverless = {"VariantName": "AllTraffic", "ModelName": "m",
                  "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 2}}
    _config(ctx, "c", serverless)
    _endpoint(ctx)
    ctx.metadata.endpoints.advance("e", EndpointStatus.IN_SERVICE)
    _config(ctx, "c2", _variant(InitialInstanceCount=3, InitialVariantWeight=2.0))
    _call(ctx, "UpdateEndpoint", EndpointName="e", EndpointConfigName="c2", RetainAllVariantProperties=True)
    pending, = ctx.metadata.endpoints.get("e").pending_variants  # type: ignore[union-attr]
    assert (pending.desired_instance_count, pending.desired_weight) == (3, 1.0)  # the weight is retained
