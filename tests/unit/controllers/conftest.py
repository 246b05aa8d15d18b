"""Fixtures the controller tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay.controllers.images import Images
from modelbay.runtime.base import stop_all
from modelbay.runtime.environments import FrameworkEnvironments
from modelbay.runtime.process import ProcessRuntime
from tests.helpers import SHARED_ENVIRONMENTS


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ProcessRuntime]:
    """A ProcessRuntime without namespaces; whatever still runs at the end is stopped, and waited for."""
    runtime = ProcessRuntime(tmp_path / "runtime", namespaces=False)
    yield runtime
    stop_all(runtime, grace_s=0)


@pytest.fixture
def images() -> Images:
    """Images resolved against the framework environments every test shares."""
    return Images(FrameworkEnvironments(SHARED_ENVIRONMENTS))
