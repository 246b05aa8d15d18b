"""DeploymentConfig (deployment guardrails) as CreateEndpoint and UpdateEndpoint check it, in SageMaker's words.

The codec has checked the shape (members, enums, ranges); this checks what the model cannot say: one update
policy, the size each traffic routing type needs, sizes within their share of the fleet, rolling updates
only where SageMaker allows them (one variant, the same name, not serverless; here also the same instance
count), and alarms that exist. The controller's rollout (controllers/endpoints/rollout.py) carries it out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from modelbay.errors import ValidationError
from modelbay.services.base import Context
from modelbay.store.metadata import Endpoint, EndpointSpec, VariantState

# The share of a fleet a step may take, in percent (TrafficRoutingConfig's and RollingUpdatePolicy's documentation).
_CANARY, _LINEAR, _ROLLING = (0, 50), (10, 50), (5, 50)


def check_deployment_config(ctx: Context, config: dict[str, Any]) -> None:
    """What holds of a DeploymentConfig whatever the fleet: one policy, its sizes given, its alarms exist."""
    blue_green, rolling = config.get("BlueGreenUpdatePolicy"), config.get("RollingUpdatePolicy")
    if blue_green is not None and rolling is not None:
        raise ValidationError("Only one of BlueGreenUpdatePolicy and RollingUpdatePolicy can be specified in "
                              "DeploymentConfig.")
    if blue_green is not None:
        _check_routing(blue_green["TrafficRoutingConfiguration"])
        _check_timeout(blue_green, blue_green.get("TerminationWaitInSeconds", 0)
                       + blue_green["TrafficRoutingConfiguration"]["WaitIntervalInSeconds"])
    if rolling is not None:
        _check_timeout(rolling, rolling["WaitIntervalInSeconds"])
    alarms = [alarm["AlarmName"] for alarm in config.get("AutoRollbackConfiguration", {}).get("Alarms", [])]
    if missing := [name for name in alarms if ctx.metadata.alarms.get(name) is None]:
        raise ValidationError(f"The following CloudWatch alarm(s) in AutoRollbackConfiguration do not exist: "
                              f"{', '.join(missing)}.")


def check_deployment_fleet(config: dict[str, Any], endpoint: Endpoint, spec: EndpointSpec,
                           variants: Sequence[VariantState]) -> None:
    """What holds of a DeploymentConfig for the update of `endpoint` to `spec`'s `variants`: guardrails on a
    real-time or asynchronous endpoint, each step's size within its share of the fleet, a rolling update only
    where it can replace instances one for one."""
    if any(v.serverless is not None for v in (*spec.variants, *endpoint.spec.variants)):
        raise ValidationError("DeploymentConfig is not supported for serverless endpoints: deployment guardrails "
                              "apply to real-time and asynchronous inference endpoints only.")
    production = {v.name for v in spec.variants}
    instances = sum(v.desired_instance_count for v in variants if v.name in production)
    if (blue_green := config.get("BlueGreenUpdatePolicy")) is not None:
        routing = blue_green["TrafficRoutingConfiguration"]
        if "CanarySize" in routing:
            _check_size("CanarySize", routing["CanarySize"], instances, _CANARY)
        if "LinearStepSize" in routing:
            _check_size("LinearStepSize", routing["LinearStepSize"], instances, _LINEAR)
    if (rolling := config.get("RollingUpdatePolicy")) is not None:
        _check_rolling(endpoint, variants)
        _check_size("MaximumBatchSize", rolling["MaximumBatchSize"], instances, _ROLLING)
        if "RollbackMaximumBatchSize" in rolling:
            _check_size("RollbackMaximumBatchSize", rolling["RollbackMaximumBatchSize"], instances, (0, 100))


def _check_routing(routing: dict[str, Any]) -> None:
    kind = routing["Type"]
    for member, needed_by in (("CanarySize", "CANARY"), ("LinearStepSize", "LINEAR")):
        if kind == needed_by and member not in routing:
            raise ValidationError(f"{member} must be specified in TrafficRoutingConfiguration when its Type is "
                                  f"{needed_by}.")
        if kind != needed_by and member in routing:
            raise ValidationError(f"{member} can only be specified in TrafficRoutingConfiguration when its Type is "
                                  f"{needed_by}.")


def _check_timeout(policy: dict[str, Any], waits_s: int) -> None:
    timeout = policy.get("MaximumExecutionTimeoutInSeconds")
    if timeout is not None and timeout <= waits_s:
        raise ValidationError(f"MaximumExecutionTimeoutInSeconds ({timeout}) must be larger than the total waiting "
                              f"time in TerminationWaitInSeconds and WaitIntervalInSeconds ({waits_s}).")


def _check_size(member: str, size: dict[str, Any], instances: int, bounds: tuple[int, int]) -> None:
    """A CapacitySize within `bounds` percent of the fleet's `instances` (above the lower bound when it is 0)."""
    low, high = bounds
    percent = size["Value"] if size["Type"] == "CAPACITY_PERCENT" else 100 * size["Value"] / max(instances, 1)
    if not (low < percent if low == 0 else low <= percent) or percent > high:
        within = f"at most {high}%" if low == 0 else f"between {low}% and {high}%"
        raise ValidationError(f"{member} ({size['Value']} {size['Type']}) must be {within} of the variant's total "
                              f"instance count ({instances}).")


def _check_rolling(endpoint: Endpoint, variants: Sequence[VariantState]) -> None:
    """SageMaker rolls one variant to a config of the same variant name; modelbay also keeps its instance count."""
    if len(variants) != 1 or len(endpoint.variants) != 1:
        raise ValidationError("RollingUpdatePolicy is not supported for endpoints with multiple production variants.")
    new, old = variants[0], endpoint.variants[0]
    if new.name != old.name:
        raise ValidationError(f'A rolling deployment needs the new endpoint configuration to have the same variant '
                              f'name as the endpoint: "{new.name}" is not "{old.name}".')
    if new.desired_instance_count != old.desired_instance_count:
        raise ValidationError(f"A rolling deployment replaces instances one for one: variant {new.name} must keep "
                              f"its instance count ({old.desired_instance_count}), not "
                              f"{new.desired_instance_count}.")
