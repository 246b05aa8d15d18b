"""Application Auto Scaling (botocore `application-autoscaling`) for SageMaker endpoint variants: scalable targets,
scaling policies (target tracking and step scaling), scheduled actions, scaling activities and tags.

The one scalable dimension is `sagemaker:variant:DesiredInstanceCount` of `endpoint/<name>/variant/<variant>`, a
production or a shadow variant.
These functions record what should happen; controllers/autoscaling/ scales (an alarm runs a policy) and runs the
scheduled actions. Target tracking makes and owns its CloudWatch alarms (target_tracking_alarms.py); a step
policy is run by the alarms a user points at it.
Not done: predictive scaling, the other predefined metrics, NotScaledReasons.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from modelbay import schedules
from modelbay.errors import AwsError, ValidationError, aws_error
from modelbay.services import target_tracking_alarms
from modelbay.services.base import Context, Handler, present
from modelbay.statuses import EndpointStatus
from modelbay.store.metadata import RecordNotFound
from modelbay.store.metadata.alarms import AlarmFilter
from modelbay.store.metadata.autoscaling import (
    DIMENSION,
    NAMESPACE,
    AutoscalingRepository,
    ScalableTarget,
    ScalableTargetNotFound,
    ScalingActivity,
    ScalingPolicy,
    ScheduledAction,
    TargetKey,
)
from modelbay.store.metadata.paging import InvalidToken, decode_token, encode_token

ObjectNotFound = aws_error("ObjectNotFoundException")
InvalidNextToken = aws_error("InvalidNextTokenException")
ResourceNotFound = aws_error("ResourceNotFoundException")

MAX_RESULTS = 50
_RESOURCE = re.compile(r"endpoint/([a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})/variant/([a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})")
_SERVICE_ROLE = ("role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
                 "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")
_T = TypeVar("_T")


# -- scalable targets ------------------------------------------------------------------------------------


def register_scalable_target(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Register the variant's instance count as a scalable target, or update the members given."""
    key = _key(params)
    _check_variant(ctx, key)
    min_capacity, max_capacity = params.get("MinCapacity"), params.get("MaxCapacity")
    existing = _repository(ctx).target(key)
    low = min_capacity if min_capacity is not None else existing.min_capacity if existing else None
    high = max_capacity if max_capacity is not None else existing.max_capacity if existing else None
    if low is None or high is None:
        raise ValidationError("MinCapacity and MaxCapacity are required when registering a new scalable target.")
    if low < 1:
        raise ValidationError("The minimum capacity of a SageMaker endpoint variant must be at least 1.")
    if low > high:
        raise ValidationError("Minimum capacity cannot be greater than maximum capacity.")
    arn = ctx.arn("application-autoscaling", f"scalable-target/sm{uuid.uuid4().hex}")
    target, created = _repository(ctx).register(key, arn, low, high, params.get("RoleARN") or _role(ctx),
                                                params.get("SuspendedState"))
    if created and params.get("Tags"):
        ctx.metadata.tags.add(target.arn, list(params["Tags"].items()))
    return {"ScalableTargetARN": target.arn}


