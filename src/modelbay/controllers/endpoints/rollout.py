"""Deployment guardrails: an UpdateEndpoint's rollout, step by step. Pure: no I/O, no clock of its own.

The controller gives the DeploymentConfig, the fleet's size, the stored Rollout, the time, whether what the
phase waits for is there (`ready`) and the name of an alarm in ALARM, if any; it stores the Rollout that
comes back and acts on it (the share of traffic to publish, the instances to run).

- A DeploymentConfig becomes a Plan: the new (green) fleet's fraction of capacity after each step, the last
  1.0. Blue/green (`BlueGreenUpdatePolicy`, and no DeploymentConfig: ALL_AT_ONCE without waiting): ALL_AT_ONCE
  is one step; CANARY two, the canary then the rest; LINEAR the step size, twice it, ... A size is a
  CAPACITY_PERCENT, or an INSTANCE_COUNT of the green fleet's instances (every variant's together). The fraction
  is the share of invocations the router sends to the green fleet. Rolling (`RollingUpdatePolicy`): the
  batch, twice it, ... of the variant's instances, as counts of new instances in its rotation (as many old
  ones leave).
- Phases: PROVISIONING (step 0: the whole green fleet for blue/green, the first batch for rolling; step k≥1
  of a rolling update: batch k+1) → once `ready`, BAKING step k+1: that step's fraction serves and the alarms
  are watched for WaitIntervalInSeconds → the next step (blue/green: BAKING at once; rolling: PROVISIONING the
  next batch), or after the last, TERMINATING: TerminationWaitInSeconds, then `done` (the old fleet drains
  and stops, the update is DEPLOYED).
- Rolling back: a new instance that fails (`failure`), an alarm in ALARM from the first step's traffic to the
  end of the last bake, or the deployment outlasting MaximumExecutionTimeoutInSeconds moves to ROLLING_BACK with
  the reason; a blue/green fleet that fails before it takes any traffic simply ends (Done, not deployed). Blue/green:
  all traffic returns to the old fleet at once and the green one drains; `ready` is "the green fleet is
  gone". Rolling: old instances come back RollbackMaximumBatchSize at a time (all at once by default), as
  many new ones leaving per batch; `rollback_step` counts the batches back, each done when `ready`. Then
  `done` (ROLLED_BACK, the endpoint on its old config).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from modelbay.store.metadata.endpoints import Rollout, RolloutPhase

_P = RolloutPhase
_ROLLED_BACK = "the deployment was rolled back to the previous endpoint configuration."


@dataclass(frozen=True)
class Plan:
    """A DeploymentConfig made concrete for a fleet of `instances`."""

    rolling: bool
    steps: tuple[float, ...]  # the green fleet's fraction of capacity after each step; the last is 1.0
    instances: int  # blue/green: the green fleet's, every variant's together; rolling: the variant's
    wait_s: float  # WaitIntervalInSeconds: each step's bake
    termination_wait_s: float  # TerminationWaitInSeconds (blue/green)
    timeout_s: float | None  # MaximumExecutionTimeoutInSeconds
    rollback_batch: int  # rolling: old instances brought back per rollback batch
    alarms: tuple[str, ...]  # AutoRollbackConfiguration's alarm names

    def new_instances(self, step: int) -> int:
        """Rolling: the new instances in the variant's rotation after `step` steps."""
        return 0 if step == 0 else round(self.steps[step - 1] * self.instances)


@dataclass(frozen=True)
class Done:
    """The rollout has ended: deployed, or rolled back for `reason`."""

    deployed: bool
    reason: str | None = None


def plan(config: dict[str, Any] | None, instances: int) -> Plan:
    """The plan of a DeploymentConfig (None: blue/green, all at once) for a fleet of `instances` (≥ 1)."""
    config = config or {}
    alarms = tuple(a["AlarmName"] for a in config.get("AutoRollbackConfiguration", {}).get("Alarms", ()))
    rolling = config.get("RollingUpdatePolicy")
    if rolling is not None:
        batch = batch_size(rolling["MaximumBatchSize"], instances)
        back = rolling.get("RollbackMaximumBatchSize")
        return Plan(True, _steps(batch / instances), instances, rolling["WaitIntervalInSeconds"], 0,
                    rolling.get("MaximumExecutionTimeoutInSeconds"),
                    instances if back is None else batch_size(back, instances), alarms)
    policy = config.get("BlueGreenUpdatePolicy", {})
    routing = policy.get("TrafficRoutingConfiguration", {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0})
    steps: tuple[float, ...] = (1.0,)
    if routing["Type"] == "CANARY":
        steps = (fraction(routing["CanarySize"], instances), 1.0)
    elif routing["Type"] == "LINEAR":
        steps = _steps(fraction(routing["LinearStepSize"], instances))
    return Plan(False, steps, instances, routing["WaitIntervalInSeconds"], policy.get("TerminationWaitInSeconds", 0),
                policy.get("MaximumExecutionTimeoutInSeconds"), instances, alarms)


