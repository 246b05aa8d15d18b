"""The HTTP connection as production servers guard it: a bounded request head, and no wait forever.

uvicorn's httptools protocol buffers a request head of any size and waits for a client's bytes
without end (a connection that never sends a byte, a head sent a byte a minute, a body that
stops). `guarded_protocol` returns the protocol with those limits, as nginx sets them:

- a request head (request line and headers) over `max_head_bytes` answers 431 and closes;
- a head not complete `head_timeout_s` after its first byte answers 408 and closes; a connection
  that sends nothing for `idle_timeout_s` before a request is closed;
- a body that sends no byte for `body_idle_timeout_s` while the app waits for it is closed (the
  app sees the client go away). An upload that keeps sending, however slowly, is never cut.

A request the parser refuses (garbage) is answered 400 only once the responses to the requests
before it on the connection are sent: a pipelined valid request keeps its answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

_CHECK_EVERY_S = 1.0  # how often a connection looks at its clock (each timeout is at least this)


@dataclass(frozen=True)
class HttpLimits:
    max_head_bytes: int = 64 * 1024
    head_timeout_s: float = 60.0
    idle_timeout_s: float = 75.0  # as uvicorn's keep-alive between requests
    body_idle_timeout_s: float = 60.0


HTTP_LIMITS = HttpLimits()

def guarded_protocol(limits: HttpLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol under `limits` (for uvicorn.Config's `http`)."""
    class GuardedHttpToolsProtocol(_GuardedProtocol):
        pass

    GuardedHttpToolsProtocol.limits = limits
    return GuardedHttpToolsProtocol


class _GuardedProtocol(HttpToolsProtocol):
    limits = HTTP_LIMITS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes: int | None = 0  # bytes of the request head under way; None once it is complete
        self._head_began = 0.0
        self._last_bytes = self.loop.time()
        self._refusal: tuple[int, str] | None = None  # answered once the responses before it are sent
        self._watch = self.loop.call_later(_CHECK_EVERY_S, self._check_clock)

    def connection_lost(self, exc: Exception | None) -> None:
        self._watch.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._last_bytes = self.loop.time()
        if self._head_bytes == 0:
            self._head_began = self._last_bytes
        if self._head_bytes is not None:
            self._head_bytes += len(data)
        super().data_received(data)  # may complete the head
        if self._head_bytes is not None and self._head_bytes > self.limits.max_head_bytes:
            self._refuse(431, "Request Header Fields Too Large")

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head_bytes = 0  # what comes next is the next request's head
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, msg)

    def on_response_complete(self) -> None:
        if self._refusal is None:
            super().on_response_complete()
        elif self.pipeline:  # the requests queued before the refused one are answered first
            super().on_response_complete()
            self.flow.pause_reading()
        else:
            self.server_state.total_requests += 1
            self._answer_and_close(*self._refusal)

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` and close, after the response under way (and those queued behind it)."""
        if self._refusal is not None or self.transport.is_closing():
            return
        self._refusal = (status, message)
        self.flow.pause_reading()
        if self.cycle is None or self.cycle.response_complete:
            self._answer_and_close(status, message)

    def _answer_and_close(self, status: int, message: str) -> None:
        body = message.encode("ascii")
        self.transport.write(STATUS_LINE[status] + b"content-type: text/plain; charset=utf-8\r\ncontent-length: "
                             + str(len(body)).encode("ascii") + b"\r\nconnection: close\r\n\r\n" + body)
        self.transport.close()

    def _check_clock(self) -> None:
        """Close a connection that has kept the server waiting too long; else look again later."""
        if self.transport.is_closing():
            return
        now, limits = self.loop.time(), self.limits
        if self._head_bytes and not self.flow.read_paused and now - self._head_began > limits.head_timeout_s:
            self._refuse(408, "Request Timeout")
        elif self._head_bytes == 0 and self._is_idle() and now - self._last_bytes > limits.idle_timeout_s:
            self.transport.close()
        elif self._awaits_body() and now - self._last_bytes > limits.body_idle_timeout_s:
            self.logger.warning("closing a connection whose request body stalled for %.0f s", now - self._last_bytes)
            self.transport.close()
        else:
            self._watch = self.loop.call_later(_CHECK_EVERY_S, self._check_clock)

    def _is_idle(self) -> bool:
        """No request under way: uvicorn's keep-alive timer may also be running."""
        return self.cycle is None or self.cycle.response_complete

    def _awaits_body(self) -> bool:
        """The app waits for body bytes that the client has not sent (not held back by us)."""
        cycle = self.cycle
        return (self._head_bytes is None and cycle is not None and cycle.more_body and not cycle.response_complete
                and not cycle.waiting_for_100_continue and not self.flow.read_paused)
