"""The endpoint data plane: which instance answers an invocation, and the call to it.

The EndpointController publishes, for each endpoint it serves, its production variants and the
instances (model servers) of each. A table is swapped in whole, so an invocation sees the old one
or the new one, never a mix. Per invocation the router picks a variant at random in proportion to
its weight (or the one TargetVariant names), then the variant's instance with the fewest requests
in flight (ties broken at random), and calls its containers in order: each answer is the next
container's input, with its Content-Type; the last container's answer is the invocation's.

A call the instance cannot have received (no connection, or one that broke before the request was
written) is sent once more to another instance of the variant, and the instance is taken out of
rotation at once: it gets no more requests until the controller publishes a table without it.
The controller learns of it through `add_failure_listener` (called on the event loop's thread
with the endpoint and the instance id; it must not block) or by reading `out_of_rotation`.

`invoke_stream` is the same call with the answer passed on as it arrives (a streamed invocation:
the last container's answer is read piece by piece; the containers before it answer whole). The
instance counts the invocation in flight until its stream is read or closed.

During a blue/green deployment the table also holds the new config's variants and the share of traffic
moved to them (a TrafficShift): an invocation goes to the new fleet with that probability, then to one of
its variants by weight, as above. A TargetVariant that only the new config has goes to the new fleet; one
both have goes to the new fleet with the shift's probability. Moving the share in steps (canary, linear)
is publishing tables with larger shares.

A server that starts again knows which endpoints serve before its controller has published their
tables: it says so with `expect`, and an invocation of such an endpoint waits for its table (up to
`hold_s`, then EndpointNotReady, which clients retry) instead of hearing that it does not exist.

A serverless variant (a VariantRoute with `max_concurrency`) admits at most that many invocations at
once; one more is refused at once (Throttled: SageMaker's ThrottlingException). An admitted invocation
of a variant with no instance (scaled to zero) tells the demand listeners (the controller, which starts
one: a cold start) and waits for a table with an instance, up to `cold_start_s` (then ColdStartTimedOut).
The router keeps each serverless variant's Demand across tables: invocations admitted, when it was last
busy, and the seconds its invocations took (what SageMaker bills); the controller reads it to scale the
variant between zero and its instance.

A shadow variant (a ShadowProductionVariant) runs on instances of its own, which the controller publishes with the
production variants; it answers nobody. Each invocation that reached a production variant is copied to it with
probability = its weight / the production variants' weight (at most 1; SageMaker's sampling of a shadow), once
the live call has ended, in a task of its own: the copy never changes, delays or fails the caller's answer. The
copy's answer, error or timeout is discarded (a streamed invocation's copy is read whole and discarded), and
told to the copy listeners (the publisher: the shadow's Invocations, latencies and errors, as a production
variant's). Copies are bounded: a shadow holds at most twice as many copies in flight as the endpoint has
invocations in flight (the call just ended included), and at least SHADOW_COPIES_PER_INSTANCE per shadow instance;
one more is dropped and counted (`dropped_copies`). A shadow as fast as its production twin holds about as many
copies as the endpoint holds invocations, so it gets every copy at any load; a slower one gets what its pace allows,
never a queue. During a
blue/green traffic shift the copies go to the shadows of the fleet in service.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import cast

from modelbay.monitoring.publishing import InvocationMeter
from modelbay.serving.upstream import Answer, StreamedAnswer, Upstream, UpstreamError, UpstreamTimeout

log = logging.getLogger(__name__)

MODEL_TIMEOUT_S = 60.0  # how long SageMaker waits for a model's answer
HOLD_S = 5.0  # how long an invocation waits for the routes of an endpoint being restored
COLD_START_S = 60.0  # how long an invocation of a serverless variant scaled to zero waits for its instance
_HOLD_POLL_S = 0.01  # tables are published from threads: a held invocation looks again this often
# Copies a shadow instance is sent at once: enough to keep a model server as busy as its production twin under a
# steady load, few enough that a stalled shadow holds a handful of requests (and connections), not a backlog.
SHADOW_COPIES_PER_INSTANCE = 4

FailureListener = Callable[[str, str], None]
DemandListener = Callable[[str, str], None]
CopyListener = Callable[[str, InvocationMeter, int], None]


@dataclass(frozen=True)
class Backend:
    """One instance's model server; for an inference pipeline, one URL per container, in order."""

    instance_id: str
    zone: str
    urls: tuple[str, ...]  # "http://127.0.0.1:<port>" for each container, called in order
    handoff: str | None = None  # where its model server takes connections handed over (container/handoff.py)


