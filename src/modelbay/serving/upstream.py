"""Calls to one model server: POST /invocations over pooled keep-alive HTTP/1.1 connections.

Written for the data plane's speed: one asyncio Protocol per connection, responses parsed by
httptools, the request written in one piece (head and body apart only when the body is large),
no per-call timer task (a timeout is one `call_later` on the connection).

A failed call says whether any of the model server's answer arrived (`is_answered`), which is
what decides whether a router may send it elsewhere: inference is expected to be free of side
effects (SageMaker's contract for /invocations), so a request whose connection could not be made,
or broke before a byte of the answer came (the server died with it), may be sent again once.
A pooled connection the server has closed while it sat idle is found out before it is used
(a non-blocking peek, once it has been idle `TRUSTED_IDLE_S`), so that it is never mistaken for a live one; an
idle connection is also retired after `IDLE_S`, before servers with short keep-alive timeouts (gunicorn's 2 s)
close it.

`stream` reads the answer as it arrives (a chunked one piece by piece): the call returns once the
status and headers are in, and its body's pieces follow, reading from the model server paused while
`MAX_BUFFERED_BYTES` wait for the caller; the call's timeout still bounds the whole answer.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import time
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

IDLE_S = 1.0  # how long an idle connection is kept for reuse
# A connection idle for less is reused without a look (a syscall): no server closes a keep-alive connection that
# soon without saying so in its last answer, which the parser reads (one that goes down is a failed call, retried).
TRUSTED_IDLE_S = 0.05
MAX_IDLE = 64  # idle connections kept per model server
MAX_BUFFERED_BYTES = 1024 * 1024  # of a streamed answer not yet taken by its caller
_SPLIT_BODY_BYTES = 64 * 1024  # a larger body is written apart from the head, not copied into it
_INVOCATIONS = b"POST /invocations HTTP/1.1\r\nHost: "
_OPTIONAL_HEADERS = (b"Content-Type", b"Accept", b"X-Amzn-SageMaker-Custom-Attributes",
                     b"X-Amzn-SageMaker-Inference-Id")


@dataclass(frozen=True)
class Answer:
    """A model server's response: status, the headers a caller passes on, and the body."""

    status: int
    content_type: str | None
    custom_attributes: str | None
    body: bytes


@dataclass(frozen=True)
class StreamedAnswer:
    """A model server's response whose body is read as it arrives: `pieces` yields it, raising
    UpstreamError (UpstreamTimeout) if it breaks off. Close `pieces` if it is not read to its end."""

    status: int
    content_type: str | None
    custom_attributes: str | None
    pieces: Pieces


class UpstreamError(Exception):
    """A call that got no answer. `is_answered` is False when no byte of an answer arrived (so the
    request may be sent to another server)."""

    def __init__(self, message: str, is_answered: bool) -> None:
        super().__init__(message)
        self.is_answered = is_answered


class UpstreamTimeout(UpstreamError):
    """The server took longer than the call's timeout to answer."""


