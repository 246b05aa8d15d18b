"""The AutoscalingController with the real AlarmController calling it, over a SQLite store and metric store, with a
clock the tests move: target tracking out and in (cooldowns, the action repeated while its alarm stays in ALARM),
an endpoint Updating left alone until it is InService, bounds, scheduled actions, activities in AWS's words."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelbay.config import Settings
from modelbay.controllers.alarms.actions import SCALING_POLICY_PREFIX, AlarmActions
from modelbay.controllers.alarms.controller import AlarmController
from modelbay.controllers.autoscaling.controller import AutoscalingController
from modelbay.monitoring.metrics import MetricKey, MetricStore
from modelbay.platform import Platform
from modelbay.security.principal import Principal
from modelbay.services import application_autoscaling as aas
from modelbay.services.base import Context
from modelbay.services.sagemaker import OPERATIONS as SAGEMAKER
from modelbay.statuses import EndpointStatus
from modelbay.store.metadata import VariantState, open_metadata_store
from modelbay.store.metadata.autoscaling import ScalingActivity
from tests.helpers import T0, SetClock

Clock = SetClock[datetime]  # a clock the test sets

METRIC = MetricKey.of("AWS/SageMaker", "InvocationsPerInstance", {"EndpointName": "e", "VariantName": "AllTraffic"})
KEY = {"ServiceNamespace": "sagemaker", "ResourceId": "endpoint/e/variant/AllTraffic",
       "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"}


class World:
    """An InService endpoint `e` with one instance, its target (1 to 3 instances) and both controllers."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = SetClock(T0)
        self.metadata = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}", clock=self.clock)
        self.metrics = MetricStore(self.metadata.metrics, self.clock)
        platform = Platform(settings=Settings(data_dir=tmp_path), metadata=self.metadata, objects=None,  # type: ignore[arg-type]
                            logs=None)  # type: ignore[arg-type]
        self.ctx = Context(platform, "req", "us-east-1", Principal(access_key_id="AKID", account_id="123456789012"))
        SAGEMAKER["CreateModel"](self.ctx, {"ModelName": "m", "ExecutionRoleArn": "arn:aws:iam::1:role/r",
                                            "PrimaryContainer": {"Image": "modelbay/sklearn"}})
        SAGEMAKER["CreateEndpointConfig"](self.ctx, {"EndpointConfigName": "c", "ProductionVariants": [
            {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}]})
        SAGEMAKER["CreateEndpoint"](self.ctx, {"EndpointName": "e", "EndpointConfigName": "c"})
        self.serve(1)
        aas.register_scalable_target(self.ctx, KEY | {"MinCapacity": 1, "MaxCapacity": 3})
        self.autoscaling = AutoscalingController(self.metadata, self.metrics, self.clock)
        actions = AlarmActions()
        actions.register(SCALING_POLICY_PREFIX, self.autoscaling.run_policy)
        self.alarms = AlarmController(self.metadata.alarms, self.metrics, actions, self.clock)

    def serve(self, count: int) -> None:
        """The EndpointController's part: the endpoint InService with `count` instances."""
        self.metadata.endpoints.advance("e", EndpointStatus.IN_SERVICE, variants=[
            VariantState("AllTraffic", 1.0, count, current_weight=1.0, current_instance_count=count)])

    def load(self, start_s: int, end_s: int, per_instance_per_s: float) -> None:
        """InvocationsPerInstance as the publisher records it, each second in [start_s, end_s) after T0."""
        for second in range(start_s, end_s):
            self.metrics.record(METRIC, per_instance_per_s, timestamp=T0.timestamp() + second + 0.5,
                                storage_resolution=1)
        self.metrics.flush()

    def at(self, seconds: float) -> None:
        """Move the clock to `seconds` after T0 and run a pass of each controller."""
        self.clock.now = T0 + timedelta(seconds=seconds)
        for controller in (self.alarms, self.autoscaling):
            for name in controller.names():
                controller.reconcile(name)

    def desired(self) -> tuple[int, str]:
        endpoint = self.metadata.endpoints.get("e")
        assert endpoint is not None
        return endpoint.variants[0].desired_instance_count, endpoint.status

    def activities(self) -> list[ScalingActivity]:
        return self.metadata.autoscaling.activities("sagemaker")

    def put_policy(self, **configuration: Any) -> dict[str, Any]:
        return dict(aas.put_scaling_policy(self.ctx, KEY | {
            "PolicyName": "p", "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 60.0, "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}} | configuration}))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = World(tmp_path)
    yield built
    built.metadata.close()


