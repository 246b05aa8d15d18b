"""A real uvicorn server on a free loopback port, for tests of the HTTP protocols modelbay gives it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from modelbay.server import bind


@contextlib.asynccontextmanager
async def serving(app: Any, http: type[asyncio.Protocol], log_level: str = "error") -> AsyncIterator[int]:
    """`app` served with protocol `http` until the block ends; yields the port."""
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, http=http, lifespan="off", log_level=log_level))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
