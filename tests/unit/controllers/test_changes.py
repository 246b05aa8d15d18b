"""Controllers woken by writes: the ChangeWatcher wakes the controllers of the tables written (this process's writes
at once, another's when it looks), and a controller loop with no work waits for that instead of polling."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modelbay.controllers.background import Wakeable
from modelbay.controllers.changes import IDLE_RECHECK_S, ChangeWatcher
from modelbay.controllers.loops import run_until
from modelbay.store.metadata import MetadataStore, open_metadata_store

ARN = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep-1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetadataStore]:
    store = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}")
    yield store
    store.close()


class _Controller(Wakeable):
    """Work given by hand; each wait recorded (its timeout) and then waited."""

    def __init__(self, *watches: str) -> None:
        super().__init__(*watches)
        self.work: list[str] = []
        self.waits: list[float] = []
        self.waiting = threading.Semaphore(0)  # released as each wait begins

    def names(self) -> list[str]:
        return list(self.work)

    def reconcile(self, name: str) -> None:
        self.work.remove(name)

    def wait_for_work(self, timeout_s: float) -> None:
        self.waits.append(timeout_s)
        self.waiting.release()
        super().wait_for_work(timeout_s)

    def was_woken(self) -> bool:
        return self._woken.is_set()


def test_this_process_s_writes_wake_the_controllers_watching_their_tables_at_once(store: MetadataStore) -> None:
    tags, jobs = _Controller("tags"), _Controller("training_jobs")
    with ChangeWatcher(store.changes, [tags, jobs]):
        store.tags.add(ARN, [("a", "1")])
        assert tags.was_woken() and not jobs.was_woken()
    tags.wait_for_work(0)
    store.tags.add(ARN, [("b", "2")])  # the watcher has stopped listening
    assert not tags.was_woken()


def test_another_process_s_writes_wake_them_when_the_watcher_looks(store: MetadataStore) -> None:
    tags, jobs = _Controller("tags"), _Controller("training_jobs")
    other = open_metadata_store(store.db.engine.url.render_as_string(hide_password=False))
    try:
        with ChangeWatcher(store.changes, [tags, jobs]) as watcher:
            other.tags.add(ARN, [("a", "1")])
            assert not tags.was_woken()
            watcher.look()
            assert tags.was_woken() and not jobs.was_woken()
    finally:
        other.close()


@pytest.mark.anyio
async def test_a_loop_with_no_work_waits_for_a_write_and_one_with_work_goes_on_at_its_pace(
        store: MetadataStore) -> None:
    controller = _Controller("tags")
    controller.work = ["ep-1"]
    stopping = asyncio.Event()
    with ThreadPoolExecutor(1) as waiting, ChangeWatcher(store.changes, [controller]):
        loop = asyncio.create_task(run_until(controller, 0.01, stopping, waiting))
        for _ in range(2):  # a pass with work, then one without
            await asyncio.to_thread(controller.waiting.acquire, timeout=10)
        assert controller.waits == [0.01, IDLE_RECHECK_S]
        await asyncio.to_thread(store.tags.add, ARN, [("a", "1")])  # ends the idle wait
        await asyncio.to_thread(controller.waiting.acquire, timeout=10)
        assert controller.waits == [0.01, IDLE_RECHECK_S, IDLE_RECHECK_S]
        stopping.set()
        controller.wake()
        await asyncio.wait_for(loop, 10)
