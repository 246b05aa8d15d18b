"""The async-invocations worker's own failures: a request past its TTL, an input that cannot be read; and its loop,
which waits for a request enqueued when none waits."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from modelbay.config import Settings
from modelbay.controllers.async_invocations.controller import AsyncInvocationWorker
from modelbay.controllers.changes import ChangeWatcher
from modelbay.platform import Platform, open_platform
from modelbay.store.metadata import AsyncRequest

pytestmark = pytest.mark.anyio


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    platform = open_platform(Settings(data_dir=tmp_path / "data"))
    platform.objects.create_bucket("answers", "us-east-1")
    return platform


def request(inference_id: str, input_location: str | None = "s3://answers/in/1.csv") -> AsyncRequest:
    return AsyncRequest(endpoint_name="e", endpoint_arn="arn:aws:sagemaker:us-east-1:000000000000:endpoint/e",
                        inference_id=inference_id, input_location=input_location, body=None,
                        output_location=f"s3://answers/out/{inference_id}.out",
                        failure_location=f"s3://answers/failed/{inference_id}-error.out", content_type="text/csv",
                        accept=None, custom_attributes=None, invocation_timeout_s=60)


def failure_file(platform: Platform, inference_id: str) -> str:
    with platform.objects.open("answers", f"failed/{inference_id}-error.out") as reader:
        return reader.read().decode()


async def test_a_request_past_its_ttl_fails_without_invoking_and_leaves_the_queue(platform: Platform) -> None:
    queue = platform.metadata.async_invocations
    queue.enqueue(request("late"), ttl_s=0)
    [claimed] = queue.claim("e", 1)

    await AsyncInvocationWorker(platform).handle(claimed)

    assert failure_file(platform, "late").startswith("Request late expired")
    assert queue.backlog("e") == 0


async def test_an_input_that_cannot_be_read_fails_naming_it(platform: Platform) -> None:
    queue = platform.metadata.async_invocations
    queue.enqueue(request("lost", input_location="s3://answers/in/missing.csv"), ttl_s=60)
    [claimed] = queue.claim("e", 1)

    await AsyncInvocationWorker(platform).handle(claimed)

    assert failure_file(platform, "lost").startswith("Failed to download the input from s3://answers/in/missing.csv")
    assert queue.backlog("e") == 0


async def test_with_no_request_waiting_the_loop_looks_again_once_one_is_enqueued(
        platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    worker, queue = AsyncInvocationWorker(platform), platform.metadata.async_invocations
    looks = threading.Semaphore(0)
    look = queue.endpoints_with_queued
    monkeypatch.setattr(queue, "endpoints_with_queued", lambda: (looks.release(), look())[1])
    stopping = asyncio.Event()
    with ChangeWatcher(platform.metadata.changes, [worker]):
        loop = asyncio.create_task(worker.run_until(stopping))
        assert await asyncio.to_thread(looks.acquire, timeout=10)  # none waits: the worker waits for a write
        await asyncio.to_thread(queue.enqueue, request("a"), 60)
        assert await asyncio.to_thread(looks.acquire, timeout=10)  # well before IDLE_RECHECK_S
        stopping.set()
        worker.wake()
        await asyncio.wait_for(loop, 10)
