"""`every`, the metric loops' runner: work in a worker thread each interval, failures logged, ended when stopping."""

from __future__ import annotations

import asyncio
import threading

import pytest

from modelbay.controllers.loops import every

pytestmark = pytest.mark.anyio


async def test_work_runs_each_interval_off_the_loop_survives_failures_and_stops() -> None:
    threads: list[int] = []
    enough = asyncio.Event()
    loop = asyncio.get_running_loop()

    def work() -> None:
        threads.append(threading.get_ident())
        if len(threads) == 3:
            loop.call_soon_threadsafe(enough.set)
        if len(threads) == 1:
            raise RuntimeError("the database is away")  # logged; the loop goes on

    stopping = asyncio.Event()
    task = asyncio.create_task(every(0.01, work, stopping))
    await asyncio.wait_for(enough.wait(), 10)
    stopping.set()
    await asyncio.wait_for(task, 10)
    assert len(threads) >= 3 and threading.get_ident() not in threads


async def test_a_long_interval_ends_at_once_when_stopping() -> None:
    stopping = asyncio.Event()
    task = asyncio.create_task(every(3600, lambda: None, stopping))
    await asyncio.sleep(0)
    stopping.set()
    await asyncio.wait_for(task, 2)
