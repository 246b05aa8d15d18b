"""The reconcile loops a server runs in the background, built over its platform."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from modelbay.controllers.endpoints.controller import EndpointController
from modelbay.controllers.images import Images
from modelbay.controllers.training_jobs.controller import TrainingController
from modelbay.controllers.transform_jobs.controller import TransformController
from modelbay.platform import Platform
from modelbay.runtime.environments import FrameworkEnvironments
from modelbay.runtime.process import ProcessRuntime

log = logging.getLogger(__name__)


class Controller(Protocol):
    def names(self) -> list[str]:
        """The resources a pass has work for."""

    def reconcile(self, name: str) -> None:
        """One idempotent pass over one resource."""

    def wait_for_work(self, timeout_s: float) -> None:
        """Return after `timeout_s`, or sooner when background work has finished."""


def background_loops(platform: Platform) -> list[Coroutine[Any, Any, None]]:
    """One coroutine per controller; the server runs them until it shuts down."""
    runtime = ProcessRuntime(state_dir=platform.settings.data_dir / "runtime")
    images = Images(FrameworkEnvironments(platform.settings.framework_environments_dir),
                    registry=platform.metadata.images.resolve)
    training = TrainingController(platform, runtime, images, stop_grace_s=platform.settings.stop_grace_s)
    endpoints = EndpointController(platform, runtime, images)
    transform = TransformController(platform, runtime, images)
    return [run_forever(training, every_s=0.2), run_forever(endpoints, every_s=0.25),
            run_forever(transform, every_s=0.25)]


async def run_forever(controller: Controller, every_s: float) -> None:
    """Reconcile every resource the controller names, each in a worker thread, every `every_s`
    seconds (sooner when woken), until cancelled. A failing pass is logged; the loop goes on."""
    while True:
        for name in await asyncio.to_thread(controller.names):
            try:
                await asyncio.to_thread(controller.reconcile, name)
            except Exception:
                log.exception("reconcile of %s failed for %s", type(controller).__name__, name)
        await asyncio.to_thread(controller.wait_for_work, every_s)