def describe_scalable_targets(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    if params["ServiceNamespace"] != NAMESPACE:
        return {"ScalableTargets": []}
    found = _repository(ctx).targets(NAMESPACE, params.get("ResourceIds"), params.get("ScalableDimension"))
    return _page(params, "targets", found, "ScalableTargets", _target_described)


def deregister_scalable_target(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Remove the target, its policies (and the alarms they own) and its scheduled actions."""
    key = _key(params)
    try:
        policies = _repository(ctx).deregister(key)
    except ScalableTargetNotFound:
        raise _no_target(key) from None
    for policy in policies:
        target_tracking_alarms.delete_owned(ctx, policy)
    return {}


def _target_described(target: ScalableTarget) -> dict[str, Any]:
    return {**_key_described(target.key), "MinCapacity": target.min_capacity, "MaxCapacity": target.max_capacity,
            "RoleARN": target.role_arn, "CreationTime": target.creation_time, "SuspendedState": target.suspended,
            "ScalableTargetARN": target.arn}


# -- scaling policies ------------------------------------------------------------------------------------


def put_scaling_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Create or update the policy; target tracking (re)makes the alarms it owns."""
    key, name = _key(params), params["PolicyName"]
    if _repository(ctx).target(key) is None:
        raise _no_target(key)
    policy_type = params.get("PolicyType", "StepScaling")
    existing = _repository(ctx).policy(key, name)
    arn = existing.arn if existing else ctx.arn(
        "autoscaling", f"scalingPolicy:{uuid.uuid4()}:resource/{NAMESPACE}/{key.resource_id}:policyName/{name}")
    if policy_type == "TargetTrackingScaling":
        configuration = _target_tracking(params)
        alarms = target_tracking_alarms.put(ctx, key, arn, configuration, existing)
    elif policy_type == "StepScaling":
        configuration, alarms = _step_scaling(params), []
        if existing is not None:
            target_tracking_alarms.delete_owned(ctx, existing)
    else:
        raise ValidationError(f"modelbay does not support the policy type {policy_type}: use TargetTrackingScaling "
                              "or StepScaling.")
    policy = _repository(ctx).put_policy(key, name, arn, policy_type, configuration, alarms)
    return present(PolicyARN=policy.arn, Alarms=list(policy.alarms) or None)


def _target_tracking(params: dict[str, Any]) -> dict[str, Any]:
    configuration: dict[str, Any] | None = params.get("TargetTrackingScalingPolicyConfiguration")
    if configuration is None or "StepScalingPolicyConfiguration" in params:
        raise ValidationError("TargetTrackingScaling policies take a TargetTrackingScalingPolicyConfiguration and no "
                              "StepScalingPolicyConfiguration.")
    predefined, customized = (configuration.get("PredefinedMetricSpecification"),
                              configuration.get("CustomizedMetricSpecification"))
    if (predefined is None) == (customized is None):
        raise ValidationError("Exactly one of PredefinedMetricSpecification and CustomizedMetricSpecification must be "
                              "specified.")
    if predefined is not None and predefined["PredefinedMetricType"] not in target_tracking_alarms.PREDEFINED:
        raise ValidationError(f"Unsupported predefined metric type {predefined['PredefinedMetricType']} for "
                              f"SageMaker endpoint variants: use {' or '.join(target_tracking_alarms.PREDEFINED)}.")
    if customized is not None and "Metrics" not in customized and not all(
            member in customized for member in ("Namespace", "MetricName", "Statistic")):
        raise ValidationError("CustomizedMetricSpecification needs Namespace, MetricName and Statistic, or Metrics.")
    if configuration["TargetValue"] <= 0:
        raise ValidationError("TargetValue must be greater than 0.")
    return configuration


def _step_scaling(params: dict[str, Any]) -> dict[str, Any]:
    configuration: dict[str, Any] | None = params.get("StepScalingPolicyConfiguration")
    if configuration is None or "TargetTrackingScalingPolicyConfiguration" in params:
        raise ValidationError("StepScaling policies take a StepScalingPolicyConfiguration and no "
                              "TargetTrackingScalingPolicyConfiguration.")
    if "AdjustmentType" not in configuration:
        raise ValidationError("AdjustmentType must be specified for step scaling policies.")
    if not configuration.get("StepAdjustments"):
        raise ValidationError("StepAdjustments must be specified for step scaling policies.")
    if "MinAdjustmentMagnitude" in configuration and configuration["AdjustmentType"] != "PercentChangeInCapacity":
        raise ValidationError("MinAdjustmentMagnitude may only be specified with the PercentChangeInCapacity "
                              "adjustment type.")
    _check_steps(configuration["StepAdjustments"])
    return configuration


def _check_steps(steps: list[dict[str, Any]]) -> None:
    """Intervals (relative to the alarm's threshold) that neither overlap nor leave a gap, as AWS asks."""
    inf = float("inf")
    bounds = sorted((step.get("MetricIntervalLowerBound", -inf), step.get("MetricIntervalUpperBound", inf))
                    for step in steps)
    for lower, upper in bounds:
        if lower >= upper:
            raise ValidationError("A step adjustment's MetricIntervalLowerBound must be less than its "
                                  "MetricIntervalUpperBound.")
    for (_, upper), (lower, _) in zip(bounds, bounds[1:], strict=False):
        if upper != lower:
            raise ValidationError("The intervals of step adjustments must not overlap or leave a gap.")
    if bounds[0][0] != -inf and bounds[-1][1] != inf:
        raise ValidationError("One step adjustment must have no lower bound or one must have no upper bound.")


def describe_scaling_policies(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The policies with their alarms: those target tracking owns, or those whose actions name a step policy."""
    if params["ServiceNamespace"] != NAMESPACE:
        return {"ScalingPolicies": []}
    found = _repository(ctx).policies(NAMESPACE, params.get("ResourceId"), params.get("ScalableDimension"),
                                      params.get("PolicyNames"))
    return _page(params, "policies", found, "ScalingPolicies", lambda policy: policy_described(ctx, policy))


def policy_described(ctx: Context, policy: ScalingPolicy) -> dict[str, Any]:
    alarms = list(policy.alarms) if policy.policy_type == "TargetTrackingScaling" else [
        {"AlarmName": alarm.name, "AlarmARN": alarm.arn}
        for alarm in ctx.metadata.alarms.page(AlarmFilter(action_prefix=policy.arn), limit=100).items]
    return {"PolicyARN": policy.arn, "PolicyName": policy.name, **_key_described(policy.key),
            "PolicyType": policy.policy_type, f"{policy.policy_type}PolicyConfiguration": policy.configuration,
            "Alarms": alarms, "CreationTime": policy.creation_time}


def delete_scaling_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete the policy and the alarms it owns (a step policy's alarms are the user's and stay)."""
    key, name = _key(params), params["PolicyName"]
    try:
        policy = _repository(ctx).delete_policy(key, name)
    except RecordNotFound:
        raise ObjectNotFound(f"No scaling policy found for service namespace: {key.namespace}, resource ID: "
                             f"{key.resource_id}, scalable dimension: {key.dimension}, policy name: {name}") from None
    target_tracking_alarms.delete_owned(ctx, policy)
    return {}


# -- scaling activities ----------------------------------------------------------------------------------


def describe_scaling_activities(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The activities, newest first (AWS keeps six weeks; here they all stay)."""
    if params["ServiceNamespace"] != NAMESPACE:
        return {"ScalingActivities": []}
    found = _repository(ctx).activities(NAMESPACE, params.get("ResourceId"), params.get("ScalableDimension"))
    return _page(params, "activities", found, "ScalingActivities", activity_described)


def activity_described(activity: ScalingActivity) -> dict[str, Any]:
    return {"ActivityId": activity.activity_id, **_key_described(activity.key), "Description": activity.description,
            "Cause": activity.cause, "StartTime": activity.start_time, "StatusCode": activity.status_code,
            "StatusMessage": activity.status_message} | present(EndTime=activity.end_time)


# -- scheduled actions -----------------------------------------------------------------------------------


def put_scheduled_action(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Create or update the scheduled action; the scheduled-action loop applies its Min/MaxCapacity when due."""
    key, name = _key(params), params["ScheduledActionName"]
    if _repository(ctx).target(key) is None:
        raise _no_target(key)
    existing = next(iter(_repository(ctx).scheduled_actions(NAMESPACE, key.resource_id, key.dimension, [name])), None)
    request: dict[str, Any] = {**(existing.request if existing else {}), **{member: params[member] for member in (
        "Schedule", "Timezone", "ScalableTargetAction") if member in params}}
    request |= {member: params[member].isoformat() for member in ("StartTime", "EndTime") if member in params}
    _check_schedule(request)
    arn = existing.arn if existing else ctx.arn(
        "autoscaling", f"scheduledAction:{uuid.uuid4()}:resource/{NAMESPACE}/{key.resource_id}:"
                       f"scheduledActionName/{name}")
    _repository(ctx).put_scheduled_action(key, name, arn, request)
    return {}


def _check_schedule(request: dict[str, Any]) -> None:
    if "Schedule" not in request:
        raise ValidationError("Schedule must be specified when creating a scheduled action.")
    try:
        schedules.parse(request["Schedule"])
        schedules.zone(request.get("Timezone"))
    except ValueError as error:
        raise ValidationError(str(error)) from None
    action = request.get("ScalableTargetAction") or {}
    if not action:
        raise ValidationError("ScalableTargetAction must give MinCapacity, MaxCapacity or both.")
    if action.get("MinCapacity", 1) < 1:
        raise ValidationError("The minimum capacity of a SageMaker endpoint variant must be at least 1.")
    if action.get("MinCapacity", 0) > action.get("MaxCapacity", float("inf")):
        raise ValidationError("Minimum capacity cannot be greater than maximum capacity.")
    if "StartTime" in request and "EndTime" in request and (
            datetime.fromisoformat(request["StartTime"]) > datetime.fromisoformat(request["EndTime"])):
        raise ValidationError("StartTime must be before EndTime.")


def describe_scheduled_actions(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    if params["ServiceNamespace"] != NAMESPACE:
        return {"ScheduledActions": []}
    found = _repository(ctx).scheduled_actions(NAMESPACE, params.get("ResourceId"), params.get("ScalableDimension"),
                                               params.get("ScheduledActionNames"))
    return _page(params, "scheduled", found, "ScheduledActions", scheduled_described)


def scheduled_described(action: ScheduledAction) -> dict[str, Any]:
    times: dict[str, datetime] = {member: datetime.fromisoformat(action.request[member])
                                  for member in ("StartTime", "EndTime") if member in action.request}
    described: dict[str, Any] = {
        "ScheduledActionName": action.name, "ScheduledActionARN": action.arn, **_key_described(action.key),
        "Schedule": action.request["Schedule"], "CreationTime": action.creation_time, **times}
    return described | present(
        Timezone=action.request.get("Timezone"), ScalableTargetAction=action.request.get("ScalableTargetAction"))


def delete_scheduled_action(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    key, name = _key(params), params["ScheduledActionName"]
    try:
        _repository(ctx).delete_scheduled_action(key, name)
    except RecordNotFound:
        raise ObjectNotFound(f"No scheduled action found for service namespace: {key.namespace}, resource ID: "
                             f"{key.resource_id}, scalable dimension: {key.dimension}, scheduled action name: "
                             f"{name}") from None
    return {}


# -- tags ------------------------------------------------------------------------------------------------


def list_tags_for_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    arn = _tagged(ctx, params["ResourceARN"])
    return {"Tags": dict(ctx.metadata.tags.list(arn, limit=50).items)}


def tag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    ctx.metadata.tags.add(_tagged(ctx, params["ResourceARN"]), list(params["Tags"].items()))
    return {}


def untag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    ctx.metadata.tags.delete(_tagged(ctx, params["ResourceARN"]), params["TagKeys"])
    return {}


def _tagged(ctx: Context, arn: str) -> str:
    if not any(target.arn == arn for target in _repository(ctx).targets(NAMESPACE)):
        raise ResourceNotFound(f"Resource not found: {arn}", ResourceName=arn)
    return arn


# -- shared ----------------------------------------------------------------------------------------------


def _key(params: dict[str, Any]) -> TargetKey:
    """The target a request names; ValidationException unless it is a SageMaker variant's instance count."""
    namespace, resource_id, dimension = params["ServiceNamespace"], params["ResourceId"], params["ScalableDimension"]
    if namespace != NAMESPACE:
        raise ValidationError(f"modelbay scales SageMaker endpoint variants only: ServiceNamespace {namespace} is "
                              f"not supported.")
    if dimension != DIMENSION:
        raise ValidationError(f"Unsupported scalable dimension {dimension} for service namespace {namespace}: "
                              f"use {DIMENSION}.")
    if not _RESOURCE.fullmatch(resource_id):
        raise ValidationError(f"Invalid ResourceId {resource_id}: it must be endpoint/<endpoint name>/variant/"
                              "<variant name>.")
    return TargetKey(namespace, resource_id, dimension)


def _check_variant(ctx: Context, key: TargetKey) -> None:
    """The endpoint and its variant exist, and the variant has instances (a serverless one has none to scale). A
    shadow variant is a target too: SageMaker recommends scaling it as its production variant is, so that it is
    sized for the traffic it will take when promoted."""
    _, name, _, variant = key.resource_id.split("/")
    endpoint = ctx.metadata.endpoints.get(name)
    if endpoint is None or endpoint.status == EndpointStatus.DELETING:
        raise ValidationError(f"Could not find endpoint {name} for resource ID {key.resource_id}.")
    spec = next((spec for spec in endpoint.spec.all_variants if spec.name == variant), None)
    if spec is None:
        raise ValidationError(f"Could not find variant {variant} of endpoint {name} for resource ID "
                              f"{key.resource_id}.")
    if spec.serverless is not None:
        raise ValidationError(f"Variant {variant} of endpoint {name} is serverless: it has no instance count to "
                              "scale.")


def _no_target(key: TargetKey) -> AwsError:
    return ObjectNotFound(f"No scalable target registered for service namespace: {key.namespace}, resource ID: "
                          f"{key.resource_id}, scalable dimension: {key.dimension}")


def _key_described(key: TargetKey) -> dict[str, str]:
    return {"ServiceNamespace": key.namespace, "ResourceId": key.resource_id, "ScalableDimension": key.dimension}


def _role(ctx: Context) -> str:
    return f"arn:aws:iam::{ctx.principal.account_id}:{_SERVICE_ROLE}"


def _page(params: dict[str, Any], scope: str, found: Sequence[_T], member: str,
          described: Callable[[_T], dict[str, Any]]) -> dict[str, Any]:
    """One page of `found` (MaxResults, 50 at most, from NextToken), described."""
    limit = min(params.get("MaxResults", MAX_RESULTS), MAX_RESULTS)
    try:
        offset = decode_token(scope, params["NextToken"]) if "NextToken" in params else 0
    except InvalidToken:
        raise InvalidNextToken("Invalid NextToken.") from None
    following = offset + limit
    return {member: [described(item) for item in found[offset:following]]} | present(
        NextToken=encode_token(scope, following) if following < len(found) else None)


def _repository(ctx: Context) -> AutoscalingRepository:
    return ctx.metadata.autoscaling


OPERATIONS: dict[str, Handler] = {
    "RegisterScalableTarget": register_scalable_target,
    "DescribeScalableTargets": describe_scalable_targets,
    "DeregisterScalableTarget": deregister_scalable_target,
    "PutScalingPolicy": put_scaling_policy,
    "DescribeScalingPolicies": describe_scaling_policies,
    "DeleteScalingPolicy": delete_scaling_policy,
    "DescribeScalingActivities": describe_scaling_activities,
    "PutScheduledAction": put_scheduled_action,
    "DescribeScheduledActions": describe_scheduled_actions,
    "DeleteScheduledAction": delete_scheduled_action,
    "ListTagsForResource": list_tags_for_resource,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
}
