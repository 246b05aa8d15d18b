"""The queue of asynchronous invocations on every metadata backend: enqueue, claim (each request to one claimer),
finish, release, backlog."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest

from modelbay.store.metadata import AsyncInvocationQueue, AsyncRequest, MetadataStore

REQUEST = AsyncRequest(
    endpoint_name="ep", endpoint_arn="arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep", inference_id="i-0",
    input_location="s3://in/0.json", body=None, output_location="s3://out/i-0.out",
    failure_location="s3://failed/i-0-error.out", content_type="application/json", accept=None,
    custom_attributes="c=1", invocation_timeout_s=900)


@pytest.fixture
def queue(store: MetadataStore) -> AsyncInvocationQueue:
    return store.async_invocations


def enqueue(queue: AsyncInvocationQueue, endpoint: str, *ids: str) -> None:
    for inference_id in ids:
        queue.enqueue(replace(REQUEST, endpoint_name=endpoint, inference_id=inference_id), ttl_s=60)


def test_a_claimed_request_is_the_one_enqueued_with_its_expiry(queue: AsyncInvocationQueue) -> None:
    inline = replace(REQUEST, input_location=None, body=b"\x00inline")
    queued = queue.enqueue(inline, ttl_s=120)
    assert queued.expiry_time - queued.creation_time == timedelta(seconds=120)
    [claimed] = queue.claim("ep", 5)
    assert claimed == queued and claimed.request == inline


def test_claims_take_the_oldest_first_up_to_the_limit_and_each_request_once(queue: AsyncInvocationQueue) -> None:
    enqueue(queue, "ep", "a", "b", "c")
    enqueue(queue, "other", "x")
    assert [i.request.inference_id for i in queue.claim("ep", 2)] == ["a", "b"]
    assert [i.request.inference_id for i in queue.claim("ep", 2)] == ["c"]
    assert queue.claim("ep", 2) == []
    assert queue.claim("ep", 0) == []
    assert queue.endpoints_with_queued() == ["other"]


def test_concurrent_claimers_never_get_the_same_request(queue: AsyncInvocationQueue) -> None:
    enqueue(queue, "ep", *(f"r{n}" for n in range(40)))
    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(lambda _: queue.claim("ep", 3), range(20)))
    claimed = [invocation.request.inference_id for batch in batches for invocation in batch]
    assert sorted(claimed) == sorted(f"r{n}" for n in range(40))


def test_finished_requests_leave_the_backlog_and_claimed_ones_count_until_then(queue: AsyncInvocationQueue) -> None:
    enqueue(queue, "ep", "a", "b")
    assert (queue.backlog("ep"), queue.backlog("other")) == (2, 0)
    [first] = queue.claim("ep", 1)
    assert queue.backlog("ep") == 2  # being worked on: still in SageMaker's ApproximateBacklogSize
    queue.finish(first.id)
    queue.finish(first.id)  # again: nothing to do
    assert queue.backlog("ep") == 1


def test_released_requests_are_claimed_again_in_their_place(queue: AsyncInvocationQueue) -> None:
    enqueue(queue, "ep", "a", "b", "c")
    a, b = queue.claim("ep", 2)
    queue.release(b.id)
    assert [i.request.inference_id for i in queue.claim("ep", 5)] == ["b", "c"]
    assert queue.release_in_progress() == 3  # a server starting: whoever claimed them is gone
    assert [i.request.inference_id for i in queue.claim("ep", 5)] == ["a", "b", "c"]
    assert a.id != b.id


def test_dropping_an_endpoints_queue_leaves_the_others(queue: AsyncInvocationQueue) -> None:
    enqueue(queue, "ep", "a", "b")
    enqueue(queue, "other", "x")
    assert queue.drop("ep") == 2
    assert (queue.backlog("ep"), queue.backlog("other")) == (0, 1)
