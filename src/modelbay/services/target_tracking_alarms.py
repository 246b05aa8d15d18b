"""The CloudWatch alarms a target-tracking policy makes and owns, as AWS makes them, through `put_metric_alarm`:
`TargetTracking-<resource>-AlarmHigh-<uuid>` (above the target: scale out) and, unless DisableScaleIn,
`...-AlarmLow-<uuid>` (below 90 % of it: scale in), whose actions name the policy's ARN.

AWS judges three one-minute datapoints for AlarmHigh and fifteen for AlarmLow; here the SageMaker metrics are
published every second, so their alarms judge 10-second periods (CloudWatch's shortest): AlarmHigh one, AlarmLow
two, and a scale-out follows a load step within about 10 s. SageMakerVariantInvocationsPerInstance stays per
minute, as a target is written for AWS: the alarm watches the 10-second Sum × 6. A customized metric keeps AWS's
one-minute periods. As on AWS, a variant with no traffic at all is not scaled in: its metric has no datapoints,
so AlarmLow stays INSUFFICIENT_DATA.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from modelbay.services import cloudwatch_alarms
from modelbay.services.base import Context
from modelbay.store.metadata.alarms import AlarmNotFound
from modelbay.store.metadata.autoscaling import ScalingPolicy, TargetKey

INVOCATIONS_PER_INSTANCE = "SageMakerVariantInvocationsPerInstance"
CONCURRENT_REQUESTS = "SageMakerVariantConcurrentRequestsPerModelHighResolution"
# Predefined metric → (metric name, statistic, factor making the 10-second value the one the target speaks of)
PREDEFINED: dict[str, tuple[str, str, int]] = {INVOCATIONS_PER_INSTANCE: ("InvocationsPerInstance", "Sum", 6),
                                               CONCURRENT_REQUESTS: ("ConcurrentRequestsPerModel", "Maximum", 1)}
HIGH_RESOLUTION_PERIOD_S, CUSTOMIZED_PERIOD_S = 10, 60
HIGH_PERIODS, LOW_PERIODS = 1, 2
SCALE_IN_RATIO = 0.9  # AlarmLow's threshold, as AWS sets it


def put(ctx: Context, key: TargetKey, policy_arn: str, configuration: dict[str, Any],
        existing: ScalingPolicy | None) -> list[dict[str, str]]:
    """Make (or overwrite) the policy's AlarmHigh and, unless DisableScaleIn, AlarmLow; delete one no longer
    wanted. An alarm keeps its name across updates."""
    owned = {_role_of(alarm["AlarmName"]): alarm["AlarmName"] for alarm in existing.alarms} if existing else {}
    wanted = ["AlarmHigh"] + ([] if configuration.get("DisableScaleIn") else ["AlarmLow"])
    alarms = []
    for role in wanted:
        name = owned.get(role) or f"TargetTracking-{key.resource_id}-{role}-{uuid.uuid4()}"
        cloudwatch_alarms.put_metric_alarm(ctx, _alarm_request(key, name, role, policy_arn, configuration))
        alarms.append({"AlarmName": name, "AlarmARN": cloudwatch_alarms.alarm_arn(ctx, name)})
    for role, name in owned.items():
        if role not in wanted:
            _delete_alarm(ctx, name)
    return alarms


def _role_of(alarm_name: str) -> str:
    return "AlarmLow" if "-AlarmLow-" in alarm_name else "AlarmHigh"


def _alarm_request(key: TargetKey, name: str, role: str, policy_arn: str,
                   configuration: dict[str, Any]) -> dict[str, Any]:
    """The PutMetricAlarm request of one of a target-tracking policy's alarms."""
    target = configuration["TargetValue"]
    high = role == "AlarmHigh"
    return {"AlarmName": name, "AlarmDescription": f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy "
                                                   f"{policy_arn}.",
            "AlarmActions": [policy_arn], "EvaluationPeriods": HIGH_PERIODS if high else LOW_PERIODS,
            "Threshold": target if high else target * SCALE_IN_RATIO,
            "ComparisonOperator": "GreaterThanThreshold" if high else "LessThanThreshold",
            **_watched(key, configuration)}


def _watched(key: TargetKey, configuration: dict[str, Any]) -> dict[str, Any]:
    """The metric members of a target-tracking alarm: the predefined metric of the variant, or the customized one."""
    predefined = configuration.get("PredefinedMetricSpecification")
    if predefined is None:
        customized = configuration["CustomizedMetricSpecification"]
        if "Metrics" in customized:
            return {"Metrics": [_with_period(query) for query in customized["Metrics"]]}
        return {"Period": CUSTOMIZED_PERIOD_S, **{member: customized[member] for member in (
            "Namespace", "MetricName", "Dimensions", "Statistic", "Unit") if member in customized}}
    metric_name, statistic, factor = PREDEFINED[predefined["PredefinedMetricType"]]
    _, endpoint, _, variant = key.resource_id.split("/")
    metric = {"Namespace": "AWS/SageMaker", "MetricName": metric_name,
              "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]}
    if factor == 1:
        return {**metric, "Statistic": statistic, "Period": HIGH_RESOLUTION_PERIOD_S}
    stat = {"Metric": metric, "Period": HIGH_RESOLUTION_PERIOD_S, "Stat": statistic}
    return {"Metrics": [{"Id": "m1", "MetricStat": stat, "ReturnData": False},
                        {"Id": "e1", "Expression": f"m1 * {factor}", "Label": f"{metric_name} per minute",
                         "ReturnData": True}]}


def _with_period(query: dict[str, Any]) -> dict[str, Any]:
    if "MetricStat" not in query:
        return query
    return {**query, "MetricStat": {**query["MetricStat"], "Period": CUSTOMIZED_PERIOD_S}}


def delete_owned(ctx: Context, policy: ScalingPolicy) -> None:
    """Delete the alarms a target-tracking policy owns (a step policy's alarms are the user's)."""
    if policy.policy_type == "TargetTrackingScaling":
        for alarm in policy.alarms:
            _delete_alarm(ctx, alarm["AlarmName"])


def _delete_alarm(ctx: Context, name: str) -> None:
    with contextlib.suppress(AlarmNotFound):  # deleted by hand already
        ctx.metadata.alarms.delete([name])
