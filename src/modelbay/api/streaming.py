"""Raw response payloads (a blob or string member that is the whole body), streamed when a service
gives a stream: an S3 object, a model's answer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.to_thread
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

CHUNK_BYTES = 1024 * 1024


def payload_response(value: Any, status: int, headers: Mapping[str, str]) -> Response:
    """The body a raw payload makes: bytes or text as they are, None as nothing, a readable binary
    stream or an iterable of bytes streamed (see StreamedPayload). Give a Content-Length header
    with a stream, or it is sent chunked."""
    if value is None:
        value = b""
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return Response(bytes(value), status, dict(headers))
    return StreamedPayload(value, status, headers)


class StreamedPayload(StreamingResponse):
    """A body read from a blocking source in a worker thread, a MiB at a time (`read(n)` when it
    has one, else iteration), and closed (when it has `close`) once sent or once the client is gone."""

    def __init__(self, source: Any, status: int, headers: Mapping[str, str]) -> None:
        self.source = source
        super().__init__(_Chunks(source), status, dict(headers))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.source, "close", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(close)


class _Chunks:
    """An async iterator over a blocking source's pieces, each fetched in a worker thread."""

    def __init__(self, source: Any) -> None:
        read = getattr(source, "read", None)
        if read is not None:
            self._next: Callable[[], bytes | None] = lambda: read(CHUNK_BYTES) or None
        else:
            pieces = iter(source)
            self._next = lambda: next(pieces, None)

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        piece = await anyio.to_thread.run_sync(self._next)
        if piece is None:
            raise StopAsyncIteration
        return piece
