"""Shadow variants in the router: each invocation copied with the shadow's share, the caller always answered by
production (whatever the shadow does), copies bounded per shadow instance and the rest dropped and counted, and
each copy metered as an invocation of the shadow."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from modelbay.monitoring.publishing import InvocationMeter
from modelbay.serving.router import SHADOW_COPIES_PER_INSTANCE, Router
from tests.unit.serving.conftest import Start
from tests.unit.serving.model_servers import FakeModel, Reply, Seen, echo, failing, hold
from tests.unit.serving.test_router import invoke, variant

pytestmark = pytest.mark.anyio


class Copies:
    """A copy listener: what each ended copy told it."""

    def __init__(self, router: Router) -> None:
        self.ended: list[tuple[str, str | None, int, float | None]] = []
        router.add_copy_listener(self.told)

    def told(self, endpoint: str, meter: InvocationMeter, status: int) -> None:
        self.ended.append((endpoint, meter.variant, status, meter.model_s))

    async def until(self, count: int, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.ended) < count:
            assert time.monotonic() < deadline, f"{len(self.ended)} of {count} copies ended"
            await asyncio.sleep(0.001)

    async def settle(self, router: Router, shadow: FakeModel) -> None:
        """Wait for every copy under way: a task started has its instance counted busy at its first step."""
        await asyncio.sleep(0)
        while router.in_flight(shadow.name) or len(self.ended) < len(shadow.seen):
            await asyncio.sleep(0.001)


async def test_a_shadow_is_copied_its_weight_relative_to_production(router: Router, start: Start) -> None:
    live, shadow = await start("live"), await start("shadow")
    copies = Copies(router)
    router.publish("ep", [variant("Live", 2, live)], shadows=[variant("Shadow", 0.5, shadow)])
    answers = {(await invoke(router)).body for _ in range(2000)}
    await copies.settle(router, shadow)
    # binomial(2000, 0.25): mean 500, sd 19.4; 4.5 sd either side
    assert abs(len(shadow.seen) - 500) < 4.5 * math.sqrt(2000 * 0.25 * 0.75), len(shadow.seen)
    assert answers == {b"x|live"} and len(live.seen) == 2000
    assert len(copies.ended) == len(shadow.seen)


async def test_a_shadow_weighing_as_much_as_production_or_more_gets_every_invocation(router: Router,
                                                                                    start: Start) -> None:
    live, shadow = await start("live"), await start("shadow")
    copies = Copies(router)
    router.publish("ep", [variant("Live", 1, live)], shadows=[variant("Shadow", 3, shadow)])
    for _ in range(100):
        assert (await invoke(router, body=b"y")).body == b"y|live"
    await copies.until(100)
    assert [seen.body for seen in shadow.seen] == [b"y"] * 100
    assert shadow.seen[0].headers["content-type"] == "text/csv"
    assert shadow.seen[0].headers["x-amzn-sagemaker-custom-attributes"] == "attrs"


async def test_a_failing_shadow_changes_nothing_for_the_caller_and_counts_its_errors(router: Router,
                                                                                     start: Start) -> None:
    live, broken = await start("live"), await start("broken", failing(500, b"boom"))
    copies = Copies(router)
    router.publish("ep", [variant("Live", 1, live)], shadows=[variant("Shadow", 1, broken)])
    assert [(await invoke(router)).body for _ in range(20)] == [b"x|live"] * 20
    await copies.until(20)
    assert {(endpoint, name, status) for endpoint, name, status, _ in copies.ended} == {("ep", "Shadow", 500)}


async def test_a_slow_shadow_never_delays_the_caller_and_its_copies_are_bounded(router: Router,
                                                                                start: Start) -> None:
    live, stalled = await start("live"), await start("stalled", hold)
    copies = Copies(router)
    router.publish("ep", [variant("Live", 1, live)], shadows=[variant("Shadow", 1, stalled)])
    began = time.monotonic()
    assert [(await invoke(router)).body for _ in range(50)] == [b"x|live"] * 50
    assert time.monotonic() - began < 5  # the stalled shadow answers nothing until released
    while len(stalled.seen) < SHADOW_COPIES_PER_INSTANCE:
        await asyncio.sleep(0.001)
    assert router.dropped_copies() == [("ep", "Shadow", 50 - SHADOW_COPIES_PER_INSTANCE)]
    assert router.in_flight("stalled") == SHADOW_COPIES_PER_INSTANCE
    stalled.release.set()
    await copies.until(SHADOW_COPIES_PER_INSTANCE)
    assert router.in_flight("stalled") == 0
    assert (await invoke(router)).body == b"x|live"  # room again: this one is copied
    await copies.until(SHADOW_COPIES_PER_INSTANCE + 1)
    assert router.dropped_copies() == [("ep", "Shadow", 50 - SHADOW_COPIES_PER_INSTANCE)]


async def test_the_bound_grows_with_the_shadows_instances(router: Router, start: Start) -> None:
    live, first, second = await start("live"), await start("s1", hold), await start("s2", hold)
    router.publish("ep", [variant("Live", 1, live)], shadows=[variant("Shadow", 1, first, second)])
    for _ in range(3 * SHADOW_COPIES_PER_INSTANCE):
        await invoke(router)
    while len(first.seen) + len(second.seen) < 2 * SHADOW_COPIES_PER_INSTANCE:
        await asyncio.sleep(0.001)
    assert (len(first.seen), len(second.seen)) == (SHADOW_COPIES_PER_INSTANCE, SHADOW_COPIES_PER_INSTANCE)
    assert router.dropped_copies() == [("ep", "Shadow", SHADOW_COPIES_PER_INSTANCE)]
    first.release.set()
    second.release.set()


async def test_the_bound_grows_with_the_endpoints_invocations_in_flight(router: Router, start: Start) -> None:
    """Under 12 callers at once a stalled shadow holds up to twice their number of copies, not 4 per instance."""
    live, stalled = await start("live"), await start("stalled", hold)
    router.publish("ep", [variant("Live", 1, live)], shadows=[variant("Shadow", 1, stalled)])

    async def caller() -> None:
        for _ in range(10):
            assert (await invoke(router)).body == b"x|live"
    await asyncio.gather(*(caller() for _ in range(12)))
    while len(stalled.seen) < router.in_flight("stalled"):
        await asyncio.sleep(0.001)
    assert 3 * SHADOW_COPIES_PER_INSTANCE <= router.in_flight("stalled") <= 2 * 12
    [(_, _, dropped)] = router.dropped_copies()
    assert dropped == 120 - router.in_flight("stalled")
    stalled.release.set()


async def test_a_copy_is_metered_as_an_invocation_of_the_shadow(router: Router, start: Start) -> None:
    async def slow(model: FakeModel, seen: Seen) -> Reply:
        await asyncio.sleep(0.05)
        return await echo(model, seen)

    live, shadow = await start("live"), await start("shadow", slow)
    copies = Copies(router)
    router.publish("ep", [variant("Live", 1, live)], shadows=[variant("Shadow", 1, shadow)])
    meter = InvocationMeter()
    await router.invoke("ep", b"x", None, None, None, None, None, meter=meter)
    await copies.until(1)
    [(endpoint, name, status, model_s)] = copies.ended
    assert (endpoint, name, status, meter.variant) == ("ep", "Shadow", 200, "Live")
    assert model_s is not None and model_s >= 0.05


async def test_a_failed_production_call_is_copied_too(router: Router, start: Start) -> None:
    live, shadow = await start("live", failing(400, b"bad input")), await start("shadow")
    copies = Copies(router)
    router.publish("ep", [variant("Live", 1, live)], shadows=[variant("Shadow", 1, shadow)])
    with pytest.raises(Exception, match="bad input"):
        await invoke(router)
    await copies.until(1)
    assert copies.ended[0][1:3] == ("Shadow", 200)


async def test_a_streamed_invocation_is_copied_once_its_stream_is_done(router: Router, start: Start) -> None:
    live, shadow = await start("live"), await start("shadow")
    copies = Copies(router)
    router.publish("ep", [variant("Live", 1, live)], shadows=[variant("Shadow", 1, shadow)])
    streamed = await router.invoke_stream("ep", b"s", None, None, None, None, None)
    assert shadow.seen == []
    assert b"".join([piece async for piece in streamed]) == b"s|live"
    await copies.until(1)
    assert [seen.body for seen in shadow.seen] == [b"s"]


async def test_shadows_are_not_targets_and_count_among_the_endpoints_instances(router: Router, start: Start) -> None:
    live, shadow = await start("live"), await start("shadow")
    router.publish("ep", [variant("Live", 1, live)], shadows=[variant("Shadow", 1, shadow)])
    with pytest.raises(Exception, match="Shadow"):
        await invoke(router, target="Shadow")
    placement = router.placement("ep")
    assert placement is not None and sorted(p.variant for p in placement) == ["Live", "Shadow"]
    assert sorted(router.concurrency()) == [("ep", "Live", 0, 1), ("ep", "Shadow", 0, 1)]


async def test_a_shadow_of_weight_zero_gets_nothing_and_negative_weights_are_refused(router: Router,
                                                                                     start: Start) -> None:
    live, shadow = await start("live"), await start("shadow")
    router.publish("ep", [variant("Live", 1, live)], shadows=[variant("Shadow", 0, shadow)])
    copies = Copies(router)
    for _ in range(50):
        await invoke(router)
    await copies.settle(router, shadow)
    assert shadow.seen == [] and copies.ended == []
    with pytest.raises(ValueError, match="at least 0"):
        router.publish("ep", [variant("Live", 1, live)], shadows=[variant("Shadow", -1, shadow)])
