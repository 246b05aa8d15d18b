"""The async-invocations worker's own failures: a request past its TTL, an input that cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelbay.config import Settings
from modelbay.controllers.async_invocations.controller import AsyncInvocationWorker
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
