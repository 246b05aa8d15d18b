"""The router against fake model servers on loopback: variant weights, TargetVariant, least
outstanding requests, atomic tables, pipelines, retries and timeouts."""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from modelbay.serving.router import (
    Backend,
    EndpointNotReady,
    EndpointNotRouted,
    InstancesUnreachable,
    Invocation,
    ModelFailure,
    ModelStreamBroken,
    NoVariantWeighted,
    Router,
    TrafficShift,
    VariantNotFound,
    VariantRoute,
)
from tests.unit.serving.conftest import Start
from tests.unit.serving.model_servers import (
    Answer,
    FakeModel,
    Reply,
    Seen,
    closed_port_url,
    failing,
    hold,
)

pytestmark = pytest.mark.anyio

# The chi-square statistic's critical values at p = 0.00001, by degrees of freedom: a fair router fails this test
# once in 100,000 runs, a biased one (a weight off by half, over 3,000 picks) almost always.
CHI_SQUARE_P00001 = {1: 19.511, 2: 23.026, 3: 25.902}


def variant(name: str, weight: float, *models: FakeModel) -> VariantRoute:
    return VariantRoute(name, weight, tuple(Backend(m.name, "us-east-1a", (m.url,)) for m in models))


async def invoke(router: Router, body: bytes = b"x", target: str | None = None, endpoint: str = "ep") -> Invocation:
    return await router.invoke(endpoint, body, "text/csv", "application/json", "attrs", target, None)


def chi_square(observed: Sequence[int], weights: Sequence[float]) -> float:
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    return sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))


async def test_variants_are_picked_in_proportion_to_weight(router: Router, start: Start) -> None:
    a, b, c, zero = [await start(n) for n in ("a", "b", "c", "zero")]
    router.publish("ep", [variant("A", 1, a), variant("B", 2, b), variant("Zero", 0, zero), variant("C", 3, c)])
    picks = collections.Counter([(await invoke(router)).variant for _ in range(3000)])
    assert picks["Zero"] == 0
    statistic = chi_square([picks["A"], picks["B"], picks["C"]], [1, 2, 3])
    assert statistic < CHI_SQUARE_P00001[2], picks


async def test_target_variant_wins_over_weights(router: Router, start: Start) -> None:
    a, zero = [await start(n) for n in ("a", "zero")]
    router.publish("ep", [variant("A", 1, a), variant("Zero", 0, zero)])
    got = await invoke(router, target="Zero")
    assert (got.variant, got.body) == ("Zero", b"x|zero")
    with pytest.raises(VariantNotFound):
        await invoke(router, target="Nope")


async def test_all_weights_zero_is_an_error_unless_a_variant_is_named(router: Router, start: Start) -> None:
    a = await start("a")
    router.publish("ep", [variant("A", 0, a)])
    with pytest.raises(NoVariantWeighted):
        await invoke(router)
    assert (await invoke(router, target="A")).variant == "A"


async def test_the_model_gets_the_headers_and_its_answer_comes_back(router: Router, start: Start) -> None:
    a = await start("a")
    router.publish("ep", [variant("A", 1, a)])
    got = await router.invoke("ep", b"1,2", "text/csv", "application/json", "k=v", None, "id-1")
    assert got == Invocation(b"1,2|a", "application/x-a", "k=v;a", "A")
    seen = a.seen[0]
    assert (seen.headers["content-type"], seen.headers["accept"]) == ("text/csv", "application/json")
    assert seen.headers["x-amzn-sagemaker-custom-attributes"] == "k=v"
    assert seen.headers["x-amzn-sagemaker-inference-id"] == "id-1"


async def test_least_outstanding_instance_is_chosen(router: Router, start: Start) -> None:
    slow = [await start(name, hold) for name in ("s1", "s2", "s3")]
    router.publish("ep", [variant("A", 1, *slow)])
    pending = [asyncio.create_task(invoke(router)) for _ in range(6)]
    while sum(len(m.seen) for m in slow) < 6:
        await asyncio.sleep(0)  # let the requests reach the servers
    assert [len(m.seen) for m in slow] == [2, 2, 2]
    assert router.outstanding("ep") == 6
    assert [router.in_flight(name) for name in ("s1", "s2", "s3")] == [2, 2, 2]
    for model in slow:
        model.release.set()
    await asyncio.gather(*pending)
    assert router.outstanding("ep") == 0


async def test_pipeline_containers_are_called_in_order(router: Router, start: Start) -> None:
    first, second, third = [await start(n) for n in ("one", "two", "three")]
    router.publish("ep", [VariantRoute("A", 1, (Backend("i-1", "z", (first.url, second.url, third.url)),))])
    got = await invoke(router, b"in")
    assert got == Invocation(b"in|one|two|three", "application/x-three", "attrs;three", "A")
    assert [m.seen[0].headers["content-type"] for m in (first, second, third)] == [
        "text/csv", "application/x-one", "application/x-two"]
    assert [m.seen[0].headers.get("accept") for m in (first, second, third)] == [None, None, "application/json"]


