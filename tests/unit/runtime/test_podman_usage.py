"""The podman runtime's usage reader: a busy container's CPU seconds and memory, from podman's stats API."""

from __future__ import annotations

from pathlib import Path

from modelbay.runtime.base import Usage
from modelbay.runtime.podman import PodmanRuntime
from tests.helpers import wait_until
from tests.unit.runtime.test_podman import ended, image, pytestmark, runtime, spec

__all__ = ["image", "pytestmark", "runtime"]  # the fixtures and the skip this module shares with test_podman


def test_a_busy_container_uses_cpu_and_memory_and_none_once_ended(runtime: PodmanRuntime, tmp_path: Path,
                                                                  image: str) -> None:
    busy = runtime.start(spec(tmp_path, image, "while :; do :; done"), {})

    def used() -> Usage:
        usage = runtime.usage(busy.id)
        assert usage is not None
        return usage

    first = used()
    assert first.memory_bytes > 0 and first.disk_bytes is None
    wait_until(lambda: used().cpu_s > first.cpu_s + 0.3, 20, "the container to use CPU")
    runtime.stop(busy.id, grace_s=0)
    ended(runtime, busy.id)
    assert runtime.usage(busy.id) is None
    assert runtime.usage("no-such-instance") is None
