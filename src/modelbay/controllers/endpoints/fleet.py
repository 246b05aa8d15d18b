"""An endpoint's fleet as the runtime shows it: instances grouped into slots, and their health.

A slot is one host of one production variant: on it run all the containers of the variant's
model (one for a plain model, 2 to 15 for an inference pipeline), each a runtime instance with
the labels below. Slots are numbered per variant; slot i sits in zone i mod len(zones), so a
variant's hosts spread round-robin over the zones and a replacement lands where its slot was.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from modelbay.container.handoff import socket_path
from modelbay.runtime.base import Instance

log = logging.getLogger(__name__)

# Labels of a serving instance; all values are strings.
ENDPOINT, GENERATION, VARIANT, SLOT, CONTAINER, ZONE, PORT = (
    "endpoint", "generation", "variant", "slot", "container", "zone", "port")


@dataclass(frozen=True, order=True)
class SlotKey:
    generation: int
    variant: str
    index: int


@dataclass
class Slot:
    """The instances of one host, in container order."""

    key: SlotKey
    zone: str
    instances: list[Instance] = field(default_factory=list)

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(f"http://{i.address}:{i.labels[PORT]}" for i in self.instances)

    @property
    def handoff(self) -> str | None:
        """Where the slot's model server takes connections handed over, if it may: one container on this machine."""
        if len(self.instances) != 1 or self.instances[0].node is not None:
            return None
        return socket_path(self.instances[0].opt_ml)

    @property
    def is_alive(self) -> bool:
        return all(i.is_alive for i in self.instances)

    @property
    def instance_id(self) -> str:
        """The slot's name towards the router: its first container's instance id."""
        return self.instances[0].id


def slot_labels(endpoint: str, key: SlotKey, zone: str, container: int, port: int) -> dict[str, str]:
    return {ENDPOINT: endpoint, GENERATION: str(key.generation), VARIANT: key.variant, SLOT: str(key.index),
            CONTAINER: str(container), ZONE: zone, PORT: str(port)}


def group_slots(found: Iterable[Instance]) -> dict[SlotKey, Slot]:
    """The slots the runtime's instances form, each with its instances in container order."""
    grouped: dict[SlotKey, list[Instance]] = defaultdict(list)
    for instance in found:
        labels = instance.labels
        grouped[SlotKey(int(labels[GENERATION]), labels[VARIANT], int(labels[SLOT]))].append(instance)
    return {key: Slot(key, members[0].labels[ZONE], sorted(members, key=lambda i: int(i.labels[CONTAINER])))
            for key, members in grouped.items()}


def zone_for(index: int, zones: tuple[str, ...]) -> str:
    return zones[index % len(zones)]


@dataclass
class _Checks:
    ready: bool = False  # answered /ping once since it started
    failures: int = 0  # consecutive failed checks since then
    checked_at: float = 0.0
    last_error: str | None = None


class Health:
    """Pings instances: each until it first answers, then every `every_s`; remembers the outcome.

    `ping(url)` returns None when the model server answered 200 in time, else what went wrong.
    A check is active; traffic is the passive one: a slot whose model server is answering
    requests (`answering`) does not fail a check that timed out because it was busy.
    """

    def __init__(self, ping: Callable[[str], str | None], every_s: float, failures_to_fail: int) -> None:
        self.ping, self.every_s, self.failures_to_fail = ping, every_s, failures_to_fail
        self._checks: dict[str, _Checks] = {}

    @property
    def window_s(self) -> float:
        """How long a slot may go unconfirmed before it fails: the checks it may miss in a row."""
        return self.every_s * self.failures_to_fail

    def check(self, slot: Slot, answering: bool = False) -> None:
        """Ping the slot's containers that are due."""
        now = time.monotonic()
        for instance, url in zip(slot.instances, slot.urls, strict=True):
            checks = self._checks.setdefault(instance.id, _Checks())
            if checks.ready and now - checks.checked_at < self.every_s:
                continue
            error = self.ping(url) if instance.is_alive else "the model server has ended"
            checks.checked_at = now
            if error is None or (checks.ready and answering):
                checks.ready, checks.failures = True, 0
                continue
            checks.last_error = error
            if checks.ready:
                checks.failures += 1
                log.warning("health check %d of %d failed for instance %s at %s: %s", checks.failures,
                            self.failures_to_fail, instance.id, url, error)

    def is_ready(self, slot: Slot) -> bool:
        """Every container has answered and none has failed its checks since."""
        return slot.is_alive and all(self._state(i).ready and self._state(i).failures < self.failures_to_fail
                                     for i in slot.instances)

    def has_failed(self, slot: Slot) -> bool:
        """A container ended, or stopped answering after it had answered."""
        return not slot.is_alive or any(self._state(i).failures >= self.failures_to_fail for i in slot.instances)

    def failure(self, slot: Slot) -> str | None:
        """Why a slot that had answered failed its checks, if it did."""
        return next((c.last_error for i in slot.instances if (c := self._state(i)).failures >= self.failures_to_fail),
                    None)

    def not_ready(self, slot: Slot) -> tuple[Instance, str, str | None] | None:
        """The slot's first container that has not answered yet, the URL it is pinged at and what its last
        ping got; None if every container has answered."""
        return next(((i, url, self._state(i).last_error) for i, url in zip(slot.instances, slot.urls, strict=True)
                     if not self._state(i).ready), None)

    def was_ready(self, slot: Slot) -> bool:
        """Every container answered once."""
        return all(self._state(i).ready for i in slot.instances)

    def forget(self, instance_id: str) -> None:
        self._checks.pop(instance_id, None)

    def _state(self, instance: Instance) -> _Checks:
        return self._checks.get(instance.id, _Checks())
