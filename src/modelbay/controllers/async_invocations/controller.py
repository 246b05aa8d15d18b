"""The async-invocations worker: it takes InvokeEndpointAsync's requests from each endpoint's queue, invokes the model
and writes its answer where the request said (`<S3OutputPath>/<InferenceId>.out`), or its failure
(`<S3FailurePath>/<InferenceId>-error.out`), then removes the request from the queue.

It runs on the server's event loop, as the router's invocations must; store and object-store calls go to threads.
An endpoint gets as many requests at once as its serving instances times its
ClientConfig.MaxConcurrentInvocationsPerInstance. A request is claimed in the store before it is invoked; a server
that stops cancels the invocations under way, and the next one puts their requests back in the queue
(`controllers/loops.py` calls `release_in_progress` at start-up), so each is invoked at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass

from modelbay.controllers.changes import IDLE_RECHECK_S
from modelbay.controllers.uploads import put_stream
from modelbay.monitoring.publishing import InvocationMeter
from modelbay.platform import Platform
from modelbay.serving.router import EndpointNotReady, EndpointNotRouted, ModelFailure, RoutingError
from modelbay.store.metadata import AsyncInvocation
from modelbay.store.metadata.records import utc_now
from modelbay.store.objects.base import ObjectStoreError
from modelbay.store.objects.uris import S3Location, parse_uri

log = logging.getLogger(__name__)

POLL_S = 0.2  # how often queues with requests waiting are looked at (sooner when an invocation ends)
# SageMaker "chooses an optimal value" when ClientConfig.MaxConcurrentInvocationsPerInstance is not given.
DEFAULT_CONCURRENCY_PER_INSTANCE = 4
FAILURE_CONTENT_TYPE = "text/plain"


@dataclass(frozen=True)
class _Outcome:
    """What is written for a request: the model's answer, or why there is none (`is_failure`)."""

    body: bytes
    content_type: str
    is_failure: bool


def _failure(message: str) -> _Outcome:
    return _Outcome(message.encode(), FAILURE_CONTENT_TYPE, True)


