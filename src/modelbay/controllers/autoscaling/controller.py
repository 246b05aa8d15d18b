"""The AutoscalingController: Application Auto Scaling's side of an endpoint variant's instance count.

`run_policy` is the runner of alarm actions that name a scaling policy (registered on the AlarmController's
AlarmActions): it computes the capacity the policy asks for (capacity.py), bounds it by the target's min and
max, respects the suspended state and the cooldowns, and sets the variant's DesiredInstanceCount through the
path UpdateEndpointWeightsAndCapacities takes (the EndpointController adds instances spread over zones, routes
to them once healthy, drains those it removes), recording a scaling activity in AWS's words. An endpoint not
InService (Updating) is left alone: as CloudWatch does for scaling actions, the action is run again every
period while its alarm stays in the state, here by the pass below, over the alarm's latest datapoints.

A pass (`reconcile(resource_id)`, every second) over each target: applies its scheduled actions when due, ends
the activities whose change the endpoint has fulfilled, brings a capacity outside min and max back within
them, and repeats the policies' actions as said. Cooldowns are counted from the last scale-out and scale-in the
store keeps; a scale-in also waits ScaleInCooldown after a scale-out, so new instances are not removed at once.
What the controller keeps in memory (when an action last ran) only spaces repetitions.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime
from typing import Any

from modelbay.controllers.alarms.actions import AlarmEvent
from modelbay.controllers.alarms.datapoints import datapoints
from modelbay.controllers.autoscaling import capacity
from modelbay.controllers.background import Wakeable
from modelbay.monitoring.metric_math import MathError
from modelbay.monitoring.metrics import MetricStore
from modelbay.schedules import due, parse, zone
from modelbay.statuses import EndpointStatus
from modelbay.store.metadata import Endpoint, EndpointNotFound, MetadataStore, StatusConflict, VariantState
from modelbay.store.metadata.alarms import Alarm, AlarmFilter
from modelbay.store.metadata.autoscaling import (
    DIMENSION,
    FAILED,
    IN_PROGRESS,
    NAMESPACE,
    OVERRIDDEN,
    SUCCESSFUL,
    ScalableTarget,
    ScalingPolicy,
    ScheduledAction,
    TargetKey,
)
from modelbay.store.metadata.records import Clock, utc_now

log = logging.getLogger(__name__)

DEFAULT_COOLDOWN_S = 300  # AWS's default for SageMaker variants, out and in
TARGET_TRACKING = "TargetTrackingScaling"


class AutoscalingController(Wakeable):
    """Scales endpoint variants as their scalable targets, policies and scheduled actions say. Thread-safe: the
    alarm runner and the pass may run at once, and one scaling decision is made at a time."""

    def __init__(self, metadata: MetadataStore, metrics: MetricStore, clock: Clock = utc_now) -> None:
        super().__init__(metadata.autoscaling.table)
        self.metadata, self.metrics, self.clock = metadata, metrics, clock
        self._lock = threading.RLock()
        self._ran: dict[tuple[str, str], datetime] = {}  # (alarm name, policy ARN) → when the action last ran

    def run_policy(self, event: AlarmEvent) -> None:
        """Run the policy an alarm's action names, over the values the alarm's state was decided on."""
        policy = self.metadata.autoscaling.policy_by_arn(event.action)
        if policy is None:
            raise LookupError(f"No scaling policy has the ARN {event.action}")
        self._run(policy, event.alarm, event.recent_values)

    def names(self) -> list[str]:
        return [target.key.resource_id for target in self.metadata.autoscaling.targets(NAMESPACE, dimension=DIMENSION)]

    def reconcile(self, resource_id: str) -> None:
        key = TargetKey(NAMESPACE, resource_id, DIMENSION)
        with self._lock:
            target = self.metadata.autoscaling.target(key)
            if target is None:
                return
            target = self._run_scheduled(target)
            endpoint, variant = self._variant(key)
            if endpoint is None or variant is None:
                return
            self._end_activities(key, endpoint, variant)
            if self._settled(endpoint):
                self._keep_bounds(target, endpoint.name, variant)
            self._repeat_actions(key)

    # -- policies --------------------------------------------------------------------------------------------

    def _run(self, policy: ScalingPolicy, alarm: Alarm, values: list[float]) -> None:
        with self._lock:
            self._ran[(alarm.name, policy.arn)] = self.clock()
            target = self.metadata.autoscaling.target(policy.key)
            endpoint, variant = self._variant(policy.key)
            if not values or target is None or endpoint is None or variant is None or not self._settled(endpoint):
                return  # an endpoint Updating is scaled when the action runs again
            current = variant.desired_instance_count
            wanted = _wanted(policy, alarm, values, current)
            if wanted is None:
                return
            new = capacity.bounded(wanted, target.min_capacity, target.max_capacity)
            if new == current or self._held(policy, target, new > current):
                return
            cause = f"monitor alarm {alarm.name} in state {alarm.state.value} triggered policy {policy.name}"
            if self._scale(target.key, endpoint.name, variant.name, new, cause):
                self.metadata.autoscaling.scaled(target.key, scale_out=new > current)

    def _held(self, policy: ScalingPolicy, target: ScalableTarget, scale_out: bool) -> bool:
        """Whether the target's suspended state or a cooldown holds the scaling back."""
        configuration = policy.configuration
        if policy.policy_type == TARGET_TRACKING:
            out_s = configuration.get("ScaleOutCooldown", DEFAULT_COOLDOWN_S)
            in_s = configuration.get("ScaleInCooldown", DEFAULT_COOLDOWN_S)
        else:
            out_s = in_s = configuration.get("Cooldown", DEFAULT_COOLDOWN_S)
        now = self.clock()
        if scale_out:
            return target.suspended["DynamicScalingOutSuspended"] or capacity.cooling(now, target.last_scale_out, out_s)
        return (target.suspended["DynamicScalingInSuspended"] or capacity.cooling(now, target.last_scale_out, in_s)
                or capacity.cooling(now, target.last_scale_in, in_s))

    def _repeat_actions(self, key: TargetKey) -> None:
        """Run again, once a period, the policies whose alarms stay in the state whose actions name them."""
        now = self.clock()
        for policy in self.metadata.autoscaling.policies(NAMESPACE, key.resource_id, DIMENSION):
            for alarm in self._alarms(policy):
                last = self._ran.get((alarm.name, policy.arn))
                if (not alarm.actions_enabled or alarm.actions_due  # the AlarmController runs those first
                        or policy.arn not in alarm.spec.actions[alarm.state.value]
                        or last is not None and (now - last).total_seconds() < alarm.spec.period):
                    continue
                self._run(policy, alarm, self._latest_values(alarm, now))

    def _alarms(self, policy: ScalingPolicy) -> list[Alarm]:
        if policy.policy_type == TARGET_TRACKING:
            found = (self.metadata.alarms.get(alarm["AlarmName"]) for alarm in policy.alarms)
            return [alarm for alarm in found if alarm is not None]
        return self.metadata.alarms.page(AlarmFilter(action_prefix=policy.arn), limit=100).items

    def _latest_values(self, alarm: Alarm, now: datetime) -> list[float]:
        """The alarm's values over its evaluation periods ended by `now`, oldest first."""
        spec = alarm.spec
        self.metrics.flush()
        try:
            points = datapoints(self.metrics, spec, int(now.timestamp()) // spec.period * spec.period)
        except MathError:
            return []
        return [point.value for point in reversed(points[:spec.evaluation_periods]) if point.value is not None]

    # -- scheduled actions, bounds, activities ---------------------------------------------------------------

    def _run_scheduled(self, target: ScalableTarget) -> ScalableTarget:
        """Apply the scheduled actions due (unless scheduled scaling is suspended); answer the target as it is."""
        if target.suspended["ScheduledScalingSuspended"]:
            return target
        now = self.clock()
        for action in self.metadata.autoscaling.scheduled_actions(NAMESPACE, target.key.resource_id, DIMENSION):
            occurrence = _occurrence(action, now)
            if occurrence is not None:
                target = self._apply(target, action)
                self.metadata.autoscaling.ran(target.key, action.name, occurrence)
        return target

    def _apply(self, target: ScalableTarget, action: ScheduledAction) -> ScalableTarget:
        wanted: dict[str, int] = action.request["ScalableTargetAction"]
        low = wanted.get("MinCapacity", target.min_capacity)
        high = wanted.get("MaxCapacity", max(target.max_capacity, low))
        low = min(low, high)
        updated, _ = self.metadata.autoscaling.register(target.key, target.arn, low, high, target.role_arn, None)
        self.metadata.autoscaling.add_activity(
            str(uuid.uuid4()), target.key, f"Setting min capacity to {low} and max capacity to {high}",
            f"scheduled action name {action.name} was triggered", SUCCESSFUL,
            f"Successfully set min capacity to {low} and max capacity to {high}")
        return updated

    def _keep_bounds(self, target: ScalableTarget, endpoint: str, variant: VariantState) -> None:
        current = variant.desired_instance_count
        new = capacity.bounded(current, target.min_capacity, target.max_capacity)
        if new != current:
            cause = (f"minimum capacity was set to {target.min_capacity}" if new > current
                     else f"maximum capacity was set to {target.max_capacity}")
            self._scale(target.key, endpoint, variant.name, new, cause)

    def _end_activities(self, key: TargetKey, endpoint: Endpoint, variant: VariantState) -> None:
        """End the activities in progress once the endpoint has carried out their change (or failed it)."""
        for activity in self.metadata.autoscaling.activities(NAMESPACE, key.resource_id, DIMENSION, in_progress=True):
            if endpoint.status == EndpointStatus.FAILED:
                self.metadata.autoscaling.end_activity(
                    activity.activity_id, FAILED, f"Failed to set desired instance count to {activity.desired}. "
                                                  f"Reason: {endpoint.failure_reason}")
            elif self._settled(endpoint) and variant.current_instance_count == activity.desired:
                self.metadata.autoscaling.end_activity(
                    activity.activity_id, SUCCESSFUL,
                    f"Successfully set desired instance count to {activity.desired}. Change successfully fulfilled "
                    "by sagemaker.")
            elif self._settled(endpoint):
                self.metadata.autoscaling.end_activity(
                    activity.activity_id, OVERRIDDEN, f"The desired instance count was set to "
                                                      f"{variant.desired_instance_count} since.")

    def _scale(self, key: TargetKey, endpoint: str, variant: str, new: int, cause: str) -> bool:
        """Set the variant's desired instance count and record the activity; False if the endpoint refused it."""
        try:
            self.metadata.endpoints.request_weights(endpoint, {variant: (None, new)})
        except (EndpointNotFound, StatusConflict):
            return False
        log.info("autoscaling %s to %d instances: %s", key.resource_id, new, cause)
        self.metadata.autoscaling.add_activity(str(uuid.uuid4()), key, f"Setting desired instance count to {new}.",
                                               cause, IN_PROGRESS, "Waiting for change to be fulfilled by sagemaker.",
                                               desired=new)
        return True

    def _variant(self, key: TargetKey) -> tuple[Endpoint | None, VariantState | None]:
        _, endpoint_name, _, variant_name = key.resource_id.split("/")
        endpoint = self.metadata.endpoints.get(endpoint_name)
        if endpoint is None:
            return None, None
        return endpoint, next((variant for variant in endpoint.variants if variant.name == variant_name), None)

    @staticmethod
    def _settled(endpoint: Endpoint) -> bool:
        return endpoint.status == EndpointStatus.IN_SERVICE and not endpoint.update_requested


def _wanted(policy: ScalingPolicy, alarm: Alarm, values: list[float], current: int) -> int | None:
    """The capacity the policy asks for; target tracking scales only in its alarm's direction (AlarmHigh out,
    AlarmLow in, unless DisableScaleIn)."""
    configuration: dict[str, Any] = policy.configuration
    if policy.policy_type != TARGET_TRACKING:
        return capacity.step(configuration, values, alarm.spec.threshold, current)
    wanted = capacity.target_tracking(current, values[-1], configuration["TargetValue"])
    scaling_out = alarm.spec.comparison.startswith("Greater")
    if wanted == current or (wanted > current) != scaling_out or not scaling_out and configuration.get(
            "DisableScaleIn"):
        return None
    return wanted


def _occurrence(action: ScheduledAction, now: datetime) -> datetime | None:
    """The action's occurrence due now, if any (none before its StartTime or after its EndTime)."""
    request = action.request
    try:
        schedule, tz = parse(request["Schedule"]), zone(request.get("Timezone"))
    except ValueError:  # checked when it was put; kept from failing the pass all the same
        log.warning("scheduled action %s has a schedule that cannot be read", action.name)
        return None
    start = datetime.fromisoformat(request["StartTime"]) if "StartTime" in request else action.creation_time
    if "EndTime" in request and now > datetime.fromisoformat(request["EndTime"]):
        return None
    return due(schedule, tz, start, action.last_run, now)