@dataclass(frozen=True)
class VariantRoute:
    name: str
    weight: float
    backends: tuple[Backend, ...]
    max_concurrency: int | None = None  # a serverless variant's cap on invocations at once; None: no cap


@dataclass(frozen=True)
class TrafficShift:
    """A blue/green deployment's new fleet while traffic moves to it: its variants, and the share of the
    endpoint's invocations they take (0 to 1)."""

    variants: tuple[VariantRoute, ...]
    share: float


@dataclass(frozen=True)
class Demand:
    """What a serverless variant's invocations ask of it, as the router saw them."""

    admitted: int  # invocations admitted and not done: answering, or waiting for an instance
    idle_s: float  # seconds since the last one ended (inf if none ever did); 0 while any is admitted
    busy_s: float  # the seconds its invocations have taken on an instance, all together, since the router began


@dataclass(frozen=True)
class Invocation:
    """The model's answer, and the variant that gave it."""

    body: bytes
    content_type: str | None
    custom_attributes: str | None
    variant: str


class StreamedInvocation:
    """The head of the model's answer, and its body as it comes: iterate it (ModelStreamBroken may
    end it), and close it if it is not read to its end. Use from the event loop it was made on."""

    def __init__(self, answer: StreamedAnswer, variant: str, container: str, done: Callable[[], None]) -> None:
        self.content_type = answer.content_type
        self.custom_attributes = answer.custom_attributes
        self.variant = variant
        self._pieces, self._container, self._done = answer.pieces, container, done
        self._is_done = False

    def __aiter__(self) -> StreamedInvocation:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._pieces.__anext__()
        except StopAsyncIteration:
            self._finish()
            raise
        except UpstreamError as error:
            self._finish()
            raise ModelStreamBroken(isinstance(error, UpstreamTimeout), self._container) from error

    async def aclose(self) -> None:
        await self._pieces.aclose()
        self._finish()

    def _finish(self) -> None:
        if not self._is_done:
            self._is_done = True
            self._done()


class RoutingError(Exception):
    """An invocation the router could not route or the model did not answer."""


class EndpointNotRouted(RoutingError):
    """No table is published for the endpoint (it does not exist or is not in service)."""


class EndpointNotReady(RoutingError):
    """The endpoint serves, but its table was not published within the hold (a server starting again)."""


class VariantNotFound(RoutingError):
    """TargetVariant names no variant of the endpoint."""


class NoVariantWeighted(RoutingError):
    """Every variant's weight is 0 and no TargetVariant was given."""


class InstancesUnreachable(RoutingError):
    """No instance of the variant could be reached (none received the request)."""


class ColdStartTimedOut(InstancesUnreachable):
    """A serverless variant's instance did not start within the router's cold_start_s."""


class Throttled(RoutingError):
    """A serverless variant already has its MaxConcurrency of invocations admitted."""

    def __init__(self, variant: str, max_concurrency: int) -> None:
        super().__init__(variant)
        self.variant = variant
        self.max_concurrency = max_concurrency