def test_target_tracking_scales_out_then_in_after_the_cooldown(world: World) -> None:
    alarms = world.put_policy(ScaleOutCooldown=20, ScaleInCooldown=30)["Alarms"]
    high, low = (alarm["AlarmName"] for alarm in alarms)
    world.load(0, 10, 20.0)  # 200 in 10 s: 1200 a minute per instance, against a target of 60
    world.at(10.5)
    assert world.desired() == (3, EndpointStatus.UPDATING)  # ceil(1 × 1200 / 60) = 20, bounded by max 3
    [activity] = world.activities()
    assert (activity.description, activity.status_code, activity.desired) == (
        "Setting desired instance count to 3.", "InProgress", 3)
    assert activity.cause == f"monitor alarm {high} in state ALARM triggered policy p"
    world.serve(3)
    world.at(11)
    [activity] = world.activities()
    assert (activity.status_code, activity.status_message) == (
        "Successful", "Successfully set desired instance count to 3. Change successfully fulfilled by sagemaker.")
    world.load(10, 50, 0.1)  # 6 a minute per instance: below 90 % of the target
    world.at(30.5)  # AlarmLow has judged its two periods: ALARM, but the scale-in cooldown (30 s) holds it
    assert world.metadata.alarms.get(low).state.value == "ALARM"  # type: ignore[union-attr]
    assert world.desired() == (3, EndpointStatus.IN_SERVICE) and len(world.activities()) == 1
    world.at(35)  # the action is not repeated within its alarm's period
    assert len(world.activities()) == 1
    world.at(41)  # repeated a period later, over the latest datapoints, the cooldown over: ceil(3 × 6 / 60) = 1
    assert world.desired() == (1, EndpointStatus.UPDATING)
    latest = world.activities()[0]
    assert latest.cause == f"monitor alarm {low} in state ALARM triggered policy p" and latest.desired == 1


def test_scale_out_waits_for_an_endpoint_updating(world: World) -> None:
    world.put_policy(ScaleOutCooldown=0)
    world.metadata.endpoints.request_weights("e", {"AllTraffic": (0.5, None)})  # a user's update under way
    world.load(0, 30, 20.0)
    world.at(10.5)
    assert world.desired() == (1, EndpointStatus.UPDATING) and world.activities() == []
    world.serve(1)
    world.at(20.5)  # AlarmHigh stays in ALARM: its action runs again, now that the endpoint is InService
    assert world.desired() == (3, EndpointStatus.UPDATING)


def test_disable_scale_in_and_suspended_scale_out(world: World) -> None:
    world.put_policy(DisableScaleIn=True, ScaleOutCooldown=0)
    aas.register_scalable_target(world.ctx, KEY | {"SuspendedState": {"DynamicScalingOutSuspended": True}})
    world.load(0, 30, 20.0)
    world.at(10.5)
    assert world.desired() == (1, EndpointStatus.IN_SERVICE)
    aas.register_scalable_target(world.ctx, KEY | {"SuspendedState": {"DynamicScalingOutSuspended": False}})
    world.at(20.5)
    assert world.desired() == (3, EndpointStatus.UPDATING)


