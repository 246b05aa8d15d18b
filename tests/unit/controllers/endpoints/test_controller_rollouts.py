"""The endpoint controller carrying out deployment guardrails, with the real ProcessRuntime: a canary's share of
traffic, its rollback when an alarm fires, and a rolling update batch by batch."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from modelbay.controllers.endpoints.controller import EndpointController
from modelbay.platform import Platform
from modelbay.serving.router import Router
from modelbay.store.metadata.endpoints import Endpoint, RolloutPhase
from tests.helpers import wait_until
from tests.unit.controllers.endpoints.conftest import create, invoke, model, settle, spec, states


def canary(percent: int, wait_s: int, alarm: str) -> dict[str, Any]:
    routing = {"Type": "CANARY", "WaitIntervalInSeconds": wait_s,
               "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": percent}}
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]}}


def reconcile_until_phase(controller: EndpointController, name: str, phase: RolloutPhase) -> Endpoint:
    def there() -> Endpoint | None:
        controller.reconcile(name)
        endpoint = controller.endpoints.get(name)
        return endpoint if endpoint is not None and endpoint.rollout is not None \
            and endpoint.rollout.phase is phase else None
    found: Endpoint = wait_until(there, 30, f"{name}'s rollout to reach {phase}")
    return found


def test_a_canary_takes_its_share_and_an_alarm_rolls_it_back(controller: EndpointController, platform: Platform,
                                                             image: str) -> None:
    platform.metadata.alarms.put("latency", "arn:alarm:latency", {"AlarmName": "latency"})
    create(platform, "c", spec({"a": (model(image, "old"), 1, 1.0)}))
    settle(controller, "c")
    new = spec({"b": (model(image, "new"), 1, 1.0)})
    platform.metadata.endpoints.request_update("c", "config2", states(new), new, canary(30, 3600, "latency"))
    baking = reconcile_until_phase(controller, "c", RolloutPhase.BAKING)
    assert baking.status == "Updating"
    status, = baking.pending_variants[0].status
    assert (status["Status"], status["StatusMessage"]) == (
        "Baking", "Step 1 of 2: 30% of traffic on the new fleet; baking for 3600 seconds, watching alarms latency")
    assert baking.pending_variants[0].current_weight == pytest.approx(0.3)
    answers = Counter(invoke(platform, "c").split()[0] for _ in range(300))
    assert 50 < answers["new"] < 130 and answers["old"] + answers["new"] == 300  # about 30 % on the canary

    # a restarted server (a new controller, a new router) carries on from the stored step
    platform = replace(platform, router=Router())
    restarted = EndpointController(platform, controller.runtime, controller.images, check_every_s=0.2,
                                   drain_timeout_s=5, stop_grace_s=1)
    wait_until(lambda: (restarted.reconcile("c"), "new" in {invoke(platform, "c").split()[0] for _ in range(30)})[1],
               15, "the restarted controller to publish the canary's share again")
    assert restarted.endpoints.get("c") == controller.endpoints.get("c")
    assert restarted.endpoints.get("c").rollout == baking.rollout  # type: ignore[union-attr]
    controller = restarted

    platform.metadata.alarms.set_state("latency", "ALARM", "too slow")
    controller.reconcile("c")
    rolling_back = controller.endpoints.get("c")
    assert rolling_back is not None and rolling_back.status == "RollingBack"
    assert {invoke(platform, "c").split()[0] for _ in range(30)} == {"old"}  # all traffic back at once
    done = settle(controller, "c", ("InService",))
    assert (done.config_name, done.rollout, done.pending_config_name) == ("config", None, None)
    assert done.failure_reason == ("CloudWatch alarm latency went into the ALARM state during traffic shifting step 1 "
                                   "of 2; the deployment was rolled back to the previous endpoint configuration.")
    wait_until(lambda: (controller.reconcile("c"),
                        not controller.runtime.list({"endpoint": "c", "variant": "b"}))[1], 15, "the canary to stop")


def test_a_rolling_update_replaces_the_variant_batch_by_batch(controller: EndpointController, platform: Platform,
                                                              image: str) -> None:
    create(platform, "r", spec({"a": (model(image, "old"), 2, 1.0)}))
    settle(controller, "r")
    new = spec({"a": (model(image, "new"), 2, 1.0)})
    policy = {"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
                                      "WaitIntervalInSeconds": 0}}
    platform.metadata.endpoints.request_update("r", "config2", states(new), new, policy)
    half = reconcile_until_phase(controller, "r", RolloutPhase.BAKING)
    assert half.rollout is not None and half.rollout.step == 1
    assert {invoke(platform, "r").split()[0] for _ in range(40)} == {"old", "new"}  # one route, both kinds
    done = settle(controller, "r", ("InService",))
    assert (done.config_name, done.failure_reason) == ("config2", None)
    assert {invoke(platform, "r").split()[0] for _ in range(20)} == {"new"}
