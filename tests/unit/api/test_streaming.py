"""Streamed payloads: read a MiB at a time in a worker thread, closed once sent or once the client
is gone, under both ways Starlette learns of a disconnect."""

from __future__ import annotations

import io

import pytest
from starlette.requests import ClientDisconnect
from starlette.types import Message

from modelbay.api.streaming import CHUNK_BYTES, StreamedPayload, payload_response

pytestmark = pytest.mark.anyio

DATA = b"x" * (3 * CHUNK_BYTES + 5)


class Source(io.BytesIO):
    """A readable stream that records its reads."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.sizes: list[int | None] = []

    def read(self, size: int | None = -1) -> bytes:
        self.sizes.append(size)
        return super().read(size)


async def play(response: object, spec_version: str, fail_after: int | None = None,
               disconnect: bool = False) -> list[Message]:
    """Run an ASGI response; `send` fails once `fail_after` body messages went out, `receive` says
    the client is gone (or waits until the response is over)."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        if fail_after is not None and sum(m["type"] == "http.response.body" for m in sent) == fail_after:
            raise OSError("the client went away")
        sent.append(message)

    async def receive() -> Message:
        if disconnect:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "asgi": {"spec_version": spec_version}}
    await response(scope, receive, send)  # type: ignore[operator]  # an ASGI response
    return sent


async def test_a_stream_is_read_in_chunks_and_closed() -> None:
    source = Source(DATA)
    sent = await play(StreamedPayload(source, 200, {"content-length": str(len(DATA))}), "2.4")
    assert b"".join(m.get("body", b"") for m in sent) == DATA
    assert source.sizes == [CHUNK_BYTES] * 5
    assert source.closed


async def test_a_disconnect_while_sending_closes_the_stream() -> None:
    source = Source(DATA)
    with pytest.raises(ClientDisconnect):
        await play(StreamedPayload(source, 200, {}), "2.4", fail_after=1)
    assert source.closed
    assert len(source.sizes) == 2  # it stopped reading


async def test_a_disconnect_heard_while_streaming_closes_the_stream() -> None:
    source = Source(DATA)
    await play(StreamedPayload(source, 200, {}), "2.3", disconnect=True)
    assert source.closed


async def test_an_iterable_and_plain_values() -> None:
    sent = await play(payload_response(iter([b"a", b"", b"b"]), 200, {}), "2.4")
    assert b"".join(m.get("body", b"") for m in sent) == b"ab"
    for value, body in [(b"raw", b"raw"), ("text ü", "text ü".encode()), (None, b"")]:
        response = payload_response(value, 200, {"content-type": "text/plain"})
        assert (response.body, response.headers["content-type"]) == (body, "text/plain")
