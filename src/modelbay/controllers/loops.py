"""The reconcile loops a server runs in the background, built over its platform."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from modelbay.controllers.images import Images
from modelbay.controllers.training import TrainingController, run_forever
from modelbay.platform import Platform
from modelbay.runtime.environments import FrameworkEnvironments
from modelbay.runtime.process import ProcessRuntime


def background_loops(platform: Platform) -> list[Coroutine[Any, Any, None]]:
    """One coroutine per controller; the server runs them until it shuts down."""
    runtime = ProcessRuntime(state_dir=platform.settings.data_dir / "runtime")
    images = Images(FrameworkEnvironments(platform.settings.framework_environments_dir),
                            registry=platform.metadata.images.resolve)
    return [run_forever(TrainingController(platform, runtime, images, stop_grace_s=platform.settings.stop_grace_s))]
