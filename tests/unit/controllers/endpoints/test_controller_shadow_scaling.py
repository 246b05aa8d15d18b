"""A shadow variant's instance count follows UpdateEndpointWeightsAndCapacities (the path autoscaling sets it
through), out and in, as a production variant's does, with the real ProcessRuntime."""

from __future__ import annotations

from modelbay.controllers.endpoints.controller import EndpointController
from modelbay.platform import Platform
from tests.helpers import wait_until
from tests.unit.controllers.endpoints.conftest import serving, settle
from tests.unit.controllers.endpoints.test_controller_shadow import create_shadowed


def test_a_shadow_variant_scales_out_and_in(controller: EndpointController, platform: Platform, image: str) -> None:
    create_shadowed(platform, "c", image, shadow_weight=1.0)
    assert settle(controller, "c").status == "InService"
    platform.metadata.endpoints.request_weights("c", {"shadow": (None, 2)})
    endpoint = settle(controller, "c")
    assert endpoint.status == "InService", endpoint.failure_reason
    assert [(v.name, v.current_instance_count) for v in endpoint.variants] == [("live", 1), ("shadow", 2)]
    assert len(serving(controller, "c", "shadow")) == 2 and len(serving(controller, "c", "live")) == 1

    platform.metadata.endpoints.request_weights("c", {"shadow": (None, 1)})
    endpoint = settle(controller, "c")
    assert [(v.name, v.current_instance_count) for v in endpoint.variants] == [("live", 1), ("shadow", 1)]

    def drained() -> bool:
        controller.reconcile("c")
        return len(serving(controller, "c", "shadow")) == 1
    wait_until(drained, 30, "the shadow's second instance to stop")
