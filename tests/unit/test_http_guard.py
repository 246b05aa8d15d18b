"""The guarded HTTP protocol in a real uvicorn server on loopback, spoken to over raw sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from modelbay.http_guard import HttpLimits, guarded_protocol
from tests.unit.loopback_server import serving

pytestmark = pytest.mark.anyio

LIMITS = HttpLimits(max_head_bytes=8 * 1024, head_timeout_s=1.0, idle_timeout_s=1.0, body_idle_timeout_s=1.0)
CLOSED_WITHIN_S = 5.0  # each timeout above, plus the guard's check interval, with room to spare


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers how many body bytes it read; /slow takes a moment first."""
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size, more = size + len(message.get("body", b"")), message.get("more_body", False)
    if scope["path"] == "/slow":
        await asyncio.sleep(0.2)
    body = f"received {size}".encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    async with serving(app, guarded_protocol(LIMITS)) as found:
        yield found


async def exchange(port: int, *pieces: bytes, pause_s: float = 0.0) -> bytes:
    """Send the pieces (pausing between them), then read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(pause_s)  # the client's own pace, part of what is tested
        return await asyncio.wait_for(reader.read(), CLOSED_WITHIN_S)
    finally:
        writer.close()


async def test_an_honest_request_is_answered(port: int) -> None:
    answer = await exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"received 3")


async def test_an_oversized_head_is_refused_before_it_ends(port: int) -> None:
    answer = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 64 * 1024)
    assert answer.startswith(b"HTTP/1.1 431 ")


async def test_a_head_that_never_ends_times_out(port: int) -> None:
    answer = await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n")
    assert answer.startswith(b"HTTP/1.1 408 ")


async def test_a_connection_that_sends_nothing_is_closed(port: int) -> None:
    assert await exchange(port) == b""


async def test_a_stalled_body_is_closed(port: int) -> None:
    answer = await exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    assert answer == b""


async def test_a_slow_honest_upload_is_never_cut(port: int) -> None:
    """Longer in all than every timeout, but never silent for long."""
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nConnection: close\r\n\r\n"
    answer = await exchange(port, head, *[b"x"] * 8, pause_s=0.4)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"received 8")


async def test_a_valid_request_pipelined_before_garbage_keeps_its_answer(port: int) -> None:
    answer = await exchange(port, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01 not HTTP\r\n\r\n")
    first, _, rest = answer.partition(b"received 0")
    assert first.startswith(b"HTTP/1.1 200")
    assert rest.startswith(b"HTTP/1.1 400 ") and b"connection: close" in rest

