"""Application Auto Scaling's operations as service functions over a real SQLite metadata store: what each records
and answers (checked against botocore's output shapes), the alarms target tracking owns, and every refusal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelbay.errors import AwsError
from modelbay.services.application_autoscaling import OPERATIONS
from modelbay.services.base import Context
from modelbay.services.cloudwatch_alarms import describe_alarms, put_metric_alarm
from modelbay.services.sagemaker import OPERATIONS as SAGEMAKER
from tests.helpers import T0

MODEL = botocore.session.get_session().get_service_model("application-autoscaling")
RESOURCE = "endpoint/e/variant/AllTraffic"
KEY = {"ServiceNamespace": "sagemaker", "ResourceId": RESOURCE,
       "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"}
TRACKING = {"TargetValue": 60.0, "ScaleOutCooldown": 5, "ScaleInCooldown": 10,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}
STEPS = {"AdjustmentType": "ChangeInCapacity", "Cooldown": 30,
         "StepAdjustments": [{"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1},
                             {"MetricIntervalLowerBound": 10, "ScalingAdjustment": 2}]}


def call(ctx: Context, operation: str, **params: Any) -> Any:
    """Call the operation's function and check its output against botocore's output shape."""
    output = OPERATIONS[operation](ctx, params)
    report = ParamValidator().validate(output, MODEL.operation_model(operation).output_shape)
    assert not report.has_errors(), report.generate_report()
    return output


def error(ctx: Context, operation: str, **params: Any) -> AwsError:
    with pytest.raises(AwsError) as caught:
        OPERATIONS[operation](ctx, params)
    return caught.value


@pytest.fixture
def endpoint(ctx: Context) -> str:
    """Endpoint `e` with variant AllTraffic on instances and variant `sl` serverless."""
    SAGEMAKER["CreateModel"](ctx, {"ModelName": "m", "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r",
                                   "PrimaryContainer": {"Image": "modelbay/sklearn"}})
    SAGEMAKER["CreateEndpointConfig"](ctx, {"EndpointConfigName": "c", "ProductionVariants": [
        {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1},
        {"VariantName": "sl", "ModelName": "m", "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1}}]})
    SAGEMAKER["CreateEndpoint"](ctx, {"EndpointName": "e", "EndpointConfigName": "c"})
    return "e"


def register(ctx: Context, **extra: Any) -> Any:
    return call(ctx, "RegisterScalableTarget", **KEY, **({"MinCapacity": 1, "MaxCapacity": 4} | extra))


def test_every_operation_is_the_models() -> None:
    assert set(OPERATIONS) <= set(MODEL.operation_names)
    assert set(MODEL.operation_names) - set(OPERATIONS) == {"GetPredictiveScalingForecast"}


def test_register_describe_update_deregister(ctx: Context, endpoint: str) -> None:
    arn = register(ctx, Tags={"team": "ml"})["ScalableTargetARN"]
    assert arn.startswith("arn:aws:application-autoscaling:eu-west-1:123456789012:scalable-target/")
    [target] = call(ctx, "DescribeScalableTargets", ServiceNamespace="sagemaker")["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"], target["ScalableTargetARN"]) == (1, 4, arn)
    assert target["SuspendedState"] == {"DynamicScalingInSuspended": False, "DynamicScalingOutSuspended": False,
                                        "ScheduledScalingSuspended": False}
    assert target["RoleARN"].endswith("AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint")
    assert call(ctx, "ListTagsForResource", ResourceARN=arn)["Tags"] == {"team": "ml"}
    # re-registering updates what is given and keeps the rest (and the ARN)
    assert call(ctx, "RegisterScalableTarget", **KEY, MaxCapacity=3,
                SuspendedState={"DynamicScalingInSuspended": True})["ScalableTargetARN"] == arn
    [target] = call(ctx, "DescribeScalableTargets", ServiceNamespace="sagemaker", ResourceIds=[RESOURCE])[
        "ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 3)
    assert target["SuspendedState"]["DynamicScalingInSuspended"] is True
    assert call(ctx, "DescribeScalableTargets", ServiceNamespace="sagemaker", ResourceIds=["endpoint/x/variant/y"])[
        "ScalableTargets"] == []
    assert call(ctx, "DescribeScalableTargets", ServiceNamespace="ecs")["ScalableTargets"] == []
    call(ctx, "DeregisterScalableTarget", **KEY)
    assert call(ctx, "DescribeScalableTargets", ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert error(ctx, "DeregisterScalableTarget", **KEY).code == "ObjectNotFoundException"


@pytest.mark.parametrize(("params", "words"), [
    ({"ServiceNamespace": "ecs"}, "ServiceNamespace ecs is not supported"),
    ({"ScalableDimension": "ecs:service:DesiredCount"}, "Unsupported scalable dimension"),
    ({"ResourceId": "endpoint/e"}, "Invalid ResourceId endpoint/e"),
    ({"ResourceId": "endpoint/nope/variant/AllTraffic"}, "Could not find endpoint nope"),
    ({"ResourceId": "endpoint/e/variant/nope"}, "Could not find variant nope"),
    ({"ResourceId": "endpoint/e/variant/sl"}, "is serverless"),
    ({"MinCapacity": 3, "MaxCapacity": 2}, "Minimum capacity cannot be greater than maximum capacity"),
    ({"MinCapacity": 0}, "must be at least 1"),
    ({"MinCapacity": None}, "MinCapacity and MaxCapacity are required"),
])
def test_register_refuses(ctx: Context, endpoint: str, params: dict[str, Any], words: str) -> None:
    request = {**KEY, "MinCapacity": 1, "MaxCapacity": 2, **params}
    found = error(ctx, "RegisterScalableTarget", **{k: v for k, v in request.items() if v is not None})
    assert found.code == "ValidationException" and words in found.message


def test_target_tracking_owns_its_alarms(ctx: Context, endpoint: str) -> None:
    register(ctx)
    answer = call(ctx, "PutScalingPolicy", **KEY, PolicyName="p", PolicyType="TargetTrackingScaling",
                  TargetTrackingScalingPolicyConfiguration=TRACKING)
    assert answer["PolicyARN"].startswith("arn:aws:autoscaling:eu-west-1:123456789012:scalingPolicy:")
    assert answer["PolicyARN"].endswith(f":resource/sagemaker/{RESOURCE}:policyName/p")
    high, low = (alarm["AlarmName"] for alarm in answer["Alarms"])
    assert high.startswith(f"TargetTracking-{RESOURCE}-AlarmHigh-") and f"{RESOURCE}-AlarmLow-" in low
    alarms = {alarm["AlarmName"]: alarm for alarm in describe_alarms(ctx, {})["MetricAlarms"]}
    assert (alarms[high]["Threshold"], alarms[high]["ComparisonOperator"], alarms[high]["EvaluationPeriods"]) == (
        60.0, "GreaterThanThreshold", 1)
    assert (alarms[low]["Threshold"], alarms[low]["ComparisonOperator"], alarms[low]["EvaluationPeriods"]) == (
        54.0, "LessThanThreshold", 2)
    assert alarms[high]["AlarmActions"] == [answer["PolicyARN"]]
    stat, expression = alarms[high]["Metrics"]
    assert stat["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "EndpointName", "Value": "e"},
                                                          {"Name": "VariantName", "Value": "AllTraffic"}]
    assert (stat["MetricStat"]["Period"], expression["Expression"]) == (10, "m1 * 6")
    [policy] = call(ctx, "DescribeScalingPolicies", ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert policy["Alarms"] == answer["Alarms"] and policy["TargetTrackingScalingPolicyConfiguration"] == TRACKING
    # an update keeps the policy's ARN and its AlarmHigh; DisableScaleIn drops AlarmLow
    again = call(ctx, "PutScalingPolicy", **KEY, PolicyName="p", PolicyType="TargetTrackingScaling",
                 TargetTrackingScalingPolicyConfiguration=TRACKING | {"DisableScaleIn": True, "TargetValue": 30.0})
    assert again["PolicyARN"] == answer["PolicyARN"] and [a["AlarmName"] for a in again["Alarms"]] == [high]
    assert [alarm["AlarmName"] for alarm in describe_alarms(ctx, {})["MetricAlarms"]] == [high]
    call(ctx, "DeleteScalingPolicy", **KEY, PolicyName="p")
    assert describe_alarms(ctx, {})["MetricAlarms"] == []
    assert error(ctx, "DeleteScalingPolicy", **KEY, PolicyName="p").message == (
        f"No scaling policy found for service namespace: sagemaker, resource ID: {RESOURCE}, scalable dimension: "
        "sagemaker:variant:DesiredInstanceCount, policy name: p")


def test_customized_metric_alarm_keeps_aws_periods(ctx: Context, endpoint: str) -> None:
    register(ctx)
    customized = {"Namespace": "App", "MetricName": "Queue", "Statistic": "Average",
                  "Dimensions": [{"Name": "Q", "Value": "q"}]}
    answer = call(ctx, "PutScalingPolicy", **KEY, PolicyName="c", PolicyType="TargetTrackingScaling",
                  TargetTrackingScalingPolicyConfiguration={"TargetValue": 5.0,
                                                            "CustomizedMetricSpecification": customized})
    high = next(alarm for alarm in describe_alarms(ctx, {})["MetricAlarms"]
                if alarm["AlarmName"] == answer["Alarms"][0]["AlarmName"])
    assert (high["Namespace"], high["MetricName"], high["Statistic"], high["Period"]) == ("App", "Queue", "Average", 60)


def test_step_scaling_policy_lists_the_alarms_naming_it(ctx: Context, endpoint: str) -> None:
    register(ctx)
    arn = call(ctx, "PutScalingPolicy", **KEY, PolicyName="s", StepScalingPolicyConfiguration=STEPS)["PolicyARN"]
    put_metric_alarm(ctx, {"AlarmName": "mine", "Namespace": "AWS/SageMaker", "MetricName": "Invocations",
                           "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 10.0,
                           "ComparisonOperator": "GreaterThanThreshold", "AlarmActions": [arn]})
    [policy] = call(ctx, "DescribeScalingPolicies", ServiceNamespace="sagemaker", PolicyNames=["s"])[
        "ScalingPolicies"]
    assert policy["PolicyType"] == "StepScaling" and policy["StepScalingPolicyConfiguration"] == STEPS
    assert [alarm["AlarmName"] for alarm in policy["Alarms"]] == ["mine"]
    call(ctx, "DeleteScalingPolicy", **KEY, PolicyName="s")
    assert [alarm["AlarmName"] for alarm in describe_alarms(ctx, {})["MetricAlarms"]] == ["mine"]  # the user's


@pytest.mark.parametrize(("params", "words"), [
    ({"PolicyType": "TargetTrackingScaling"}, "take a TargetTrackingScalingPolicyConfiguration"),
    ({"PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 1.0}},
     "Exactly one of PredefinedMetricSpecification"),
    ({"PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": TRACKING | {
        "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}},
     "Unsupported predefined metric type"),
    ({"PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": TRACKING | {
        "TargetValue": 0.0}}, "TargetValue must be greater than 0"),
    ({"PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {
        "TargetValue": 1.0, "CustomizedMetricSpecification": {"MetricName": "x"}}}, "needs Namespace"),
    ({"PolicyType": "PredictiveScaling"}, "does not support the policy type"),
    ({}, "take a StepScalingPolicyConfiguration"),
    ({"StepScalingPolicyConfiguration": {"StepAdjustments": STEPS["StepAdjustments"]}}, "AdjustmentType must be"),
    ({"StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity"}}, "StepAdjustments must be"),
    ({"StepScalingPolicyConfiguration": STEPS | {"MinAdjustmentMagnitude": 1}}, "PercentChangeInCapacity"),
    ({"StepScalingPolicyConfiguration": STEPS | {"StepAdjustments": [
        {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1},
        {"MetricIntervalLowerBound": 5, "ScalingAdjustment": 2}]}}, "must not overlap"),
    ({"StepScalingPolicyConfiguration": STEPS | {"StepAdjustments": [
        {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1}]}},
     "no lower bound"),
])
def test_put_scaling_policy_refuses(ctx: Context, endpoint: str, params: dict[str, Any], words: str) -> None:
    register(ctx)
    found = error(ctx, "PutScalingPolicy", **KEY, PolicyName="p", **params)
    assert found.code == "ValidationException" and words in found.message, found.message


def test_a_policy_needs_a_registered_target(ctx: Context, endpoint: str) -> None:
    found = error(ctx, "PutScalingPolicy", **KEY, PolicyName="p", StepScalingPolicyConfiguration=STEPS)
    assert (found.code, found.message) == ("ObjectNotFoundException", (
        f"No scalable target registered for service namespace: sagemaker, resource ID: {RESOURCE}, scalable "
        "dimension: sagemaker:variant:DesiredInstanceCount"))


def test_deregistering_removes_policies_their_alarms_and_scheduled_actions(ctx: Context, endpoint: str) -> None:
    register(ctx)
    call(ctx, "PutScalingPolicy", **KEY, PolicyName="p", PolicyType="TargetTrackingScaling",
         TargetTrackingScalingPolicyConfiguration=TRACKING)
    call(ctx, "PutScheduledAction", **KEY, ScheduledActionName="night", Schedule="cron(0 22 * * ? *)",
         ScalableTargetAction={"MinCapacity": 1, "MaxCapacity": 1})
    call(ctx, "DeregisterScalableTarget", **KEY)
    assert call(ctx, "DescribeScalingPolicies", ServiceNamespace="sagemaker")["ScalingPolicies"] == []
    assert call(ctx, "DescribeScheduledActions", ServiceNamespace="sagemaker")["ScheduledActions"] == []
    assert describe_alarms(ctx, {})["MetricAlarms"] == []


def test_scheduled_actions(ctx: Context, endpoint: str) -> None:
    register(ctx)
    start = T0 + timedelta(days=1)
    call(ctx, "PutScheduledAction", **KEY, ScheduledActionName="day", Schedule="cron(0 8 ? * MON-FRI *)",
         Timezone="Europe/Paris", StartTime=start, ScalableTargetAction={"MinCapacity": 2})
    call(ctx, "PutScheduledAction", **KEY, ScheduledActionName="once", Schedule="at(2030-01-01T00:00:00)",
         ScalableTargetAction={"MaxCapacity": 1})
    # an update keeps what it does not give
    call(ctx, "PutScheduledAction", **KEY, ScheduledActionName="day", ScalableTargetAction={"MinCapacity": 3})
    found = call(ctx, "DescribeScheduledActions", ServiceNamespace="sagemaker", ScheduledActionNames=["day"])
    [day] = found["ScheduledActions"]
    assert (day["Schedule"], day["Timezone"], day["StartTime"], day["ScalableTargetAction"]) == (
        "cron(0 8 ? * MON-FRI *)", "Europe/Paris", start, {"MinCapacity": 3})
    assert ":scheduledAction:" in day["ScheduledActionARN"]
    assert day["ScheduledActionARN"].endswith(":scheduledActionName/day")
    call(ctx, "DeleteScheduledAction", **KEY, ScheduledActionName="day")
    names = [a["ScheduledActionName"] for a in call(ctx, "DescribeScheduledActions", ServiceNamespace="sagemaker")[
        "ScheduledActions"]]
    assert names == ["once"]
    assert error(ctx, "DeleteScheduledAction", **KEY, ScheduledActionName="day").code == "ObjectNotFoundException"


@pytest.mark.parametrize(("params", "words"), [
    ({}, "Schedule must be specified"),
    ({"Schedule": "every day"}, "Unsupported schedule expression"),
    ({"Schedule": "cron(0 8 * * MON *)"}, "one of day-of-month and day-of-week must be ?"),
    ({"Schedule": "cron(0 25 * * ? *)"}, "Invalid cron value 25"),
    ({"Schedule": "cron(0 8 L * ? *)"}, "L, W and # are not supported"),
    ({"Schedule": "rate(5 minutes)", "Timezone": "Mars/Olympus"}, "Invalid timezone"),
    ({"Schedule": "rate(5 minutes)", "ScalableTargetAction": {}}, "ScalableTargetAction must give"),
    ({"Schedule": "rate(5 minutes)", "ScalableTargetAction": {"MinCapacity": 3, "MaxCapacity": 2}},
     "Minimum capacity cannot be greater"),
    ({"Schedule": "rate(5 minutes)", "StartTime": T0 + timedelta(hours=1), "EndTime": T0}, "StartTime must be"),
])
def test_put_scheduled_action_refuses(ctx: Context, endpoint: str, params: dict[str, Any], words: str) -> None:
    register(ctx)
    request = {"ScalableTargetAction": {"MinCapacity": 1}} | params
    found = error(ctx, "PutScheduledAction", **KEY, ScheduledActionName="a", **request)
    assert found.code == "ValidationException" and words in found.message, found.message


def test_scheduled_action_needs_a_target(ctx: Context, endpoint: str) -> None:
    found = error(ctx, "PutScheduledAction", **KEY, ScheduledActionName="a", Schedule="rate(1 hour)",
                  ScalableTargetAction={"MinCapacity": 1})
    assert found.code == "ObjectNotFoundException"


def test_activities_newest_first_in_pages(ctx: Context, endpoint: str) -> None:
    from modelbay.store.metadata.autoscaling import SUCCESSFUL, TargetKey

    register(ctx)
    key = TargetKey(*KEY.values())
    for n in range(3):
        ctx.metadata.autoscaling.add_activity(f"a{n}", key, f"Setting desired instance count to {n + 1}.",
                                              "cause", SUCCESSFUL, "done", desired=n + 1)
    first = call(ctx, "DescribeScalingActivities", ServiceNamespace="sagemaker", ResourceId=RESOURCE, MaxResults=2)
    assert [a["ActivityId"] for a in first["ScalingActivities"]] == ["a2", "a1"]
    rest = call(ctx, "DescribeScalingActivities", ServiceNamespace="sagemaker", NextToken=first["NextToken"])
    assert [a["ActivityId"] for a in rest["ScalingActivities"]] == ["a0"] and "NextToken" not in rest
    assert rest["ScalingActivities"][0]["EndTime"] == rest["ScalingActivities"][0]["StartTime"]
    found = error(ctx, "DescribeScalingActivities", ServiceNamespace="sagemaker", NextToken="junk")
    assert found.code == "InvalidNextTokenException"


def test_tags_of_an_unknown_resource(ctx: Context, endpoint: str) -> None:
    arn = register(ctx)["ScalableTargetARN"]
    call(ctx, "TagResource", ResourceARN=arn, Tags={"a": "1", "b": "2"})
    call(ctx, "UntagResource", ResourceARN=arn, TagKeys=["a"])
    assert call(ctx, "ListTagsForResource", ResourceARN=arn)["Tags"] == {"b": "2"}
    assert error(ctx, "ListTagsForResource", ResourceARN=arn + "x").code == "ResourceNotFoundException"
