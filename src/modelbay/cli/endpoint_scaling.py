"""What `modelbay endpoints describe` shows of Application Auto Scaling: each variant's scalable target with its
policies, and its recent scaling activities."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.markup import escape

from modelbay.cli.output import local_time, styled, titled_table

DIMENSION = "sagemaker:variant:DesiredInstanceCount"
RECENT_ACTIVITIES = 5  # per variant


def scaling(autoscaling: Any, endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """The scalable targets of the endpoint's variants, each with its ScalingPolicies and its latest
    ScalingActivities (newest first)."""
    resources = [f"endpoint/{endpoint['EndpointName']}/variant/{variant['VariantName']}"
                 for variant in endpoint.get("ProductionVariants", [])]
    if not resources:
        return []
    targets = autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=resources,
                                                    ScalableDimension=DIMENSION)["ScalableTargets"]
    found = []
    for target in targets:
        where = {"ServiceNamespace": "sagemaker", "ResourceId": target["ResourceId"], "ScalableDimension": DIMENSION}
        policies = autoscaling.describe_scaling_policies(**where)["ScalingPolicies"]
        activities = autoscaling.describe_scaling_activities(**where, MaxResults=RECENT_ACTIVITIES)
        found.append(_without_metadata(target) | {"ScalingPolicies": [_without_metadata(p) for p in policies],
                                                  "ScalingActivities": activities["ScalingActivities"]})
    return found


def scaling_tables(targets: list[dict[str, Any]]) -> list[RenderableType]:
    """A table of targets and their policies, and one of recent activities (none when no variant scales)."""
    if not targets:
        return []
    table = titled_table("Autoscaling", "Variant", "Instances (min-max)", "Suspended", "Policies")
    activities = titled_table("Recent scaling activities", "Variant", "Started", "Status", "Description", "Cause")
    for target in targets:
        variant = escape(target["ResourceId"].rsplit("/", 1)[-1])
        suspended = ", ".join(name.removesuffix("Suspended") for name, on in target["SuspendedState"].items() if on)
        table.add_row(variant, f"{target['MinCapacity']}-{target['MaxCapacity']}", suspended or "-",
                      "\n".join(_policy(policy) for policy in target["ScalingPolicies"]) or "-")
        for activity in target["ScalingActivities"]:
            activities.add_row(variant, local_time(activity["StartTime"]), styled(activity["StatusCode"]),
                               escape(activity["Description"]), escape(activity["Cause"]))
    tables: list[RenderableType] = [table]
    return tables + [activities] if activities.row_count else tables


def _policy(policy: dict[str, Any]) -> str:
    """`name: target tracking SageMakerVariantInvocationsPerInstance at 70` or `name: step scaling, 2 steps`."""
    name = escape(policy["PolicyName"])
    tracking = policy.get("TargetTrackingScalingPolicyConfiguration")
    if tracking is None:
        steps = policy.get("StepScalingPolicyConfiguration", {}).get("StepAdjustments", [])
        return f"{name}: step scaling, {len(steps)} steps"
    metric = tracking.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType") or escape(
        tracking.get("CustomizedMetricSpecification", {}).get("MetricName", "a customized metric"))
    return f"{name}: target tracking {metric} at {tracking['TargetValue']:g}"


def _without_metadata(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in answer.items() if key != "ResponseMetadata"}