async def test_a_dead_instance_is_skipped_and_reported(router: Router, start: Start) -> None:
    alive = await start("alive")
    reported: list[tuple[str, str]] = []
    router.add_failure_listener(lambda endpoint, instance: reported.append((endpoint, instance)))
    dead = Backend("dead", "z", (closed_port_url(),))
    router.publish("ep", [VariantRoute("A", 1, (dead, Backend("alive", "z", (alive.url,))))])
    answers = [await invoke(router) for _ in range(10)]
    assert {a.body for a in answers} == {b"x|alive"}
    assert reported == [("ep", "dead")]
    assert router.out_of_rotation("ep") == {"dead"}
    router.publish("ep", [VariantRoute("A", 1, (dead, Backend("alive", "z", (alive.url,))))])
    assert router.out_of_rotation("ep") == {"dead"}  # still out until the controller replaces it


async def test_a_killed_instance_fails_no_request(router: Router, start: Start) -> None:
    """An instance that dies between requests (its pooled connections shut, its port closed): every
    later request is answered by the other instance."""
    a, b = [await start(n) for n in ("a", "b")]
    router.publish("ep", [variant("A", 1, a, b)])
    await asyncio.gather(*(invoke(router) for _ in range(20)))  # both have pooled connections now
    a.kill()
    answers = await asyncio.gather(*(invoke(router) for _ in range(20)))
    assert {answer.body for answer in answers} == {b"x|b"}
    assert router.out_of_rotation("ep") == {"a"}


async def test_no_reachable_instance(router: Router, start: Start) -> None:
    router.publish("ep", [VariantRoute("A", 1, (Backend("d1", "z", (closed_port_url(),)),
                                                Backend("d2", "z", (closed_port_url(),))))])
    with pytest.raises(InstancesUnreachable):
        await invoke(router)
    assert router.out_of_rotation("ep") == {"d1", "d2"}


async def test_model_errors_carry_status_and_message(router: Router, start: Start) -> None:
    broken = await start("broken", failing(500, b"boom"))
    router.publish("ep", [variant("A", 1, broken)])
    with pytest.raises(ModelFailure) as caught:
        await invoke(router)
    assert (caught.value.status, caught.value.message, caught.value.container) == (500, "boom", "primary")


async def test_a_slow_model_times_out(router: Router, start: Start) -> None:
    router.timeout_s = 0.05
    slow = await start("slow", hold)
    router.publish("ep", [variant("A", 1, slow)])
    with pytest.raises(ModelFailure) as caught:
        await invoke(router)
    assert caught.value.status == 0
    assert "timed out while waiting for a response from container primary" in caught.value.message


async def test_withdraw_refuses_new_requests_and_lets_old_ones_finish(router: Router, start: Start) -> None:
    slow = await start("slow", hold)
    router.publish("ep", [variant("A", 1, slow)])
    pending = asyncio.create_task(invoke(router))
    while not slow.seen:
        await asyncio.sleep(0)
    router.withdraw("ep")
    with pytest.raises(EndpointNotRouted):
        await invoke(router)
    assert (router.outstanding("ep"), router.in_flight("slow")) == (1, 1)
    slow.release.set()
    assert (await pending).body == b"x|slow"
    assert (router.outstanding("ep"), router.in_flight("slow")) == (0, 0)


async def test_publishing_from_another_thread_swaps_whole_tables(router: Router, start: Start) -> None:
    """While a thread keeps publishing one table or the other, every answer comes from a backend of
    the variant it names: an invocation never sees half a table."""
    one, two = [await start(n) for n in ("one", "two")]
    tables = [[variant("V1", 1, one)], [variant("V2", 1, two)]]
    router.publish("ep", tables[0])
    stop = threading.Event()

    def keep_publishing() -> None:
        while not stop.is_set():
            for table in tables:
                router.publish("ep", table)
                time.sleep(0.0001)  # as a controller does between passes: without it, the loop barely gets the GIL

    publisher = threading.Thread(target=keep_publishing)
    publisher.start()
    try:
        answers = [await invoke(router) for _ in range(100)]
    finally:
        stop.set()
        publisher.join()
    pairs = {(a.variant, a.body) for a in answers}
    assert pairs <= {("V1", b"x|one"), ("V2", b"x|two")}


async def test_an_expected_endpoint_is_held_until_its_table_is_published(router: Router, start: Start) -> None:
    """A server starting again: the endpoint serves, its routes come a moment later."""
    model = await start("m")
    router.expect(["ep"])
    pending = asyncio.create_task(invoke(router))
    await asyncio.sleep(0.05)  # the invocation is held meanwhile, not refused
    assert not pending.done()
    threading.Thread(target=router.publish, args=("ep", [variant("A", 1, model)])).start()
    assert (await pending).body == b"x|m"
    with pytest.raises(EndpointNotRouted):  # only the expected endpoints are held
        await invoke(router, endpoint="other")


async def test_an_expected_endpoint_not_published_in_time_is_not_ready() -> None:
    router = Router(hold_s=0.05)
    router.expect(["ep"])
    with pytest.raises(EndpointNotReady):
        await invoke(router)


