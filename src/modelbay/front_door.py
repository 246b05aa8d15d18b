"""The front door: a call to a model answered on the connection, without ASGI.

uvicorn makes each request an ASGI scope and a task that runs the app; for an invocation of a light model, that
machinery and Starlette's cost several times the model's own work. So the API port's protocol reads a request to a
model itself — `POST /endpoints/<name>/invocations` in HTTP/1.1, no query string, its body framed by a
Content-Length within the codec's limit, not held back behind `Expect: 100-continue`, unsigned or signed for
sagemaker-runtime — and has the InvocationLane (api/invocation_lane.py) answer it once its body is in. The response
is written to the transport in one piece. Every other request goes uvicorn's way, unchanged: also a request to a
model that comes while the response before it is still being written (pipelined requests are answered in order),
one the lane hands back (to be answered and audited as any call), and a response the lane cannot write in one piece
(a stream), which uvicorn's request cycle sends.

The protocol sits under http_guard's in the class order, so its limits and timeouts hold for every request; to
uvicorn's protocol and the guard, a call the lane answers looks like a request cycle under way (`_LaneCall`).

With the direct data plane (front_door_handoff.py), a connection whose invocation the lane answered with a 2XX, kept
alive with nothing of a next request read, may be handed to the endpoint's model server; one it hands back is served
by this protocol again, the bytes the model server read of it parsed first.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from typing import Any, cast

from starlette.responses import Response, StreamingResponse
from uvicorn._types import ASGI3Application, HTTPScope
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from modelbay.api.invocation_lane import InvocationLane
from modelbay.front_door_handoff import Handoffs
from modelbay.http_guard import HttpLimits, guarded_protocol

log = logging.getLogger(__name__)

_INVOCATION = re.compile(rb"/endpoints/[A-Za-z0-9-]+/invocations")  # names as SageMaker allows them


class _NoEvent:
    """What uvicorn's protocol sets when a connection is lost; the lane's calls wait on nothing."""

    def set(self) -> None:
        pass


_NO_EVENT = _NoEvent()


class _LaneCall:
    """A request the lane answers, as uvicorn's protocol and the guard see a request cycle: whether its response is
    complete, whether the connection stays open after it, whether the client went away, whether its body is in."""

    __slots__ = ("scope", "body", "keep_alive", "response_complete", "disconnected", "more_body")
    waiting_for_100_continue = False
    message_event = _NO_EVENT

    def __init__(self, scope: dict[str, Any], keep_alive: bool) -> None:
        self.scope = scope
        self.body = bytearray()
        self.keep_alive = keep_alive
        self.response_complete = False
        self.disconnected = False
        self.more_body = True


class _LaneProtocol(HttpToolsProtocol):
    lane: InvocationLane
    handoffs: Handoffs | None = None  # the direct data plane's (front_door_handoff.py)
    _receiving = False  # part of a request is read
    _handed_back = b""  # what a model server read of a connection it handed back: parsed before what follows

    @classmethod
    def handed_back(cls, config: Config, server_state: ServerState, app_state: dict[str, Any],
                    data: bytes) -> _LaneProtocol:
        """The protocol of a connection a model server handed back, having read `data` of it."""
        protocol = cls(config=config, server_state=server_state, app_state=app_state)
        protocol._handed_back = data
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        if self._handed_back:
            data, self._handed_back = self._handed_back, b""
            self.data_received(data)

    def on_message_begin(self) -> None:
        self._receiving = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        if not self._is_for_lane():
            super().on_headers_complete()
            return
        scope: dict[str, Any] = cast(dict[str, Any], self.scope)
        scope.update(method="POST", path=self.url.decode("ascii"), raw_path=self.url, query_string=b"")
        self.cycle = cast(RequestResponseCycle, _LaneCall(scope, self.parser.should_keep_alive()))

    def on_body(self, body: bytes) -> None:
        if isinstance(self.cycle, _LaneCall):
            self.cycle.body += body
        else:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._receiving = False
        call = self.cycle
        if not isinstance(call, _LaneCall) or not call.more_body:
            super().on_message_complete()
            return
        call.more_body = False
        task = self.loop.create_task(self._answer(call))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def _is_for_lane(self) -> bool:
        parser = self.parser
        if (parser.get_method() != b"POST" or parser.get_http_version() != "1.1" or self.expect_100_continue
                or not (self.cycle is None or self.cycle.response_complete) or not _INVOCATION.fullmatch(self.url)):
            return False
        authorization, length = None, None
        for name, value in self.headers:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                return False
        return (length is not None and length.isdigit() and int(length) <= self.lane.codec.max_body_bytes
                and self.lane.takes(authorization))

    async def _answer(self, call: _LaneCall) -> None:
        try:
            response = await self.lane.answer("POST", call.scope["path"], call.scope["headers"], bytes(call.body),
                                              self.client[0] if self.client else None)
        except Exception:
            log.exception("the invocation lane failed; the app answers the request")
            response = None
        if response is None or isinstance(response, StreamingResponse):
            self._through_cycle(call, response)
        else:
            self._write(call, response)

    def _write(self, call: _LaneCall, response: Response) -> None:
        """The response in one piece; the connection closed after it if the request (or a shutdown) said so."""
        call.response_complete = True
        if call.disconnected or self.transport.is_closing():
            return
        head = [STATUS_LINE[response.status_code]]
        for name, value in (*self.server_state.default_headers, *response.raw_headers):
            head += [name, b": ", value, b"\r\n"]
        if not call.keep_alive:
            head.append(b"connection: close\r\n")
        head += [b"\r\n", bytes(response.body)]
        self.transport.write(b"".join(head))
        if not call.keep_alive:
            self.transport.close()
        self.on_response_complete()
        if self.handoffs is not None and call.keep_alive and 200 <= response.status_code < 300:
            try:
                self._hand_over(self.handoffs, call)
            except Exception:  # the connection stays the front door's, as if no model server could take it
                log.exception("a connection could not be handed over")

    def _hand_over(self, handoffs: Handoffs, call: _LaneCall) -> None:
        """The connection to the endpoint's model server, if nothing of a next request is read and one takes it."""
        if self._receiving or self.pipeline or self.transport.is_closing():
            return
        authorization = next((value.decode("latin-1") for name, value in call.scope["headers"]
                              if name == b"authorization"), None)
        protocols = functools.partial(type(self).handed_back, self.config, self.server_state, self.app_state)
        if handoffs.hand_over(self.transport.get_extra_info("socket"), call.scope["path"].split("/")[2],
                              authorization, protocols):
            self.transport.abort()  # this process's descriptor: the model server's keeps the connection

    def _through_cycle(self, call: _LaneCall, response: Response | None) -> None:
        """uvicorn's request cycle for the request, its body in: it runs the app (or sends `response`, an ASGI app
        too) as for any request."""
        cycle = RequestResponseCycle(
            scope=cast(HTTPScope, call.scope), transport=self.transport, flow=self.flow, logger=self.logger,
            access_logger=self.access_logger, access_log=self.access_log,
            default_headers=self.server_state.default_headers, message_event=asyncio.Event(),
            expect_100_continue=False, keep_alive=call.keep_alive, on_response=self.on_response_complete)
        cycle.body, cycle.more_body, cycle.disconnected = call.body, False, call.disconnected
        cycle.message_event.set()
        self.cycle = cycle
        self._start_asgi_task(cycle, self.app if response is None else cast(ASGI3Application, response))


def front_door_protocol(limits: HttpLimits, lane: InvocationLane,
                        handoffs: Handoffs | None = None) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol under `limits` (http_guard.py) with the lane, handing connections over with
    `handoffs` if given (for uvicorn.Config's `http`)."""
    class FrontDoorProtocol(guarded_protocol(limits), _LaneProtocol):  # type: ignore[misc]
        pass

    FrontDoorProtocol.lane = lane
    FrontDoorProtocol.handoffs = handoffs
    return FrontDoorProtocol
