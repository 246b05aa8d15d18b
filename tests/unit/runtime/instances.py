"""What the runtime tests share: waiting for an instance to end, whatever runs it."""

from __future__ import annotations

from modelbay.runtime.base import Instance, Runtime
from tests.helpers import wait_until


def wait_ended(runtime: Runtime, instance_id: str, timeout_s: float = 10) -> Instance:
    """The instance once it has ended (AssertionError from wait_until after `timeout_s`)."""
    def ended() -> Instance | None:
        instance = runtime.inspect(instance_id)
        return None if instance.is_alive else instance
    result = wait_until(ended, timeout_s, f"instance {instance_id} to end")
    assert isinstance(result, Instance)
    return result