class ModelFailure(RoutingError):
    """The model answered with an error status, or not at all once it had the request (status 0:
    a timeout, or a connection that broke). `message` is what the model said, or what happened."""

    def __init__(self, status: int, message: str, container: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.container = container


class ModelStreamBroken(RoutingError):
    """A streamed answer broke off: the model did not finish it in time (`is_timeout`), or its connection closed."""

    def __init__(self, is_timeout: bool, container: str) -> None:
        super().__init__(container)
        self.is_timeout = is_timeout
        self.container = container


@dataclass(frozen=True)
class Placement:
    """Where one serving instance of an endpoint runs, and how it is doing, as the router sees it."""

    variant: str
    instance_id: str
    zone: str
    in_flight: int
    in_rotation: bool
    urls: tuple[str, ...]  # its model servers', in call order


class _Instance:
    """What the router keeps about one published Backend: its model servers and its load."""

    __slots__ = ("backend", "upstreams", "outstanding", "is_down", "answered_at")

    def __init__(self, backend: Backend, upstreams: tuple[Upstream, ...]) -> None:
        self.backend = backend
        self.upstreams = upstreams
        self.outstanding = 0
        self.is_down = False
        self.answered_at = 0.0  # time.monotonic() of its last answer, errors included


class _Copies:
    """A shadow variant's copies, kept across tables while it is published: in flight now, and dropped (its bound
    reached) so far."""

    __slots__ = ("in_flight", "dropped")

    def __init__(self) -> None:
        self.in_flight = 0
        self.dropped = 0


@dataclass(frozen=True)
class _Shadow:
    """A published shadow variant: its instances, the share of invocations copied to it, its copies."""

    variant: _Variant
    share: float
    copies: _Copies

    def admits(self, live: int) -> bool:
        """Whether a copy may be sent now, while the endpoint has `live` invocations in flight (room under its
        bound), counting it dropped if not."""
        if self.copies.in_flight >= max(2 * live, SHADOW_COPIES_PER_INSTANCE * len(self.variant.instances)):
            self.copies.dropped += 1
            return False
        return True


class _Load:
    """A serverless variant's Demand as it changes, kept across tables (see Demand)."""

    __slots__ = ("admitted", "ended_at", "busy_s")

    def __init__(self) -> None:
        self.admitted = 0
        self.ended_at = -math.inf  # time.monotonic() when its last invocation ended
        self.busy_s = 0.0


@dataclass(frozen=True)
class _Variant:
    name: str
    weight: float
    instances: tuple[_Instance, ...]
    max_concurrency: int | None = None
    load: _Load | None = None  # a serverless variant's


class _Table:
    """One endpoint's published variants, ready for picking; during a blue/green traffic shift, the new fleet's
    as `incoming`, which takes `share` of the invocations."""

    def __init__(self, variants: tuple[_Variant, ...], queued: bool, incoming: _Table | None = None,
                 share: float = 0.0, shadows: tuple[_Shadow, ...] = ()) -> None:
        self.variants = variants
        self.queued = queued
        self.incoming, self.share = incoming, share
        self.shadows = shadows
        self.by_name = {variant.name: variant for variant in variants}
        self.cumulative = tuple(itertools.accumulate(variant.weight for variant in variants))
        self.total = self.cumulative[-1] if variants else 0.0

    def pick(self, target: str | None) -> _Variant:
        """The fleet (the new one with probability `share`), then in it the variant TargetVariant names, else one
        at random in proportion to its weight."""
        incoming = self.incoming
        if incoming is not None and (target is None or target in incoming.by_name) and (
                random.random() < self.share or target is not None and target not in self.by_name):
            return incoming.pick(target)
        if target is not None:
            variant = self.by_name.get(target)
            if variant is None:
                raise VariantNotFound(target)
            return variant
        if self.total <= 0:
            raise NoVariantWeighted()
        if len(self.variants) == 1:
            return self.variants[0]
        return self.variants[bisect.bisect_right(self.cumulative, random.random() * self.total)]

    def named(self, name: str) -> _Variant | None:
        """The variant of this name, in the table or else in the incoming fleet."""
        return self.by_name.get(name) or (self.incoming.by_name.get(name) if self.incoming is not None else None)

    def all_variants(self) -> tuple[_Variant, ...]:
        """The variants of both fleets during a traffic shift (a name may be in both), else the table's; with the
        shadow variants."""
        return (self.variants + tuple(shadow.variant for shadow in self.shadows)
                + (self.incoming.all_variants() if self.incoming is not None else ()))

    def instances(self) -> list[_Instance]:
        return [instance for variant in self.all_variants() for instance in variant.instances]


class Router:
    """Routes invocations over the published tables. publish/withdraw may be called from any
    thread; invoke runs on the server's event loop."""

    def __init__(self, timeout_s: float = MODEL_TIMEOUT_S, hold_s: float = HOLD_S,
                 cold_start_s: float = COLD_START_S) -> None:
        self.timeout_s = timeout_s  # how long a model may take to answer (all containers together)
        self.hold_s = hold_s
        self.cold_start_s = cold_start_s
        self._tables: dict[str, _Table] = {}
        self._expected: frozenset[str] = frozenset()  # serving endpoints whose tables are on their way
        self._upstreams: dict[str, Upstream] = {}
        self._known: dict[str, _Instance] = {}  # published instances, and unpublished ones still busy
        self._in_flight: dict[str, int] = {}
        self._listeners: list[FailureListener] = []
        self._demand_listeners: list[DemandListener] = []
        self._loads: dict[tuple[str, str], _Load] = {}  # serverless variants' (endpoint, variant)
        self._copies: dict[tuple[str, str], _Copies] = {}  # shadow variants' (endpoint, variant)
        self._copying: set[asyncio.Task[None]] = set()  # copies under way (a task needs a reference to run)
        self._copy_listeners: list[CopyListener] = []
        self._lock = threading.Lock()  # serializes writers; readers see a whole table or none
        self._loop: asyncio.AbstractEventLoop | None = None

    def publish(self, endpoint: str, variants: Sequence[VariantRoute], queued: bool = False,
                shift: TrafficShift | None = None, shadows: Sequence[VariantRoute] = ()) -> None:
        """Serve `endpoint` with these variants from now on (replacing its table atomically); `queued`: its
        invocations come from its queue only (an asynchronous endpoint, see `is_queued`); `shift`: a blue/green
        deployment's new fleet and the share of traffic it takes; `shadows`: shadow variants, each copied a share
        of the invocations (its weight / the production variants' weight, at most all).
        An instance already published keeps its count of requests in flight and, when taken out
        of rotation, stays out. Raise ValueError for a negative weight."""
        if any(variant.weight < 0 for variant in (*variants, *shadows, *(shift.variants if shift else ()))):
            raise ValueError(f"variant weights of endpoint {endpoint} must be at least 0")
        if shift is not None and not 0 <= shift.share <= 1:
            raise ValueError(f"the traffic shift of endpoint {endpoint} must be a share from 0 to 1")
        with self._lock:
            incoming = None if shift is None else _Table(self._variants(endpoint, shift.variants), queued)
            production = self._variants(endpoint, variants)
            self._tables[endpoint] = _Table(production, queued, incoming, shift.share if shift else 0.0,
                                            self._shadows(endpoint, shadows, sum(v.weight for v in production)))
            self._expected -= {endpoint}
            self._forget_unused()

    def withdraw(self, endpoint: str) -> None:
        """Stop serving `endpoint`: new invocations are refused; those in flight finish."""
        with self._lock:
            self._tables.pop(endpoint, None)
            self._expected -= {endpoint}
            self._forget_unused()

    def expect(self, endpoints: Iterable[str]) -> None:
        """These endpoints serve, and their tables will be published (or withdrawn) soon: until then
        an invocation of one of them is held, not refused as unknown."""
        with self._lock:
            self._expected = frozenset(endpoints).difference(self._tables)  # a frozenset, as declared

    def outstanding(self, endpoint: str) -> int:
        """The endpoint's invocations in flight (to wait for before its instances stop)."""
        return self._in_flight.get(endpoint, 0)

    def in_flight(self, instance_id: str) -> int:
        """The instance's requests in flight, published or not (to wait for before it stops)."""
        instance = self._known.get(instance_id)
        return instance.outstanding if instance is not None else 0

    def answered_within(self, instance_id: str, seconds: float) -> bool:
        """Whether the instance answered a request in the last `seconds` (a passive health check)."""
        instance = self._known.get(instance_id)
        return instance is not None and time.monotonic() - instance.answered_at < seconds

    def out_of_rotation(self, endpoint: str) -> frozenset[str]:
        """Ids of the endpoint's published instances taken out of rotation after a failed call."""
        table = self._tables.get(endpoint)
        return frozenset(i.backend.instance_id for i in table.instances() if i.is_down) if table else frozenset()

    def concurrency(self) -> list[tuple[str, str, int, int]]:
        """Each published variant's requests in flight now, and its instances: (endpoint, variant, in flight,
        instances), for ConcurrentRequestsPerModel."""
        with self._lock:
            tables = list(self._tables.items())
        counts: dict[tuple[str, str], tuple[int, int]] = {}  # a variant of both fleets counts once, with both
        for endpoint, table in tables:
            for variant in table.all_variants():
                if variant.instances:
                    busy, instances = counts.get((endpoint, variant.name), (0, 0))
                    counts[endpoint, variant.name] = (busy + sum(i.outstanding for i in variant.instances),
                                                      instances + len(variant.instances))
        return [(endpoint, name, busy, instances) for (endpoint, name), (busy, instances) in counts.items()]

    def demand(self, endpoint: str, variant: str) -> Demand:
        """What the serverless variant's invocations ask of it now (nothing, for a variant never published)."""
        load = self._loads.get((endpoint, variant)) or _Load()
        idle_s = 0.0 if load.admitted else time.monotonic() - load.ended_at
        return Demand(load.admitted, idle_s, load.busy_s)

    def is_queued(self, endpoint: str) -> bool:
        """Whether the endpoint takes its invocations from its queue only (InvokeEndpointAsync), not directly."""
        table = self._tables.get(endpoint)
        return table is not None and table.queued

    def sole_instance(self, endpoint: str) -> tuple[str, Backend] | None:
        """The endpoint's variant and instance if every invocation of it goes to that one instance: one variant of
        weight above 0, one instance in rotation, no traffic shift, shadow, queue or concurrency cap."""
        table = self._tables.get(endpoint)
        if (table is None or table.queued or table.incoming is not None or table.shadows
                or len(table.variants) != 1):
            return None
        variant = table.variants[0]
        if variant.weight <= 0 or variant.max_concurrency is not None or len(variant.instances) != 1:
            return None
        instance = variant.instances[0]
        return None if instance.is_down else (variant.name, instance.backend)

    def placement(self, endpoint: str) -> list[Placement] | None:
        """The endpoint's published instances, variant by variant; None if it is not published."""
        table = self._tables.get(endpoint)
        if table is None:
            return None
        return [Placement(variant.name, i.backend.instance_id, i.backend.zone, i.outstanding, not i.is_down,
                          i.backend.urls)
                for variant in table.all_variants() for i in variant.instances]

    def add_failure_listener(self, listener: FailureListener) -> None:
        """Call `listener(endpoint, instance_id)` when an instance is taken out of rotation (on the
        event loop's thread: it must return quickly, e.g. by waking the controller)."""
        self._listeners.append(listener)

    def add_demand_listener(self, listener: DemandListener) -> None:
        """Call `listener(endpoint, variant)` when an invocation finds a serverless variant without an instance
        (on the event loop's thread: it must return quickly, e.g. by waking the controller)."""
        self._demand_listeners.append(listener)

    def add_copy_listener(self, listener: CopyListener) -> None:
        """Call `listener(endpoint, meter, status)` when a shadow variant's copy of an invocation has ended (on the
        event loop's thread, as `Publisher.invoked`, which it may be): `meter` names the shadow variant and times
        it, `status` is its model's HTTP status (0: no answer)."""
        self._copy_listeners.append(listener)

    def dropped_copies(self) -> list[tuple[str, str, int]]:
        """(endpoint, shadow variant, copies dropped so far) of each shadow variant published: a running total, which
        begins again at 0 for a shadow variant published anew after it was not."""
        return [(endpoint, variant, copies.dropped) for (endpoint, variant), copies in list(self._copies.items())]

    async def invoke(self, endpoint: str, body: bytes, content_type: str | None, accept: str | None,
                     custom_attributes: str | None, target_variant: str | None,
                     inference_id: str | None, timeout_s: float | None = None,
                     meter: InvocationMeter | None = None) -> Invocation:
        """Call the endpoint's model, waiting `timeout_s` for its answer (default: the router's); `meter` is told
        the variant and the model's time. Raise
        EndpointNotRouted, EndpointNotReady, VariantNotFound, NoVariantWeighted, InstancesUnreachable and
        ModelFailure; for a serverless variant, Throttled and ColdStartTimedOut too."""
        table = await self._table(endpoint)
        variant = _routed(table.pick(target_variant), meter)
        self._loop = self._loop or asyncio.get_running_loop()
        request = Request(body, content_type, accept, custom_attributes, inference_id, timeout_s=timeout_s,
                          meter=meter)
        _admit(variant)
        self._in_flight[endpoint] = self._in_flight.get(endpoint, 0) + 1
        started = None
        try:
            variant = await self._warm(endpoint, variant)
            started = time.monotonic()
            answer = await self._call_variant(endpoint, variant, request)
        finally:
            self._in_flight[endpoint] -= 1
            _release(variant, started)
            self._copy(endpoint, table, request)
        whole = cast(Answer, answer)
        return Invocation(whole.body, whole.content_type, whole.custom_attributes, variant.name)

    async def invoke_stream(self, endpoint: str, body: bytes, content_type: str | None, accept: str | None,
                            custom_attributes: str | None, target_variant: str | None,
                            inference_id: str | None, meter: InvocationMeter | None = None) -> StreamedInvocation:
        """As `invoke`, with the answer's body passed on as it arrives (raising ModelStreamBroken if it
        breaks off); `meter` times the model until the stream is done. The errors before the answer's head are
        `invoke`'s."""
        table = await self._table(endpoint)
        variant = _routed(table.pick(target_variant), meter)
        self._loop = self._loop or asyncio.get_running_loop()
        request = Request(body, content_type, accept, custom_attributes, inference_id, is_streamed=True, meter=meter)
        _admit(variant)
        self._in_flight[endpoint] = self._in_flight.get(endpoint, 0) + 1
        instance: list[_Instance] = []  # the instance answering, once one does
        started: list[float] = []  # when it was sent to an instance

        def done() -> None:
            self._in_flight[endpoint] -= 1
            _release(variant, started[0] if started else None)
            self._copy(endpoint, table, request)
            if instance:
                if meter is not None:
                    meter.model_answered()
                instance[0].outstanding -= 1
                instance[0].answered_at = time.monotonic()

        try:
            variant = await self._warm(endpoint, variant)
            started.append(time.monotonic())
            answer = await self._call_variant(endpoint, variant, request, instance)
        except BaseException:
            done()
            raise
        last = _container_name(len(instance[0].upstreams) - 1, len(instance[0].upstreams) - 1)
        return StreamedInvocation(cast(StreamedAnswer, answer), variant.name, last, done)

    def _copy(self, endpoint: str, table: _Table, request: Request) -> None:
        """Send the invocation's copy to each shadow variant of the table that samples it and has room (a task
        each, started once the caller's call has returned)."""
        live = self._in_flight.get(endpoint, 0) + 1  # the caller's, whose call has just ended, included
        for shadow in table.shadows:
            if random.random() < shadow.share and shadow.admits(live):
                shadow.copies.in_flight += 1
                task = asyncio.get_running_loop().create_task(self._call_shadow(endpoint, shadow, request))
                self._copying.add(task)
                task.add_done_callback(self._copying.discard)

    async def _call_shadow(self, endpoint: str, shadow: _Shadow, request: Request) -> None:
        """One copy: the shadow's answer (read whole, a streamed one too) is discarded, its outcome told to the
        copy listeners; nothing is raised."""
        meter = InvocationMeter()
        meter.routed(shadow.variant.name, len(shadow.variant.instances))
        status = 200
        try:
            await self._call_variant(endpoint, shadow.variant, replace(request, is_streamed=False, meter=meter,
                                                                       timeout_s=None))
        except RoutingError as error:
            status = error.status if isinstance(error, ModelFailure) else 0
        except Exception:
            log.exception("a copy to shadow variant %s of endpoint %s failed", shadow.variant.name, endpoint)
            status = 0
        finally:
            shadow.copies.in_flight -= 1
        for listener in self._copy_listeners:
            try:
                listener(endpoint, meter, status)
            except Exception:
                log.exception("a copy listener failed for endpoint %s", endpoint)

    async def _table(self, endpoint: str) -> _Table:
        """The endpoint's table, waiting up to `hold_s` for it while the endpoint is expected."""
        deadline = time.monotonic() + self.hold_s
        while (table := self._tables.get(endpoint)) is None and endpoint in self._expected:
            if time.monotonic() >= deadline:
                raise EndpointNotReady(endpoint)
            await asyncio.sleep(_HOLD_POLL_S)
        if table is None:
            raise EndpointNotRouted(endpoint)
        return table

    async def _warm(self, endpoint: str, variant: _Variant) -> _Variant:
        """The variant with an instance: a serverless variant scaled to zero asks for one (a cold start) and waits
        for a table that has it, up to `cold_start_s`; any other variant as it is."""
        if variant.instances or variant.load is None:
            return variant
        for listener in self._demand_listeners:
            try:
                listener(endpoint, variant.name)
            except Exception:
                log.exception("a demand listener failed for endpoint %s", endpoint)
        deadline = time.monotonic() + self.cold_start_s
        while time.monotonic() < deadline:
            await asyncio.sleep(_HOLD_POLL_S)
            table = self._tables.get(endpoint)
            published = table.named(variant.name) if table is not None else None
            if published is None:
                raise EndpointNotRouted(endpoint)  # deleted (or changed) meanwhile
            if published.instances:
                return published
        raise ColdStartTimedOut(variant.name)

    async def _call_variant(self, endpoint: str, variant: _Variant, request: Request,
                            answering: list[_Instance] | None = None) -> Answer | StreamedAnswer:
        """Call the least busy instance; if it gave no answer at all, one other. A streamed call's
        instance is put in `answering` and stays counted busy until its stream is done."""
        failed: _Instance | None = None
        for _ in range(2):
            instance = _least_outstanding(variant.instances, failed)
            if instance is None:
                break
            try:
                answer = await self._call_instance(instance, request)
            except NotDelivered:
                self._take_out(endpoint, instance)
                failed = instance
                continue
            if answering is not None:
                answering.append(instance)
            return answer
        raise InstancesUnreachable(variant.name)

    async def _call_instance(self, instance: _Instance, request: Request) -> Answer | StreamedAnswer:
        instance.outstanding += 1
        if request.meter is not None:
            request.meter.model_called()
        try:
            answer = await _call_containers(instance.upstreams, request, request.timeout_s or self.timeout_s)
        except BaseException as raised:
            if isinstance(raised, ModelFailure) and request.meter is not None:  # the model had the request
                request.meter.model_answered()
            if isinstance(raised, ModelFailure) and raised.status:  # the model answered, if with an error
                instance.answered_at = time.monotonic()
            instance.outstanding -= 1
            raise
        if not request.is_streamed:  # a stream's instance stays busy until the stream is done
            instance.outstanding -= 1
            if request.meter is not None:
                request.meter.model_answered()
        instance.answered_at = time.monotonic()
        return answer

    def _take_out(self, endpoint: str, instance: _Instance) -> None:
        if instance.is_down:
            return
        instance.is_down = True
        log.warning("instance %s of endpoint %s is out of rotation: it could not be reached",
                    instance.backend.instance_id, endpoint)
        for listener in self._listeners:
            try:
                listener(endpoint, instance.backend.instance_id)
            except Exception:
                log.exception("a failure listener failed for endpoint %s", endpoint)

    def _variants(self, endpoint: str, routes: Sequence[VariantRoute]) -> tuple[_Variant, ...]:
        return tuple(_Variant(route.name, route.weight, tuple(self._instance(b) for b in route.backends),
                              route.max_concurrency, self._load(endpoint, route)) for route in routes)

    def _shadows(self, endpoint: str, routes: Sequence[VariantRoute], production_weight: float) -> tuple[_Shadow, ...]:
        """The shadow variants, each with the share of invocations copied to it: its weight relative to the
        production weight, capped at 1 (all of them); a shadow of weight 0 gets none."""
        def share(weight: float) -> float:
            return min(weight / production_weight, 1.0) if production_weight > 0 else float(weight > 0)
        return tuple(_Shadow(variant, share(variant.weight), self._copies.setdefault((endpoint, variant.name),
                                                                                      _Copies()))
                     for variant in self._variants(endpoint, routes))

    def _load(self, endpoint: str, variant: VariantRoute) -> _Load | None:
        if variant.max_concurrency is None:
            return None
        return self._loads.setdefault((endpoint, variant.name), _Load())

    def _instance(self, backend: Backend) -> _Instance:
        instance = self._known.get(backend.instance_id)
        if instance is None or instance.backend != backend:
            instance = _Instance(backend, tuple(self._upstream(url) for url in backend.urls))
        return instance

    def _upstream(self, url: str) -> Upstream:
        upstream = self._upstreams.get(url)
        if upstream is None:
            upstream = self._upstreams[url] = Upstream(url)
        return upstream

    def _forget_unused(self) -> None:
        """Forget instances neither published nor busy, and close (on the event loop, which owns
        their connections) the upstreams no published instance uses."""
        published = {i.backend.instance_id: i for table in self._tables.values() for i in table.instances()}
        serverless = {(endpoint, variant.name) for endpoint, table in self._tables.items()
                      for variant in table.all_variants() if variant.load is not None}
        self._loads = {key: load for key, load in self._loads.items() if key in serverless or load.admitted}
        shadows = {(endpoint, shadow.variant.name) for endpoint, table in self._tables.items()
                   for shadow in table.shadows}
        self._copies = {key: copies for key, copies in self._copies.items() if key in shadows or copies.in_flight}
        busy = {key: i for key, i in self._known.items() if i.outstanding > 0 and key not in published}
        self._known = published | busy
        used = {upstream.url for instance in published.values() for upstream in instance.upstreams}
        for url in [url for url in self._upstreams if url not in used]:
            upstream = self._upstreams.pop(url)
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(upstream.close)


@dataclass(frozen=True)
class Request:
    """One invocation as the model's containers receive it (the first one; the others get the previous answer)."""

    body: bytes
    content_type: str | None
    accept: str | None
    custom_attributes: str | None
    inference_id: str | None
    is_streamed: bool = False  # the last container's answer is read as it comes
    timeout_s: float | None = None  # how long the model may take, if not the router's timeout_s (async inference)
    meter: InvocationMeter | None = None  # told how long the model took


class NotDelivered(RoutingError):
    """The first container gave no byte of an answer (unreachable, or it died with the request): it may go
    to another instance."""


async def call_pipeline(upstreams: Sequence[Upstream], request: Request, timeout_s: float) -> Answer:
    """Call one host's containers in order, each answer the next one's input with its Content-Type; the
    last one gets Accept and gives the answer. `timeout_s` bounds them all together. Raise ModelFailure,
    or NotDelivered when the first container gave no byte of an answer.

    The router calls this for endpoints; batch transform calls it for each mini-batch."""
    return cast(Answer, await _call_containers(upstreams, request, timeout_s))


async def _call_containers(upstreams: Sequence[Upstream], request: Request,
                           timeout_s: float) -> Answer | StreamedAnswer:
    """call_pipeline, or for a streamed request the same with the last container's answer streamed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    body, content_type = request.body, request.content_type
    last = len(upstreams) - 1
    for index, upstream in enumerate(upstreams):
        headers = (content_type, request.accept if index == last else None,
                   request.custom_attributes, request.inference_id)
        container, is_first = _container_name(index, last), index == 0
        if index == last and request.is_streamed:
            return await _stream_container(upstream, body, headers, deadline - loop.time(), container, is_first)
        answer = await _call_container(upstream, body, headers, deadline - loop.time(), container, is_first)
        body, content_type = answer.body, answer.content_type
    return answer


async def _call_container(upstream: Upstream, body: bytes, headers: tuple[str | None, ...], timeout_s: float,
                          container: str, is_first: bool) -> Answer:
    try:
        answer = await upstream.invoke(body, headers, max(timeout_s, 0.0))
    except UpstreamError as error:
        raise _routing_error(error, container, is_first) from error
    if not 200 <= answer.status < 300:
        raise ModelFailure(answer.status, answer.body.decode("utf-8", errors="replace"), container)
    return answer


async def _stream_container(upstream: Upstream, body: bytes, headers: tuple[str | None, ...], timeout_s: float,
                            container: str, is_first: bool) -> StreamedAnswer:
    """The container's answer as it comes; an error status's body is read whole for its ModelFailure."""
    try:
        answer = await upstream.stream(body, headers, max(timeout_s, 0.0))
        if not 200 <= answer.status < 300:
            said = b"".join([piece async for piece in answer.pieces])
            raise ModelFailure(answer.status, said.decode("utf-8", errors="replace"), container)
    except UpstreamError as error:
        raise _routing_error(error, container, is_first) from error
    return answer


def _routing_error(error: UpstreamError, container: str, is_first: bool) -> RoutingError:
    """An UpstreamError as the router words it: NotDelivered (another instance may take the request) or ModelFailure.
    (A function, not a context manager around the call: this is every invocation's path.)"""
    if isinstance(error, UpstreamTimeout):
        return ModelFailure(0, f"Your invocation timed out while waiting for a response from container {container}. "
                               "Review the latency metrics for each container in Amazon CloudWatch, resolve the "
                               "issue, and try again.", container)
    if is_first and not error.is_answered:
        return NotDelivered()
    return ModelFailure(0, f"The connection to container {container} closed before it answered.", container)


def _admit(variant: _Variant) -> None:
    """Count the invocation against its serverless variant's MaxConcurrency; Throttled if it has no room."""
    load = variant.load
    if load is None or variant.max_concurrency is None:
        return
    if load.admitted >= variant.max_concurrency:
        raise Throttled(variant.name, variant.max_concurrency)
    load.admitted += 1


def _release(variant: _Variant, started: float | None) -> None:
    """The invocation of a serverless variant is done: it took the instance from `started` (None: it never reached
    one) until now."""
    load = variant.load
    if load is None:
        return
    now = time.monotonic()
    load.admitted -= 1
    load.ended_at = now
    if started is not None:
        load.busy_s += now - started


def _routed(variant: _Variant, meter: InvocationMeter | None) -> _Variant:
    """The variant picked, told to the invocation's meter."""
    if meter is not None:
        meter.routed(variant.name, len(variant.instances))
    return variant


def _least_outstanding(instances: tuple[_Instance, ...], avoid: _Instance | None) -> _Instance | None:
    """The instance with the fewest requests in flight (ties at random), in rotation if any is."""
    candidates = [i for i in instances if not i.is_down and i is not avoid]
    if not candidates:
        candidates = [i for i in instances if i is not avoid]  # a mark may be stale: better than nothing
        if not candidates:
            return None
    if len(candidates) == 1:
        return candidates[0]
    fewest = min(i.outstanding for i in candidates)
    return random.choice([i for i in candidates if i.outstanding == fewest])


def _container_name(index: int, last: int) -> str:
    """How SageMaker names a container in its messages: `primary` alone, else by position."""
    return "primary" if last == 0 else f"container-{index + 1}"