def fraction(size: dict[str, Any], instances: int) -> float:
    """A CapacitySize as a fraction of a fleet of `instances`, at most 1."""
    value: float = size["Value"] / 100 if size["Type"] == "CAPACITY_PERCENT" else size["Value"] / instances
    return min(1.0, value)


def batch_size(size: dict[str, Any], instances: int) -> int:
    """A CapacitySize as a number of a variant's `instances`: at least one, at most all."""
    count: int = size["Value"] if size["Type"] == "INSTANCE_COUNT" else math.floor(size["Value"] * instances / 100)
    return max(1, min(instances, count))


def _steps(each: float) -> tuple[float, ...]:
    """each, 2 × each, ... up to 1.0 (a last step smaller than `each` if it does not divide 1)."""
    count = math.ceil(round(1 / each, 9))
    return tuple(min(1.0, each * (i + 1)) for i in range(count - 1)) + (1.0,)


def share(rollout: Rollout, p: Plan) -> float:
    """Blue/green: the share of invocations the green fleet takes now."""
    if rollout.phase is _P.ROLLING_BACK or rollout.step == 0:
        return 0.0
    return p.steps[rollout.step - 1]


def rolling_counts(rollout: Rollout, p: Plan) -> tuple[int, int]:
    """Rolling: (new instances the variant runs, the index of its first old instance still serving)."""
    if rollout.phase is _P.ROLLING_BACK:
        served = p.new_instances(rollout.step)
        back = rollout.rollback_step
        return max(0, served - back * p.rollback_batch), max(0, served - (back + 1) * p.rollback_batch)
    if rollout.phase is _P.PROVISIONING:
        return p.new_instances(rollout.step + 1), p.new_instances(rollout.step)
    return p.new_instances(rollout.step), p.new_instances(rollout.step)


def watches_alarms(rollout: Rollout) -> bool:
    """Whether an alarm in ALARM rolls back now: from the first step's traffic to the end of the last bake."""
    return rollout.step >= 1 and rollout.phase in (_P.PROVISIONING, _P.BAKING)


def advance(rollout: Rollout, p: Plan, now: datetime, *, ready: bool, alarm: str | None = None,
            failure: str | None = None) -> Rollout | Done:
    """The rollout after this pass: the next phase, the same one, or Done."""
    if rollout.phase is _P.ROLLING_BACK:
        return _rolled_back(rollout, p, now, ready)
    if failure is not None:
        return Done(deployed=False, reason=failure) if not p.rolling and rollout.step == 0 else \
            _rollback(rollout, now, failure)
    if alarm is not None and watches_alarms(rollout):
        return _rollback(rollout, now, f"CloudWatch alarm {alarm} went into the ALARM state during "
                         f"{_where(rollout, p)}; {_ROLLED_BACK}")
    elapsed = (now - rollout.started).total_seconds()
    if p.timeout_s is not None and elapsed > p.timeout_s:
        return _rollback(rollout, now, f"The deployment did not finish within MaximumExecutionTimeoutInSeconds "
                         f"({p.timeout_s:.0f} seconds); {_ROLLED_BACK}")
    waited = (now - rollout.phase_started).total_seconds()
    if rollout.phase is _P.PROVISIONING:
        return _moved(rollout, _P.BAKING, rollout.step + 1, now) if ready else rollout
    if rollout.phase is _P.BAKING:
        if waited < p.wait_s:
            return rollout
        if rollout.step < len(p.steps):
            return _moved(rollout, _P.PROVISIONING, rollout.step, now) if p.rolling else \
                _moved(rollout, _P.BAKING, rollout.step + 1, now)
        return _moved(rollout, _P.TERMINATING, rollout.step, now)
    return Done(deployed=True) if waited >= p.termination_wait_s else rollout


def _where(rollout: Rollout, p: Plan) -> str:
    kind = "batch" if p.rolling else "traffic shifting step"
    return f"{kind} {rollout.step} of {len(p.steps)}"


def _moved(rollout: Rollout, phase: RolloutPhase, step: int, now: datetime) -> Rollout:
    return replace(rollout, phase=phase, step=step, phase_started=now)


def _rollback(rollout: Rollout, now: datetime, reason: str) -> Rollout:
    return replace(rollout, phase=_P.ROLLING_BACK, phase_started=now, reason=reason)


def _rolled_back(rollout: Rollout, p: Plan, now: datetime, ready: bool) -> Rollout | Done:
    """A rollback's next batch once `ready`; Done when no new instance serves any more."""
    if not ready:
        return rollout
    if not p.rolling or rolling_counts(rollout, p)[1] == 0:
        return Done(deployed=False, reason=rollout.reason)
    return replace(rollout, rollback_step=rollout.rollback_step + 1, phase_started=now)