async def test_a_withdrawn_expected_endpoint_is_not_found(router: Router) -> None:
    router.expect(["ep", "gone"])
    router.withdraw("gone")
    with pytest.raises(EndpointNotRouted):
        await invoke(router, endpoint="gone")


def streaming(then: bytes | None) -> Answer:
    """Answers "first " at once, and `then` (None: cuts the connection) once `model.release` is set."""
    async def answer(model: FakeModel, seen: Seen) -> Reply:
        async def rest() -> bytes | None:
            await model.release.wait()
            return then
        return Reply(200, {"Content-Type": "text/event-stream"}, b"first ", (rest,))
    return answer


async def test_a_streamed_answer_comes_piece_by_piece_and_counts_in_flight_until_read(
        router: Router, start: Start) -> None:
    model = await start("m", streaming(b"then"))
    router.publish("ep", [variant("A", 1, model)])
    invocation = await router.invoke_stream("ep", b"x", "text/plain", None, None, None, None)
    assert (invocation.content_type, invocation.variant) == ("text/event-stream", "A")
    assert await invocation.__anext__() == b"first "  # while the model still holds the rest
    assert (router.outstanding("ep"), router.in_flight("m")) == (1, 1)
    model.release.set()
    assert [piece async for piece in invocation] == [b"then"]
    assert (router.outstanding("ep"), router.in_flight("m")) == (0, 0)
    assert (await invoke(router)).body == b"first then"  # the connection serves on; invoke reads the stream whole


@pytest.mark.parametrize(("then", "is_timeout"), [(None, False), (b"late", True)])
async def test_a_stream_that_breaks_off_or_runs_late_says_which(router: Router, start: Start, then: bytes | None,
                                                                is_timeout: bool) -> None:
    model = await start("m", streaming(then))
    router.publish("ep", [variant("A", 1, model)])
    router.timeout_s = 0.3 if is_timeout else 30
    invocation = await router.invoke_stream("ep", b"x", "text/plain", None, None, None, None)
    assert await invocation.__anext__() == b"first "
    if not is_timeout:
        model.release.set()
    with pytest.raises(ModelStreamBroken) as caught:
        await invocation.__anext__()
    assert (caught.value.is_timeout, caught.value.container) == (is_timeout, "primary")
    assert (router.outstanding("ep"), router.in_flight("m")) == (0, 0)


async def test_closing_a_stream_early_frees_the_instance(router: Router, start: Start) -> None:
    model = await start("m", streaming(b"never read"))
    router.publish("ep", [variant("A", 1, model)])
    invocation = await router.invoke_stream("ep", b"x", "text/plain", None, None, None, None)
    await invocation.aclose()
    assert (router.outstanding("ep"), router.in_flight("m")) == (0, 0)
    model.release.set()
    assert (await invoke(router)).body == b"first never read"  # on a new connection: the unfinished one closed


async def test_an_endpoint_published_as_queued_says_so_until_published_otherwise(router: Router) -> None:
    backend = Backend("i-1", "z", ("http://127.0.0.1:9",))
    router.publish("ep", [VariantRoute("A", 1, (backend,))], queued=True)
    assert router.is_queued("ep") and not router.is_queued("other")
    router.publish("ep", [VariantRoute("A", 1, (backend,))])
    assert not router.is_queued("ep")


def one_instance(name: str) -> Backend:
    return Backend(name, "us-east-1a", (f"http://127.0.0.1:9/{name}",))


async def test_an_endpoint_of_one_variant_on_one_instance_has_a_sole_instance(router: Router) -> None:
    router.publish("ep", [VariantRoute("a", 1.0, (one_instance("i1"),))])
    assert router.sole_instance("ep") == ("a", one_instance("i1"))
    assert router.sole_instance("unknown") is None


@pytest.mark.parametrize("table", [
    {"variants": [VariantRoute("a", 1.0, (one_instance("i1"),)), VariantRoute("b", 1.0, (one_instance("i2"),))]},
    {"variants": [VariantRoute("a", 0.0, (one_instance("i1"),))]},
    {"variants": [VariantRoute("a", 1.0, (one_instance("i1"), one_instance("i2")))]},
    {"variants": [VariantRoute("a", 1.0, (one_instance("i1"),), max_concurrency=2)]},
    {"variants": [VariantRoute("a", 1.0, (one_instance("i1"),))], "queued": True},
    {"variants": [VariantRoute("a", 1.0, (one_instance("i1"),))],
     "shadows": [VariantRoute("s", 1.0, (one_instance("i2"),))]},
    {"variants": [VariantRoute("a", 1.0, (one_instance("i1"),))],
     "shift": TrafficShift((VariantRoute("b", 1.0, (one_instance("i2"),)),), 0.5)},
], ids=["two variants", "no weight", "two instances", "serverless", "asynchronous", "shadowed", "shifting"])
async def test_an_endpoint_whose_invocations_may_go_elsewhere_has_none(router: Router, table: dict[str, Any]) -> None:
    router.publish("ep", **table)
    assert router.sole_instance("ep") is None
