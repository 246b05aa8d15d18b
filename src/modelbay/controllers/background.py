"""Work a reconcile pass hands off: it runs in a daemon thread, the pass polls its future, and its end wakes the
controller."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

_T = TypeVar("_T")


class Wakeable:
    """A controller's wait_for_work: sleep until the next pass is due, or until `wake` is called (background work
    has ended, so its resource can move on at once, or a write to a table it `watches` may have given it work, see
    changes.py). `wake` takes and ignores any arguments: a callback."""

    def __init__(self, *watches: str) -> None:
        self.watches = frozenset(watches)
        self._woken = threading.Event()

    def wake(self, *_: object) -> None:
        self._woken.set()

    def wait_for_work(self, timeout_s: float) -> None:
        self._woken.wait(timeout_s)
        self._woken.clear()


def in_background(work: Callable[[], _T]) -> Future[_T]:
    """Run `work` in a daemon thread: a server shutting down does not wait for a build to end."""
    future: Future[_T] = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as err:  # handed to whoever reads the future
            future.set_exception(err)
    threading.Thread(target=run, name="controller-background", daemon=True).start()
    return future
