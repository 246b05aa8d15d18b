"""Controllers woken by the writes that give them work, instead of asking the store for it several times a second.

A controller that found no work waits for a write to one of the tables it `watches` (background.Wakeable). The
ChangeWatcher wakes it: at once for a write of this process (the store tells its listeners as each write commits),
and within WATCH_INTERVAL_S for one of another process on the database (a front-door worker, another server), whose
writes move the store's change counters, one small query away (store/metadata/changes.py). A controller with work
goes on at its own pace: its instances and processes change without a write. So does the alarms' while there are
alarms, as their periods end with time. IDLE_RECHECK_S bounds a wait all the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from modelbay.store.metadata.changes import ChangeCounters

WATCH_INTERVAL_S = 1.0  # how soon another process's write wakes a controller here
IDLE_RECHECK_S = 30.0  # the longest a controller with no work waits without a write


class Watching(Protocol):
    watches: frozenset[str]  # the tables whose writes may give it work

    def wake(self, *_: object) -> None:
        """Look for work at once (a wait for it ends)."""


class ChangeWatcher:
    """Wakes each controller when a table it watches has changed. A context manager: it hears this process's
    writes while entered; `look` reads the counters for the other processes' writes."""

    def __init__(self, counters: ChangeCounters, controllers: Iterable[Watching]) -> None:
        self._counters = counters
        self._controllers = [controller for controller in controllers if controller.watches]
        self._seen = counters.generations()

    def __enter__(self) -> ChangeWatcher:
        self._stop_listening = self._counters.add_listener(self._wake)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop_listening()

    def look(self) -> None:
        now = self._counters.generations()
        changed = {family for family, generation in now.items() if self._seen.get(family) != generation}
        self._seen = now
        self._wake(changed)

    def _wake(self, changed: Iterable[str]) -> None:
        changed = frozenset(changed)
        for controller in self._controllers:
            if controller.watches & changed:
                controller.wake()
