"""The endpoint controller's shadow variants, with the real ProcessRuntime: a fleet of their own, brought up, recorded
and healed like production's, published to the router as shadows (answering nobody, copied their share, metered)."""

from __future__ import annotations

import asyncio

from modelbay.controllers.endpoints.controller import EndpointController
from modelbay.platform import Platform
from modelbay.store.metadata.endpoints import EndpointSpec, VariantState
from tests.helpers import wait_until
from tests.unit.controllers.endpoints.conftest import LOOP, invoke, model, serving, settle


def create_shadowed(platform: Platform, name: str, image: str, shadow_weight: float) -> None:
    """An endpoint with production variant "live" (model m1) and shadow variant "shadow" (model m2), one instance
    each."""
    def variant(variant_name: str, model_name: str, weight: float) -> dict[str, object]:
        return {"VariantName": variant_name, "ModelName": model_name, "InstanceType": "ml.t3.medium",
                "InitialInstanceCount": 1, "InitialVariantWeight": weight}
    spec = EndpointSpec({"ProductionVariants": [variant("live", "m1", 1.0)],
                         "ShadowProductionVariants": [variant("shadow", "m2", shadow_weight)]},
                        {"m1": model(image, "m1"), "m2": model(image, "m2")})
    platform.metadata.endpoints.create(name, f"arn:{name}", "config", [
        VariantState("live", 1.0, 1), VariantState("shadow", shadow_weight, 1)], spec)


def shadow_invocations(platform: Platform, endpoint: str) -> int:
    return sum(totals.invocations for name, variant, totals in platform.publisher.variant_totals()
               if (name, variant) == (endpoint, "shadow"))


def test_a_shadow_runs_its_own_fleet_answers_nobody_and_is_metered(controller: EndpointController,
                                                                   platform: Platform, image: str) -> None:
    create_shadowed(platform, "e", image, shadow_weight=1.0)
    endpoint = settle(controller, "e")
    assert endpoint.status == "InService", endpoint.failure_reason
    assert [(v.name, v.current_instance_count, v.current_weight) for v in endpoint.variants] == [
        ("live", 1, 1.0), ("shadow", 1, 1.0)]
    assert len(serving(controller, "e", "shadow")) == 1
    for _ in range(20):  # one at a time: each copy ends before the next invocation, so none meets the bound
        assert invoke(platform, "e").split()[0] == "m1"
        run_copies()
    assert shadow_invocations(platform, "e") == 20

    platform.metadata.endpoints.request_weights("e", {"shadow": (0.0, None)})  # UpdateEndpointWeightsAndCapacities
    assert settle(controller, "e").variants[1].current_weight == 0.0
    for _ in range(20):
        invoke(platform, "e")
    assert not asyncio.all_tasks(LOOP)  # weight 0: no copy was started
    assert shadow_invocations(platform, "e") == 20


def test_a_dead_shadow_instance_is_replaced(controller: EndpointController, platform: Platform, image: str) -> None:
    create_shadowed(platform, "h", image, shadow_weight=1.0)
    assert settle(controller, "h").status == "InService"
    dead, = serving(controller, "h", "shadow")
    controller.runtime.stop(dead.id, 0)

    def replaced() -> bool:
        controller.reconcile("h")
        return [i.id for i in serving(controller, "h", "shadow")] not in ([], [dead.id])
    wait_until(replaced, 30, "the shadow's instance to be replaced")
    endpoint = controller.endpoints.get("h")
    assert endpoint is not None and endpoint.status == "InService"


def run_copies() -> None:
    """Run LOOP until the copies the router started on it (its only tasks between invocations) have ended."""
    copies = asyncio.all_tasks(LOOP)
    assert copies
    done, _ = LOOP.run_until_complete(asyncio.wait(copies, timeout=10))
    assert done == copies
