"""What the router tells an invocation's meter: the variant that took it, its instances, the model's time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from modelbay.monitoring.publishing import InvocationMeter
from modelbay.serving.router import Backend, InstancesUnreachable, ModelFailure, Router, VariantRoute
from tests.unit.serving.model_servers import FakeModel, Reply, Seen, closed_port_url, echo, failing

pytestmark = pytest.mark.anyio


async def slow(model: FakeModel, seen: Seen) -> Reply:
    await asyncio.sleep(0.05)
    return await echo(model, seen)


@contextlib.asynccontextmanager
async def serving(*answers: object, urls: tuple[str, ...] = ()) -> AsyncIterator[Router]:
    """A router serving endpoint "ep", variant "v1": one instance per answer (a fake model) or per URL."""
    models = [await FakeModel(f"m{i}", answer).start() for i, answer in enumerate(answers)]  # type: ignore[arg-type]
    backends = [Backend(m.name, "us-east-1a", (m.url,)) for m in models]
    backends += [Backend(f"u{i}", "us-east-1a", (url,)) for i, url in enumerate(urls)]
    router = Router()
    router.publish("ep", [VariantRoute("v1", 1.0, tuple(backends))])
    try:
        yield router
    finally:
        router.withdraw("ep")
        for model in models:
            await model.stop()


async def test_an_answer_times_the_model_and_names_the_variant() -> None:
    async with serving(slow, slow) as router:
        meter = InvocationMeter()
        await router.invoke("ep", b"x", None, None, None, None, None, meter=meter)
    assert (meter.variant, meter.instances) == ("v1", 2)
    assert meter.model_s is not None and 0.05 <= meter.model_s < 5


async def test_a_model_error_is_timed_and_an_unreachable_variant_is_not() -> None:
    async with serving(failing(500, b"no")) as router:
        meter = InvocationMeter()
        with pytest.raises(ModelFailure):
            await router.invoke("ep", b"x", None, None, None, None, None, meter=meter)
    assert meter.variant == "v1" and meter.model_s is not None
    async with serving(urls=(closed_port_url(),)) as router:
        meter = InvocationMeter()
        with pytest.raises(InstancesUnreachable):
            await router.invoke("ep", b"x", None, None, None, None, None, meter=meter)
    assert meter.variant == "v1" and meter.model_s is None


async def test_a_streamed_answer_is_timed_until_its_end() -> None:
    async with serving(slow) as router:
        meter = InvocationMeter()
        stream = await router.invoke_stream("ep", b"x", None, None, None, None, None, meter=meter)
        assert meter.model_s is None  # the answer's head only: the model is still answering
        assert b"".join([piece async for piece in stream]) == b"x|m0"
    assert meter.model_s is not None and meter.model_s >= 0.05


async def test_concurrency_counts_each_variants_requests_in_flight_and_its_instances() -> None:
    async def held(model: FakeModel, seen: Seen) -> Reply:
        await release.wait()
        return await echo(model, seen)
    release = asyncio.Event()
    async with serving(held, held) as router:
        assert router.concurrency() == [("ep", "v1", 0, 2)]
        calls = [asyncio.create_task(router.invoke("ep", b"x", None, None, None, None, None)) for _ in range(3)]
        while router.concurrency() != [("ep", "v1", 3, 2)]:
            await asyncio.sleep(0.01)
        release.set()
        await asyncio.gather(*calls)
        assert router.concurrency() == [("ep", "v1", 0, 2)]
