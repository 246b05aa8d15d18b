"""What the router's tests share: a router, and fake model servers started on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from modelbay.serving.router import Router
from tests.unit.serving.model_servers import Answer, FakeModel, echo

Start = Callable[..., Awaitable[FakeModel]]


@pytest.fixture
async def router() -> AsyncIterator[Router]:
    router = Router()
    yield router
    router.withdraw("ep")  # closes its connections


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Start a fake model server (stopped after the test)."""
    started: list[FakeModel] = []

    async def start_one(name: str, answer: Answer = echo) -> FakeModel:
        started.append(await FakeModel(name, answer).start())
        return started[-1]

    yield start_one
    for model in started:
        await model.stop()
