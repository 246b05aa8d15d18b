"""What the endpoint controller's tests share: a platform, a controller over the real ProcessRuntime, a tiny
model server as a bring-your-own image, and the calls that make endpoints and invoke them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from modelbay.config import Settings
from modelbay.controllers.endpoints.controller import EndpointController
from modelbay.controllers.endpoints.fleet import VARIANT
from modelbay.controllers.images import Images
from modelbay.platform import Platform, open_platform
from modelbay.runtime.process import ProcessRuntime
from modelbay.store.metadata.endpoints import Endpoint, EndpointSpec, VariantState
from tests.helpers import serve_image, serve_program
from tests.unit.controllers.hosting import FAIL_TO_LOAD_IF_ASKED, reconcile_until

# A model server as a bring-your-own image has it: answers /ping, and /invocations with who answered.
SERVE = serve_program(preamble=FAIL_TO_LOAD_IF_ASKED, on_get="""
    print("pinged", flush=True)
    self.answer(b"")
""", on_post="""
    if body == b"die":
        os.kill(os.getpid(), 9)
    self.answer((os.environ["MODEL_NAME"] + " " + os.environ["MODELBAY_ZONE"]).encode())
""")


LOOP = asyncio.new_event_loop()


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    return open_platform(Settings(data_dir=tmp_path / "data"))


@pytest.fixture
def controller(platform: Platform, runtime: ProcessRuntime, images: Images) -> EndpointController:
    return EndpointController(platform, runtime, images, check_every_s=0.2, drain_timeout_s=5, stop_grace_s=1)


@pytest.fixture
def image(tmp_path: Path) -> str:
    return serve_image(tmp_path / "image", SERVE)


def model(image: str, name: str, **env: str) -> dict[str, Any]:
    return {"ModelName": name, "PrimaryContainer": {"Image": image, "Environment": {"MODEL_NAME": name, **env}}}


def spec(variants: dict[str, tuple[dict[str, Any], int, float]], startup_s: int = 60) -> EndpointSpec:
    """An EndpointSpec of variants name → (model request, instance count, weight)."""
    production = [{"VariantName": name, "ModelName": m["ModelName"], "InstanceType": "ml.t3.medium",
                   "InitialInstanceCount": count, "InitialVariantWeight": weight,
                   "ContainerStartupHealthCheckTimeoutInSeconds": startup_s}
                  for name, (m, count, weight) in variants.items()]
    return EndpointSpec({"ProductionVariants": production}, {m["ModelName"]: m for m, _, _ in variants.values()})


def states(endpoint_spec: EndpointSpec) -> list[VariantState]:
    return [VariantState(v["VariantName"], v["InitialVariantWeight"], v["InitialInstanceCount"])
            for v in endpoint_spec.production_variants]


def create(platform: Platform, name: str, endpoint_spec: EndpointSpec) -> None:
    platform.metadata.endpoints.create(name, f"arn:{name}", "config", states(endpoint_spec), endpoint_spec)


def settle(controller: EndpointController, name: str, statuses: tuple[str, ...] = ("InService", "Failed")) -> Endpoint:
    return reconcile_until(controller.reconcile, controller.endpoints.get, name, statuses)


def invoke(platform: Platform, name: str, target_variant: str | None = None) -> str:
    """Through the router, on one event loop for the test (its pooled connections belong to it)."""
    call = platform.router.invoke(name, b"1,2", "text/csv", None, None, target_variant, None)
    answer = LOOP.run_until_complete(call)
    return bytes(answer.body).decode()


def serving(controller: EndpointController, name: str, variant: str) -> list[Any]:
    return [i for i in controller.runtime.list({"endpoint": name, VARIANT: variant}) if i.is_alive]
