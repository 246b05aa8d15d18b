"""Work a reconcile pass hands off: it runs in a daemon thread and the pass polls its future."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

_T = TypeVar("_T")


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
