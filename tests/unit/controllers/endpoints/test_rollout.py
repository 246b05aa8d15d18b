"""The rollout's steps: every policy's shares and batches against a fake clock, and its rollbacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelbay.controllers.endpoints.rollout import Done, Plan, advance, plan, rolling_counts, share
from modelbay.store.metadata.endpoints import Rollout, RolloutPhase

T0 = datetime(2026, 12, 5, 12, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def begun() -> Rollout:
    return Rollout(RolloutPhase.PROVISIONING, 0, T0, T0)


def blue_green(kind: str, wait: int = 10, termination: int = 0, timeout: int | None = None,
               **sizes: Any) -> dict[str, Any]:
    policy: dict[str, Any] = {"TrafficRoutingConfiguration": {"Type": kind, "WaitIntervalInSeconds": wait, **sizes},
                              "TerminationWaitInSeconds": termination}
    if timeout is not None:
        policy["MaximumExecutionTimeoutInSeconds"] = timeout
    return {"BlueGreenUpdatePolicy": policy, "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "latency"}]}}


def run(p: Plan, until_s: float, alarm_at: float | None = None) -> tuple[list[tuple[float, float]], Rollout | Done]:
    """Step the rollout every second (the green fleet ready from the start, and never gone once rolling back); the
    (time, share) of each change."""
    state: Rollout | Done = begun()
    shares: list[tuple[float, float]] = []
    for second in range(int(until_s) + 1):
        assert isinstance(state, Rollout)
        alarm = "latency" if alarm_at is not None and second >= alarm_at else None
        state = advance(state, p, at(second), ready=state.phase is not RolloutPhase.ROLLING_BACK, alarm=alarm)
        if isinstance(state, Done):
            return shares, state
        if not shares or shares[-1][1] != share(state, p):
            shares.append((second, share(state, p)))
    return shares, state


def test_no_deployment_config_is_all_at_once_without_waiting() -> None:
    p = plan(None, 2)
    assert (p.rolling, p.steps, p.wait_s, p.alarms) == (False, (1.0,), 0, ())
    shares, state = run(p, 5)
    assert shares == [(0, 1.0)] and state == Done(deployed=True)


def test_all_at_once_bakes_then_waits_the_termination_time() -> None:
    p = plan(blue_green("ALL_AT_ONCE", wait=10, termination=5), 2)
    state = advance(begun(), p, at(1), ready=True)
    assert isinstance(state, Rollout) and (state.phase, state.step, share(state, p)) == (RolloutPhase.BAKING, 1, 1.0)
    assert advance(state, p, at(10), ready=True) == state  # still baking
    terminating = advance(state, p, at(11), ready=True)
    assert isinstance(terminating, Rollout) and terminating.phase is RolloutPhase.TERMINATING
    assert advance(terminating, p, at(15), ready=True) == terminating
    assert advance(terminating, p, at(16), ready=True) == Done(deployed=True)


def test_nothing_moves_until_the_green_fleet_is_ready() -> None:
    p = plan(blue_green("CANARY", CanarySize={"Type": "CAPACITY_PERCENT", "Value": 10}), 4)
    assert advance(begun(), p, at(100), ready=False) == begun()


@pytest.mark.parametrize(("size", "instances", "canary"), [
    ({"Type": "CAPACITY_PERCENT", "Value": 20}, 5, 0.2), ({"Type": "INSTANCE_COUNT", "Value": 1}, 4, 0.25)])
def test_canary_takes_its_share_bakes_then_the_rest(size: dict[str, Any], instances: int, canary: float) -> None:
    shares, state = run(plan(blue_green("CANARY", wait=10, CanarySize=size), instances), 60)
    assert shares == [(0, canary), (10, 1.0)]
    assert state == Done(deployed=True)


def test_linear_moves_a_step_per_bake() -> None:
    p = plan(blue_green("LINEAR", wait=5, LinearStepSize={"Type": "CAPACITY_PERCENT", "Value": 30}), 10)
    assert p.steps == pytest.approx((0.3, 0.6, 0.9, 1.0))
    shares, state = run(p, 60)
    assert [second for second, _ in shares] == [0, 5, 10, 15]
    assert [s for _, s in shares] == pytest.approx([0.3, 0.6, 0.9, 1.0])
    assert state == Done(deployed=True)


def test_linear_by_instance_count_divides_the_fleet() -> None:
    assert plan(blue_green("LINEAR", LinearStepSize={"Type": "INSTANCE_COUNT", "Value": 1}), 3).steps == \
        pytest.approx((1 / 3, 2 / 3, 1.0))


def test_an_alarm_while_baking_rolls_back_saying_which_and_where() -> None:
    p = plan(blue_green("LINEAR", wait=5, LinearStepSize={"Type": "CAPACITY_PERCENT", "Value": 25}), 4)
    shares, state = run(p, 60, alarm_at=7)
    assert shares == [(0, 0.25), (5, 0.5), (7, 0.0)]  # the second step was baking: all traffic back at once
    assert isinstance(state, Rollout) and state.phase is RolloutPhase.ROLLING_BACK
    assert state.reason is not None and "latency" in state.reason and "traffic shifting step 2 of 4" in state.reason


def test_an_alarm_before_any_traffic_moved_is_not_watched() -> None:
    p = plan(blue_green("ALL_AT_ONCE"), 1)
    assert advance(begun(), p, at(1), ready=False, alarm="latency") == begun()


def test_a_rollback_ends_once_the_green_fleet_is_gone() -> None:
    p = plan(blue_green("ALL_AT_ONCE"), 1)
    back = Rollout(RolloutPhase.ROLLING_BACK, 1, T0, T0, reason="why")
    assert advance(back, p, at(1), ready=False) == back
    assert advance(back, p, at(2), ready=True) == Done(deployed=False, reason="why")


def test_the_deployment_past_its_timeout_rolls_back() -> None:
    p = plan(blue_green("LINEAR", wait=300, timeout=700, LinearStepSize={"Type": "CAPACITY_PERCENT", "Value": 10}), 10)
    shares, state = run(p, 800)
    assert shares[-1] == (701, 0.0)
    assert isinstance(state, Rollout) and state.reason is not None and "700 seconds" in state.reason


def test_a_failure_before_traffic_ends_the_update_and_after_it_rolls_back() -> None:
    p = plan(blue_green("ALL_AT_ONCE", wait=60), 1)
    assert advance(begun(), p, at(1), ready=False, failure="it crashed") == Done(deployed=False, reason="it crashed")
    baking = advance(begun(), p, at(1), ready=True)
    assert isinstance(baking, Rollout)
    failed = advance(baking, p, at(2), ready=False, failure="it crashed")
    assert isinstance(failed, Rollout) and (failed.phase, failed.reason) == (RolloutPhase.ROLLING_BACK, "it crashed")


def rolling(batch: dict[str, Any], back: dict[str, Any] | None = None, wait: int = 5) -> dict[str, Any]:
    policy: dict[str, Any] = {"MaximumBatchSize": batch, "WaitIntervalInSeconds": wait}
    if back is not None:
        policy["RollbackMaximumBatchSize"] = back
    return {"RollingUpdatePolicy": policy}


def test_a_rolling_update_replaces_a_batch_at_a_time() -> None:
    p = plan(rolling({"Type": "INSTANCE_COUNT", "Value": 2}), 5)
    state: Rollout | Done = begun()
    seen = []
    for second in range(60):
        assert isinstance(state, Rollout)
        seen.append((state.phase, rolling_counts(state, p)))
        state = advance(state, p, at(second), ready=True)
        if isinstance(state, Done):
            break
    assert state == Done(deployed=True)
    changes = [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]]
    assert changes == [  # (new instances run, first old instance still serving)
        (RolloutPhase.PROVISIONING, (2, 0)), (RolloutPhase.BAKING, (2, 2)),
        (RolloutPhase.PROVISIONING, (4, 2)), (RolloutPhase.BAKING, (4, 4)),
        (RolloutPhase.PROVISIONING, (5, 4)), (RolloutPhase.BAKING, (5, 5)), (RolloutPhase.TERMINATING, (5, 5))]


def test_a_rolling_rollback_brings_old_instances_back_a_batch_at_a_time() -> None:
    p = plan(rolling({"Type": "CAPACITY_PERCENT", "Value": 50}, back={"Type": "INSTANCE_COUNT", "Value": 1}), 4)
    baking = Rollout(RolloutPhase.BAKING, 2, T0, T0)  # 4 new instances serve
    state = advance(baking, p, at(1), ready=True, alarm="latency")
    counts = []
    while isinstance(state, Rollout):
        counts.append(rolling_counts(state, p))
        state = advance(state, p, at(2), ready=True)
    assert counts == [(4, 3), (3, 2), (2, 1), (1, 0)]
    assert isinstance(state, Done) and not state.deployed and "batch 2 of 2" in (state.reason or "")


def test_a_rolling_rollback_is_all_at_once_by_default() -> None:
    p = plan(rolling({"Type": "INSTANCE_COUNT", "Value": 1}), 3)
    state = advance(Rollout(RolloutPhase.BAKING, 2, T0, T0), p, at(1), ready=True, alarm="latency")
    assert isinstance(state, Rollout) and rolling_counts(state, p) == (2, 0)
