"""The front door's protocol in a real uvicorn server on loopback, with a lane that says what it was given."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from starlette.responses import Response, StreamingResponse

from modelbay.api.invocation_lane import InvocationLane
from modelbay.front_door import front_door_protocol
from modelbay.http_guard import HttpLimits
from tests.unit.loopback_server import serving

pytestmark = pytest.mark.anyio

MAX_BODY_BYTES = 64
SIGNED_FOR = "sagemaker"


@dataclass
class Lane:
    """Answers "lane <body>", or hands the request back (None), streams, or fails, as the body asks."""

    max_body_bytes: int = MAX_BODY_BYTES
    calls: list[tuple[str, str, bytes]] = field(default_factory=list)

    @property
    def codec(self) -> Lane:
        return self

    def takes(self, authorization: str | None) -> bool:
        return authorization is None or f"/{SIGNED_FOR}/aws4_request" in authorization

    async def answer(self, method: str, raw_path: str, raw_headers: list[tuple[bytes, bytes]], body: bytes,
                     source_ip: str | None) -> Response | None:
        self.calls.append((method, raw_path, body))
        await asyncio.sleep(0)  # an answer comes later, as a model's does
        if body == b"back":
            return None
        if body == b"fail":
            raise RuntimeError("a bug in the lane")
        if body == b"stream":
            return StreamingResponse(iter([b"str", b"eamed"]))
        return Response(b"lane " + body, 200, {"x-amzn-invoked-production-variant": "AllTraffic"})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The app: answers "app <method> <path> <body>"."""
    body, more = b"", True
    while more:
        message = await receive()
        body, more = body + message.get("body", b""), message.get("more_body", False)
    answer = f"app {scope['method']} {scope['path']} ".encode() + body
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture
def lane() -> Lane:
    return Lane()


@pytest.fixture
async def port(lane: Lane) -> AsyncIterator[int]:
    async with serving(app, front_door_protocol(HttpLimits(), cast(InvocationLane, lane)), "critical") as found:
        yield found


def request(body: bytes, path: str = "/endpoints/e/invocations", method: str = "POST", version: str = "1.1",
            **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: x", f"Content-Length: {len(body)}",
             *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def exchange(port: int, *requests: bytes, pipelined: bool = False) -> list[bytes]:
    """Send the requests on one connection, each once the answer before it is read (all at once if `pipelined`);
    return the answers (each framed by its Content-Length, or chunked)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    try:
        for sent, piece in enumerate(requests):
            if not pipelined or sent == 0:
                writer.write(b"".join(requests) if pipelined else piece)
            answers.append(await asyncio.wait_for(_response(reader), 5))
        return answers
    finally:
        writer.close()


async def _response(reader: asyncio.StreamReader) -> bytes:
    while (head := await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 100 "):
        continue  # the interim answer to Expect: 100-continue
    lines = head.lower().split(b"\r\n")
    length = next((int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length:")), None)
    if length is not None:
        return head + await reader.readexactly(length)
    body = b""
    while (size := int((await reader.readuntil(b"\r\n")).strip(), 16)) > 0:
        body += (await reader.readexactly(size + 2))[:-2]
    await reader.readuntil(b"\r\n")
    return head + body


def body_of(answer: bytes) -> bytes:
    return answer.partition(b"\r\n\r\n")[2]


async def test_an_invocation_is_the_lanes_and_the_connection_stays_open(port: int, lane: Lane) -> None:
    first, second = await exchange(port, request(b"1,2"), request(b"3,4"))
    assert first.startswith(b"HTTP/1.1 200 ") and b"x-amzn-invoked-production-variant: AllTraffic" in first
    assert [body_of(first), body_of(second)] == [b"lane 1,2", b"lane 3,4"]
    assert lane.calls == [("POST", "/endpoints/e/invocations", b"1,2"), ("POST", "/endpoints/e/invocations", b"3,4")]


@pytest.mark.parametrize("other", [
    request(b"1", path="/endpoints/e/invocations?a=1"),
    request(b"1", path="/endpoints/e%2Fx/invocations"),
    request(b"1", path="/endpoints/e/invocations-response-stream"),
    request(b"", method="GET"),
    request(b"1", version="1.0"),
    request(b"1", Expect="100-continue"),
    request(b"x" * (MAX_BODY_BYTES + 1)),
    request(b"1", Authorization="AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1/s3/aws4_request, "
                                "SignedHeaders=host, Signature=0"),
    b"POST /endpoints/e/invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n1\r\n0\r\n\r\n",
])
async def test_any_other_request_is_the_apps(port: int, lane: Lane, other: bytes) -> None:
    (answer,) = await exchange(port, other)
    assert body_of(answer).startswith(b"app ") and not lane.calls


async def test_a_request_signed_for_the_lanes_api_is_the_lanes(port: int, lane: Lane) -> None:
    signed = request(b"1", Authorization=f"AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1/{SIGNED_FOR}/"
                                          "aws4_request, SignedHeaders=host, Signature=0")
    assert [body_of(answer) for answer in await exchange(port, signed)] == [b"lane 1"]


@pytest.mark.parametrize("body", [b"back", b"fail"])
async def test_a_request_the_lane_hands_back_or_fails_on_is_the_apps_with_its_body(port: int, lane: Lane,
                                                                                   body: bytes) -> None:
    answers = await exchange(port, request(body), request(b"after"))
    assert [body_of(answer) for answer in answers] == [b"app POST /endpoints/e/invocations " + body, b"lane after"]


async def test_a_streamed_answer_is_sent_chunked_by_uvicorn(port: int) -> None:
    (answer,) = await exchange(port, request(b"stream"))
    assert b"transfer-encoding: chunked" in answer.lower() and body_of(answer) == b"streamed"


async def test_pipelined_requests_are_answered_in_order_the_later_ones_by_the_app(port: int, lane: Lane) -> None:
    requests = [request(b"a"), request(b"", method="GET", path="/other"), request(b"b")]
    answers = await exchange(port, *requests, pipelined=True)
    assert [body_of(answer) for answer in answers] == [b"lane a", b"app GET /other ",
                                                       b"app POST /endpoints/e/invocations b"]
    assert [body for _, _, body in lane.calls] == [b"a"]


async def test_a_request_that_asks_to_close_is_answered_then_closed(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request(b"1", Connection="close"))
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert body_of(answer) == b"lane 1" and b"connection: close" in answer.lower()


