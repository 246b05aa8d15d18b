"""Answering a request whose body the client still holds back (`Expect: 100-continue`).

Such a client sends its body only once the server asks for it (the server answers `100 Continue`
when the app first reads the body); if the app answers without reading it (an S3 PutObject to a
missing bucket), the client never sends it. The connection must then close: a server that kept it
open (uvicorn does) would read the client's next request as the unsent body.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class CloseWhenBodyHeldBack:
    """ASGI middleware: a response to an `Expect: 100-continue` request whose body the app never
    asked for carries `Connection: close`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not expects_continue(scope["headers"]):
            await self.app(scope, receive, send)
            return
        asked = False

        async def asking_receive() -> Message:
            nonlocal asked
            asked = True
            return await receive()

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not asked:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, asking_receive, closing_send)


def expects_continue(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the request holds its body back until the server asks for it."""
    return any(name.lower() == b"expect" and value.lower() == b"100-continue" for name, value in headers)