class Upstream:
    """One model server (`http://host:port`) and its idle connections. Use from one event loop."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"a model server URL is http://host:port, not {url!r}")
        self.url = url
        self.address = (parts.hostname, parts.port)
        self._host_line = f"{parts.hostname}:{parts.port}\r\n".encode("ascii")
        self._idle: list[_Connection] = []
        self._is_closed = False

    async def invoke(self, body: bytes, headers: tuple[str | None, ...], timeout_s: float) -> Answer:
        """POST the body to /invocations. `headers` are the values of Content-Type, Accept,
        X-Amzn-SageMaker-Custom-Attributes and X-Amzn-SageMaker-Inference-Id, None for absent
        ones. Raise UpstreamError (UpstreamTimeout after `timeout_s`)."""
        connection = self._reusable() or await self._connect()
        return cast(Answer, await connection.call(self._request_head(body, headers), body, timeout_s, False))

    async def stream(self, body: bytes, headers: tuple[str | None, ...], timeout_s: float) -> StreamedAnswer:
        """As `invoke`, but return once the status and headers are in; the body follows in `pieces`."""
        connection = self._reusable() or await self._connect()
        return cast(StreamedAnswer, await connection.call(self._request_head(body, headers), body, timeout_s, True))

    def close(self) -> None:
        """Close the idle connections, and the busy ones as their calls end."""
        self._is_closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def release(self, connection: _Connection) -> None:
        """Take back a connection whose call ended with a complete, keep-alive response."""
        if not self._is_closed and len(self._idle) < MAX_IDLE:
            self._idle.append(connection)
        else:
            connection.close()

    def _reusable(self) -> _Connection | None:
        """The most recently used idle connection that is still open, closing stale ones on the way."""
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            idle_s = now - connection.idle_since
            if idle_s < IDLE_S and (idle_s < TRUSTED_IDLE_S or connection.is_open()):
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await loop.sock_connect(sock, self.address)
            _, connection = await loop.create_connection(lambda: _Connection(self, sock), sock=sock)
        except OSError as error:
            sock.close()
            reason = error.strerror or error
            raise UpstreamError(f"cannot connect to {self.url}: {reason}", is_answered=False) from None
        return connection

    def _request_head(self, body: bytes, headers: tuple[str | None, ...]) -> bytes:
        lines = [_INVOCATIONS, self._host_line]
        for name, value in zip(_OPTIONAL_HEADERS, headers, strict=True):
            if value is not None:
                lines += [name, b": ", value.encode("latin-1"), b"\r\n"]
        lines += [b"Content-Length: ", str(len(body)).encode("ascii"), b"\r\n\r\n"]
        return b"".join(lines)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one call at a time, its response parsed by httptools."""

    def __init__(self, upstream: Upstream, sock: socket.socket) -> None:
        self._upstream = upstream
        self._sock = sock  # only to peek at while open; the transport owns its descriptor
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Answer | StreamedAnswer] | None = None
        self._is_streamed = False  # the call's waiter gets the head, and `_pieces` the body
        self._pieces: Pieces | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._is_responding = False  # a byte of the response has arrived
        self._status = 0
        self._headers: dict[bytes, str] = {}
        self._body: list[bytes] = []
        self.idle_since = 0.0

    # -- the call ---------------------------------------------------------------------------

    async def call(self, head: bytes, body: bytes, timeout_s: float, is_streamed: bool) -> Answer | StreamedAnswer:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise UpstreamError(f"the connection to {self._upstream.url} closed", is_answered=False)
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        self._timer = loop.call_later(timeout_s, self._time_out, timeout_s)
        self._is_responding, self._is_streamed = False, is_streamed
        self._status, self._headers, self._body = 0, {}, []
        if len(body) <= _SPLIT_BODY_BYTES:
            transport.write(head + body)
        else:
            transport.writelines((head, body))
        answer: Answer | StreamedAnswer = await waiter
        return answer

    def is_open(self) -> bool:
        """Whether the connection is usable: open here, and not closed by the server while idle."""
        if self._transport is None or self._transport.is_closing():
            return False
        try:
            self._sock.recv(1, socket.MSG_PEEK)  # the end (b""), or bytes nobody asked for: not usable
        except BlockingIOError:
            return True  # nothing to read: open and idle
        except OSError:
            pass
        return False

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abandon(self, pieces: Pieces) -> None:
        """The caller stops reading a streamed answer: if its end has not come, the connection is closed."""
        if self._pieces is pieces:
            self._pieces = None
            self._cancel_timer()
            self.close()

    def pause_reading(self, is_paused: bool) -> None:
        """Stop (or go on) reading from the model server while a streamed answer's caller catches up."""
        if self._transport is not None and not self._transport.is_closing():
            (self._transport.pause_reading if is_paused else self._transport.resume_reading)()

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None and self._pieces is None:  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        self._is_responding = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(UpstreamError(f"{self._upstream.url} answered with malformed HTTP: {error}", True))
            self.close()

    def eof_received(self) -> bool:
        if (self._waiter is not None or self._pieces is not None) and self._status and not self._is_framed():
            self._complete()  # a response without a length ends when the connection does
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._sock.detach()  # the transport closed the descriptor
        if self._waiter is not None or self._pieces is not None:
            self._fail(UpstreamError(f"the connection to {self._upstream.url} closed before it answered",
                                     self._is_responding))

    # -- httptools callbacks ------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        if self._is_streamed and self._status >= 200:
            self._answer_head()

    def on_body(self, body: bytes) -> None:
        if self._pieces is not None:
            self._pieces.put(body)
        else:
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self._status >= 200:  # a 1xx interim response is followed by the real one
            self._complete()

    # -- ending a call ------------------------------------------------------------------------

    def _answer_head(self) -> None:
        """A streamed call's answer: its head now, its body in pieces as it comes."""
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():  # the caller is gone
            self._cancel_timer()
            self.close()
            return
        self._pieces = Pieces(self)
        headers = self._headers
        waiter.set_result(StreamedAnswer(self._status, headers.get(b"content-type"),
                                         headers.get(b"x-amzn-sagemaker-custom-attributes"), self._pieces))

    def _complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        pieces, self._pieces = self._pieces, None
        self._cancel_timer()
        if pieces is not None:
            pieces.end()
        elif waiter is None or waiter.done():
            return
        else:
            headers = self._headers
            waiter.set_result(Answer(self._status, headers.get(b"content-type"),
                                     headers.get(b"x-amzn-sagemaker-custom-attributes"), b"".join(self._body)))
        if self._parser.should_keep_alive() and self._transport is not None and self._is_framed():
            self.idle_since = time.monotonic()
            self._upstream.release(self)
        else:
            self.close()

    def _fail(self, error: UpstreamError) -> None:
        waiter, self._waiter = self._waiter, None
        pieces, self._pieces = self._pieces, None
        self._cancel_timer()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        if pieces is not None:
            pieces.end(error)

    def _time_out(self, timeout_s: float) -> None:
        self._timer = None
        self._fail(UpstreamTimeout(f"{self._upstream.url} did not answer within {timeout_s:g} s", True))
        self.close()  # the late answer must not be read as the next call's

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _is_framed(self) -> bool:
        """Whether the response says where it ends (a length or chunks), so the connection can be reused."""
        return b"content-length" in self._headers or b"transfer-encoding" in self._headers


