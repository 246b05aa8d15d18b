"""A response to a request whose body the client holds back (Expect: 100-continue) closes the
connection when the app never asked for the body (boto3's side of it: test_rest_xml_protocol)."""

from __future__ import annotations

import pytest
from starlette.types import Message, Receive, Scope, Send

from modelbay.api.expect_continue import CloseWhenBodyHeldBack

pytestmark = pytest.mark.anyio


async def answering(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def reading(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await answering(scope, receive, send)


async def started(app: object, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers the app's response starts with, through the middleware."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"data", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "PUT", "path": "/", "headers": headers}
    await CloseWhenBodyHeldBack(app)(scope, receive, send)  # type: ignore[arg-type]  # the test apps
    return list(sent[0]["headers"])


@pytest.mark.parametrize(("app", "expect", "closes"), [
    (answering, True, True),
    (reading, True, False),  # the body was asked for: the client sends it, the server reads past it
    (answering, False, False),  # the client sent its body anyway
])
async def test_connection_close(app: object, expect: bool, closes: bool) -> None:
    headers = [(b"content-length", b"4")] + ([(b"Expect", b"100-Continue")] if expect else [])
    assert ((b"connection", b"close") in await started(app, headers)) is closes
