"""The endpoint controller's serverless variants, with the real ProcessRuntime: none while idle, one started by the
first invocation (which waits for it), stopped after the idle timeout, and one kept with provisioned concurrency."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from pathlib import Path

import pytest

from modelbay.config import Settings
from modelbay.controllers.endpoints.controller import EndpointController
from modelbay.controllers.images import Images
from modelbay.platform import Platform, open_platform
from modelbay.runtime.process import ProcessRuntime
from modelbay.store.metadata.endpoints import EndpointSpec, VariantState
from tests.helpers import serve_image, wait_until
from tests.unit.controllers.endpoints.conftest import SERVE, model, serving, settle

IDLE_S = 0.5


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    return open_platform(Settings(data_dir=tmp_path / "data", serverless_idle_s=IDLE_S))


@pytest.fixture
def image(tmp_path: Path) -> str:
    return serve_image(tmp_path / "image", SERVE)


@pytest.fixture
def setups() -> list[tuple[str, str, float]]:
    """The ModelSetupTimes the controller told."""
    return []


@pytest.fixture
def controller(platform: Platform, runtime: ProcessRuntime, images: Images,
               setups: list[tuple[str, str, float]]) -> EndpointController:
    return EndpointController(platform, runtime, images, check_every_s=0.2, drain_timeout_s=5, stop_grace_s=1,
                              on_model_setup=lambda *setup: setups.append(setup))


def after_a_pass(controller: EndpointController, name: str, check: Callable[[], object]) -> Callable[[], object]:
    """`check`, run after a reconcile pass over `name` (for wait_until)."""
    def checked() -> object:
        controller.reconcile(name)
        return check()
    return checked


def create_serverless(platform: Platform, name: str, image: str, **config: int) -> None:
    variant = {"VariantName": "s", "ModelName": "m1", "InitialVariantWeight": 1.0,
               "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 2, **config}}
    spec = EndpointSpec({"ProductionVariants": [variant]}, {"m1": model(image, "m1")})
    platform.metadata.endpoints.create(name, f"arn:{name}", "config", [VariantState("s", 1.0, 0)], spec)


def test_a_serverless_variant_starts_on_demand_and_scales_back_to_zero(
        controller: EndpointController, platform: Platform, image: str, setups: list[tuple[str, str, float]]) -> None:
    create_serverless(platform, "e", image)
    assert settle(controller, "e").status == "InService"  # at once: nothing runs until it is invoked
    assert serving(controller, "e", "s") == []
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # the invocation waits on a loop of its own
        answer = pool.submit(asyncio.run, platform.router.invoke("e", b"1", "text/csv", None, None, None, None))
        wait_until(after_a_pass(controller, "e", answer.done), 30, "the cold start to answer")
        assert answer.result().body.startswith(b"m1 ")
    [instance] = serving(controller, "e", "s")
    assert instance.instance_type == "ml.serverless.1024mb"  # the memory size is the instance's limit
    [(name, variant, seconds)] = setups  # ModelSetupTime
    assert (name, variant) == ("e", "s") and 0 < seconds < 30
    wait_until(after_a_pass(controller, "e", lambda: not serving(controller, "e", "s")), 30, "scaling to zero")
    endpoint = controller.endpoints.get("e")
    assert endpoint is not None and endpoint.variants[0].gb_seconds > 0  # 1 GB × the time the invocation took


def test_provisioned_concurrency_starts_with_the_endpoint_and_stays(
        controller: EndpointController, platform: Platform, image: str) -> None:
    create_serverless(platform, "p", image, ProvisionedConcurrency=1)
    assert settle(controller, "p").status == "InService"
    [instance] = serving(controller, "p", "s")
    assert platform.router.demand("p", "s").idle_s > IDLE_S  # never invoked: without it, it would have none
    controller.reconcile("p")
    assert serving(controller, "p", "s") == [instance]