class Pieces:
    """The body of a streamed answer, in the pieces it arrived in, for one reader on the connection's loop."""

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection
        self._queue: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._is_paused = False
        self._is_ended = False
        self._error: UpstreamError | None = None
        self._wakeup: asyncio.Future[None] | None = None

    def put(self, piece: bytes) -> None:
        self._queue.append(piece)
        self._buffered += len(piece)
        if self._buffered > MAX_BUFFERED_BYTES and not self._is_paused:
            self._is_paused = True
            self._connection.pause_reading(True)
        self._wake()

    def end(self, error: UpstreamError | None = None) -> None:
        """The answer is whole (no error), or broke off: its reader gets the pieces before, then the error."""
        self._is_ended, self._error = True, error
        self._wake()

    def __aiter__(self) -> Pieces:
        return self

    async def __anext__(self) -> bytes:
        while not self._queue:
            if self._error is not None:
                raise self._error
            if self._is_ended:
                raise StopAsyncIteration
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup
        piece = self._queue.popleft()
        self._buffered -= len(piece)
        if self._is_paused and self._buffered <= MAX_BUFFERED_BYTES // 2:
            self._is_paused = False
            self._connection.pause_reading(False)
        return piece

    async def aclose(self) -> None:
        """Stop reading: an answer whose end has not come closes its connection."""
        self._is_ended = True
        self._queue.clear()
        self._connection.abandon(self)

    def _wake(self) -> None:
        wakeup, self._wakeup = self._wakeup, None
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)
