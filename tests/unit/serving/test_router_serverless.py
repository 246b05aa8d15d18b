"""The router's serverless variants: MaxConcurrency admitted at once and the rest throttled, a cold start held
until an instance is published, and the demand and busy time the controller scales and bills by."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import AsyncIterator

import pytest

from modelbay.serving.router import (
    Backend,
    ColdStartTimedOut,
    EndpointNotRouted,
    Router,
    Throttled,
    VariantRoute,
)
from tests.unit.serving.model_servers import Answer, FakeModel, echo, hold
from tests.unit.serving.test_router import invoke

pytestmark = pytest.mark.anyio


@pytest.fixture
async def router() -> AsyncIterator[Router]:
    router = Router(cold_start_s=5)
    yield router
    router.withdraw("ep")


@contextlib.asynccontextmanager
async def started(answer: Answer = echo) -> AsyncIterator[FakeModel]:
    """A fake model server named "m", stopped afterwards."""
    model = await FakeModel("m", answer).start()
    try:
        yield model
    finally:
        await model.stop()


def serverless(max_concurrency: int, *models: FakeModel) -> VariantRoute:
    return VariantRoute("S", 1, tuple(Backend(m.name, "us-east-1a", (m.url,)) for m in models), max_concurrency)


async def until_seen(model: FakeModel, count: int) -> None:
    while len(model.seen) < count:
        await asyncio.sleep(0)


async def test_invocations_past_max_concurrency_are_throttled_at_once(router: Router) -> None:
    async with started(hold) as slow:
        router.publish("ep", [serverless(2, slow)])
        pending = [asyncio.create_task(invoke(router)) for _ in range(2)]
        await until_seen(slow, 2)
        with pytest.raises(Throttled) as throttled:
            await invoke(router)
        assert (throttled.value.variant, throttled.value.max_concurrency) == ("S", 2)
        assert router.demand("ep", "S").admitted == 2
        slow.release.set()
        assert [(await p).body for p in pending] == [b"x|m"] * 2
        assert (await invoke(router)).body == b"x|m"  # room again once they are done


async def test_a_variant_without_an_instance_asks_for_one_and_holds_the_invocation(router: Router) -> None:
    asked: list[tuple[str, str]] = []
    router.add_demand_listener(lambda endpoint, variant: asked.append((endpoint, variant)))
    router.publish("ep", [serverless(1)])
    async with started() as model:
        pending = asyncio.create_task(invoke(router))
        while not asked:
            await asyncio.sleep(0.01)
        assert asked == [("ep", "S")] and not pending.done()
        assert router.demand("ep", "S").admitted == 1  # the controller sees the demand while it starts one
        with pytest.raises(Throttled):  # a waiting invocation counts against MaxConcurrency
            await invoke(router)
        threading.Thread(target=router.publish, args=("ep", [serverless(1, model)])).start()
        assert (await pending).body == b"x|m"


async def test_a_cold_start_that_takes_too_long_or_an_endpoint_withdrawn_meanwhile_fails() -> None:
    router = Router(cold_start_s=0.05)
    router.publish("ep", [serverless(1)])
    with pytest.raises(ColdStartTimedOut):
        await invoke(router)
    router.cold_start_s = 5
    pending = asyncio.create_task(invoke(router))
    await asyncio.sleep(0.02)
    router.withdraw("ep")
    with pytest.raises(EndpointNotRouted):
        await pending
    assert router.demand("ep", "S").admitted == 0


async def test_demand_says_how_long_the_variant_was_idle_and_busy(router: Router) -> None:
    never = router.demand("ep", "S")
    assert (never.admitted, never.idle_s, never.busy_s) == (0, math.inf, 0.0)
    async with started() as model:
        router.publish("ep", [serverless(3, model)])
        for _ in range(3):
            await invoke(router)
    after = router.demand("ep", "S")
    assert after.admitted == 0 and 0 <= after.idle_s < 5 and after.busy_s > 0
    router.publish("ep", [serverless(3)])  # scaled to zero: what it used is kept
    assert router.demand("ep", "S").busy_s == after.busy_s


async def test_a_variant_on_instances_has_no_cap(router: Router) -> None:
    async with started(hold) as slow:
        router.publish("ep", [VariantRoute("A", 1, (Backend("m", "us-east-1a", (slow.url,)),))])
        pending = [asyncio.create_task(invoke(router)) for _ in range(5)]
        await until_seen(slow, 5)
        slow.release.set()
        assert len(await asyncio.gather(*pending)) == 5