class AsyncInvocationWorker:
    """Claims queued requests while their endpoints serve and invokes them, each in a task of its own."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._queue = platform.metadata.async_invocations
        self.watches = frozenset({self._queue.table})
        self._running: dict[str, set[asyncio.Task[None]]] = {}
        self._woken = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self, *_: object) -> None:
        """Look at the queues at once (a request enqueued, or the server stopping); from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._woken.set)

    async def run_until(self, stopping: asyncio.Event) -> None:
        """Look at the queues every POLL_S seconds while requests wait, sooner when an invocation ends; with none
        waiting, once woken by a request enqueued (controllers/changes.py). Until `stopping` is set (and the worker
        woken): then cancel the invocations under way (their requests stay claimed, for the next server to queue
        again)."""
        self._loop = asyncio.get_running_loop()
        while not stopping.is_set():
            try:
                waiting = await self._claim_and_start()
            except Exception:
                log.exception("claiming asynchronous invocations failed")
                waiting = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), POLL_S if waiting else IDLE_RECHECK_S)
            self._woken.clear()
        under_way = [task for tasks in self._running.values() for task in tasks]
        for task in under_way:
            task.cancel()
        await asyncio.gather(*under_way, return_exceptions=True)

    async def _claim_and_start(self) -> bool:
        """Claim and start what each endpoint can take; answer whether any request waited."""
        queued = await asyncio.to_thread(self._queue.endpoints_with_queued)
        for name in queued:
            running = self._running.setdefault(name, set())
            for invocation in await asyncio.to_thread(self._claim, name, len(running)):
                task = asyncio.create_task(self.handle(invocation))
                running.add(task)
                task.add_done_callback(self._ended(running))
        return bool(queued)

    def _ended(self, running: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
        def forget(task: asyncio.Task[None]) -> None:
            running.discard(task)
            self._woken.set()  # a slot is free
        return forget

    def _claim(self, name: str, running: int) -> list[AsyncInvocation]:
        """Claim what the endpoint can take besides the `running` invocations; drop the queue of one that is gone."""
        endpoint = self._platform.metadata.endpoints.get(name)
        if endpoint is None:
            log.warning("dropped %d asynchronous requests of deleted endpoint %s", self._queue.drop(name), name)
            return []
        config = endpoint.spec.config.get("AsyncInferenceConfig")
        instances = self._platform.router.placement(name)
        if config is None or not instances:  # not serving (yet, or for now): the requests wait
            return []
        per_instance = config.get("ClientConfig", {}).get("MaxConcurrentInvocationsPerInstance",
                                                          DEFAULT_CONCURRENCY_PER_INSTANCE)
        return self._queue.claim(name, len(instances) * per_instance - running)

    async def handle(self, invocation: AsyncInvocation) -> None:
        """Invoke one claimed request and write its outcome, or put it back in the queue if its endpoint stopped
        serving since the claim."""
        try:
            outcome = await self._outcome(invocation)
        except (EndpointNotRouted, EndpointNotReady):  # it stopped serving since the claim: back in the queue
            await asyncio.to_thread(self._queue.release, invocation.id)
            return
        except Exception:
            log.exception("asynchronous invocation %s failed", invocation.request.inference_id)
            outcome = _failure("An internal error occurred while processing the request; please try again.")
        await asyncio.to_thread(self._write, invocation, outcome)

    async def _outcome(self, invocation: AsyncInvocation) -> _Outcome:
        """The model's answer, or the failure to write instead, in SageMaker's words where it has them."""
        request = invocation.request
        if utc_now() >= invocation.expiry_time:
            return _failure(f"Request {request.inference_id} expired: it waited in the queue longer than its "
                            "RequestTTLSeconds allowed.")
        body, content_type = request.body or b"", request.content_type
        if request.input_location is not None:
            try:
                body, stored_type = await asyncio.to_thread(self._read, request.input_location)
            except ObjectStoreError as error:
                return _failure(f"Failed to download the input from {request.input_location}: {error}")
            content_type = content_type or stored_type  # the SageMaker SDK sends none: it stored the input with one
        meter, status = InvocationMeter(), 0  # the model's status, for the endpoint's metrics (0: none answered)
        try:
            answer = await self._platform.router.invoke(
                request.endpoint_name, body, content_type, request.accept, request.custom_attributes, None,
                request.inference_id, timeout_s=float(request.invocation_timeout_s), meter=meter)
            status = 200
        except ModelFailure as failure:
            status = failure.status
            return _failure(failure.message)  # the model's own answer, as SageMaker writes a failed response
        except (EndpointNotRouted, EndpointNotReady):
            raise
        except RoutingError as error:
            return _failure(f"No instance of endpoint {request.endpoint_name} could take the request ({error}); "
                            "please try again.")
        finally:
            self._platform.publisher.invoked(request.endpoint_name, meter, status)
        capture = self._platform.capture.sample(request.endpoint_name)  # SageMaker captures async requests too
        if capture is not None:
            self._platform.capture.offer(capture, answer.variant, inference_id=request.inference_id, request=body,
                                         request_type=content_type, response=answer.body,
                                         response_type=answer.content_type)
        return _Outcome(answer.body, answer.content_type or "application/octet-stream", False)

    def _read(self, uri: str) -> tuple[bytes, str]:
        """The input object's bytes and content type."""
        location = parse_uri(uri)
        assert isinstance(location, S3Location)  # InvokeEndpointAsync accepts S3 URIs only
        with self._platform.objects.open(location.bucket, location.key) as reader:
            return reader.read(), reader.info.meta.content_type

    def _write(self, invocation: AsyncInvocation, outcome: _Outcome) -> None:
        """Write the outcome where the request said, then take the request off the queue."""
        request = invocation.request
        location = request.failure_location if outcome.is_failure else request.output_location
        if location is None:
            log.warning("asynchronous invocation %s of endpoint %s failed, and its endpoint config names no "
                        "S3FailurePath to write it to: %s", request.inference_id, request.endpoint_name,
                        outcome.body.decode(errors="replace"))
        else:
            try:
                put_stream(self._platform.objects, io.BytesIO(outcome.body), location, outcome.content_type)
            except ObjectStoreError:
                log.exception("could not write the outcome of asynchronous invocation %s to %s",
                              request.inference_id, location)
        self._queue.finish(invocation.id)