def test_step_scaling_through_a_users_alarm(world: World) -> None:
    arn = aas.put_scaling_policy(world.ctx, KEY | {"PolicyName": "steps", "StepScalingPolicyConfiguration": {
        "AdjustmentType": "ChangeInCapacity", "Cooldown": 0, "StepAdjustments": [
            {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 50, "ScalingAdjustment": 1},
            {"MetricIntervalLowerBound": 50, "ScalingAdjustment": 2}]}})["PolicyARN"]
    world.metadata.alarms.put("busy", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:busy", {
        "AlarmName": "busy", "Namespace": "AWS/SageMaker", "MetricName": "InvocationsPerInstance",
        "Dimensions": [{"Name": "EndpointName", "Value": "e"}, {"Name": "VariantName", "Value": "AllTraffic"}],
        "Statistic": "Sum", "Period": 10, "EvaluationPeriods": 1, "Threshold": 10.0,
        "ComparisonOperator": "GreaterThanThreshold", "AlarmActions": [arn]})
    world.load(0, 10, 3.0)  # Sum 30: a breach of 20, the first step's
    world.at(10.5)
    assert world.desired() == (2, EndpointStatus.UPDATING)
    assert world.activities()[0].cause == "monitor alarm busy in state ALARM triggered policy steps"


def test_scheduled_action_raises_the_minimum_and_the_capacity_follows(world: World) -> None:
    aas.put_scheduled_action(world.ctx, KEY | {"ScheduledActionName": "morning", "Schedule": "cron(1 12 * * ? *)",
                                               "ScalableTargetAction": {"MinCapacity": 2}})
    world.at(30)
    assert world.activities() == []
    world.at(61)
    bounds, scheduled = world.activities()
    assert (scheduled.description, scheduled.cause, scheduled.status_code) == (
        "Setting min capacity to 2 and max capacity to 3", "scheduled action name morning was triggered",
        "Successful")
    assert (bounds.description, bounds.cause) == ("Setting desired instance count to 2.",
                                                  "minimum capacity was set to 2")
    target = world.metadata.autoscaling.targets("sagemaker")[0]
    assert (target.min_capacity, target.max_capacity) == (2, 3)
    assert world.desired() == (2, EndpointStatus.UPDATING)
    world.at(90)  # the same minute's occurrence runs once
    assert len(world.activities()) == 2


def test_a_failed_endpoint_fails_the_activity(world: World) -> None:
    world.put_policy(ScaleOutCooldown=0)
    world.load(0, 10, 20.0)
    world.at(10.5)
    world.metadata.endpoints.advance("e", EndpointStatus.FAILED, failure_reason="no capacity")
    world.at(11)
    [activity] = world.activities()
    assert (activity.status_code, activity.status_message) == (
        "Failed", "Failed to set desired instance count to 3. Reason: no capacity")


def test_a_shadow_variant_scales_on_its_own_invocations(world: World) -> None:
    """SageMaker recommends autoscaling a shadow variant: its target is scaled through the same path, alone."""
    SAGEMAKER["CreateEndpointConfig"](world.ctx, {"EndpointConfigName": "shadowed", "ProductionVariants": [
        {"VariantName": "live", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
        "ShadowProductionVariants": [
            {"VariantName": "shadow", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}]})
    SAGEMAKER["CreateEndpoint"](world.ctx, {"EndpointName": "s", "EndpointConfigName": "shadowed"})
    world.metadata.endpoints.advance("s", EndpointStatus.IN_SERVICE, variants=[
        VariantState(name, 1.0, 1, current_weight=1.0, current_instance_count=1) for name in ("live", "shadow")])
    key = KEY | {"ResourceId": "endpoint/s/variant/shadow"}
    aas.register_scalable_target(world.ctx, key | {"MinCapacity": 1, "MaxCapacity": 3})
    aas.put_scaling_policy(world.ctx, key | {
        "PolicyName": "p", "PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 60.0, "ScaleOutCooldown": 0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}})
    shadow = MetricKey.of("AWS/SageMaker", "InvocationsPerInstance", {"EndpointName": "s", "VariantName": "shadow"})
    for second in range(10):  # the router's copies, as the publisher records them
        world.metrics.record(shadow, 20.0, timestamp=T0.timestamp() + second + 0.5, storage_resolution=1)
    world.metrics.flush()
    world.at(10.5)
    endpoint = world.metadata.endpoints.get("s")
    assert endpoint is not None and endpoint.status == EndpointStatus.UPDATING
    assert [(v.name, v.desired_instance_count) for v in endpoint.variants] == [("live", 1), ("shadow", 3)]
    [activity] = world.activities()
    assert (activity.key.resource_id, activity.desired) == ("endpoint/s/variant/shadow", 3)
