"""Fake model servers on loopback for the router's tests: asyncio, keep-alive HTTP/1.1, each
answering POST /invocations as told and remembering what it was sent."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Seen:
    """One request as a fake model server received it (header names in lower case)."""

    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Reply:
    """An answer; a streamed one (`more`) is sent chunked: `body` at once, then each of `more` as it
    resolves (its end is the last chunk; None instead of bytes cuts the connection there)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    more: tuple[Callable[[], Awaitable[bytes | None]], ...] | None = None


Answer = Callable[["FakeModel", Seen], Awaitable[Reply]]


async def echo(model: FakeModel, seen: Seen) -> Reply:
    """The body with `|<name>` appended, typed `application/x-<name>`, custom attributes likewise."""
    headers = {"Content-Type": f"application/x-{model.name}"}
    if "x-amzn-sagemaker-custom-attributes" in seen.headers:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = seen.headers["x-amzn-sagemaker-custom-attributes"] + \
            f";{model.name}"
    return Reply(200, headers, seen.body + f"|{model.name}".encode())


class FakeModel:
    """A model server on a free loopback port. Start and kill it on the loop that serves it."""

    def __init__(self, name: str, answer: Answer = echo) -> None:
        self.name = name
        self.answer = answer
        self.seen: list[Seen] = []
        self.url = ""
        self.release = asyncio.Event()  # what `hold` answers wait for
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> FakeModel:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    def kill(self) -> None:
        """Die as a crashed process does, at once: the port refuses connections and every
        connection is shut (the peer sees its end before this returns)."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
            writer.transport.abort()

    async def stop(self) -> None:
        """Kill it and wait until it has let go of every connection."""
        self.release.set()
        self.kill()
        await asyncio.gather(*self._connections)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)
        self._writers.add(writer)
        try:
            while True:
                seen = await _read_request(reader)
                self.seen.append(seen)
                reply = await self.answer(self, seen)
                if reply.more is None:
                    writer.write(_response(reply))
                elif not await _stream(writer, reply, reply.more):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


async def hold(model: FakeModel, seen: Seen) -> Reply:
    """Answer only once `model.release` is set (a model that is slow until the test says)."""
    await model.release.wait()
    return await echo(model, seen)


def failing(status: int, body: bytes) -> Answer:
    async def answer(model: FakeModel, seen: Seen) -> Reply:
        return Reply(status, {"Content-Type": "text/plain"}, body)
    return answer


async def _read_request(reader: asyncio.StreamReader) -> Seen:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in head[1:])
               if name}
    return Seen(headers, await reader.readexactly(int(headers.get("content-length", "0"))))


async def _stream(writer: asyncio.StreamWriter, reply: Reply,
                  more: tuple[Callable[[], Awaitable[bytes | None]], ...]) -> bool:
    """Send a streamed reply; False if it was cut off."""
    lines = [f"HTTP/1.1 {reply.status} X", *(f"{k}: {v}" for k, v in reply.headers.items()),
             "Transfer-Encoding: chunked"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + _chunk(reply.body))
    for next_piece in more:
        piece = await next_piece()
        if piece is None:
            return False
        writer.write(_chunk(piece))
    writer.write(b"0\r\n\r\n")
    return True


def _chunk(piece: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(piece), piece) if piece else b""


def _response(reply: Reply) -> bytes:
    lines = [f"HTTP/1.1 {reply.status} X"] + [f"{k}: {v}" for k, v in reply.headers.items()]
    lines.append(f"Content-Length: {len(reply.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body


def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"
