"""What modelbay's front door adds to an invocation: InvokeEndpoint through the whole pipeline and
the router, against calling the same trivial model server directly.

    .venv/bin/python benchmarks/invoke_overhead.py [SECONDS]

Starts a trivial model server (answers every POST /invocations with a 2-byte body) and an app
server (build_app on uvicorn with uvloop and httptools, as `modelbay server` runs it) whose
router publishes one endpoint on that model server, each in its own process. A keep-alive client
on uvloop sends SigV4-scoped InvokeEndpoint requests; it measures, side by side in one run, the
mean latency at concurrency 1 direct and through modelbay (the difference is the overhead), and
requests/s through modelbay at concurrency 16, for SECONDS (default 3) each.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import tempfile
import time
from pathlib import Path

import httptools
import uvloop

ENDPOINT = "bench"
AUTHORIZATION = ("AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/sagemaker/aws4_request, "
                 "SignedHeaders=host, Signature=0")
BODY = b"1,2,3"


class _ModelServer(asyncio.Protocol):
    """Answers each request once its message is complete."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 2\r\n\r\nok")  # type: ignore[attr-defined]


def _serve_model(sock: socket.socket) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_ModelServer, sock=sock)
        await server.serve_forever()
    uvloop.run(main())


def _serve_app(sock: socket.socket, model_url: str) -> None:
    import uvicorn

    from modelbay.api.app import build_app
    from modelbay.config import Settings
    from modelbay.server import uvicorn_config
    from modelbay.serving.router import Backend, VariantRoute

    app = build_app(Settings(data_dir=Path(tempfile.mkdtemp())))
    app.state.platform.router.publish(ENDPOINT, [VariantRoute("AllTraffic", 1, (Backend("i-1", "z", (model_url,)),))])
    config = uvicorn_config(app)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(uvicorn.Server(config).serve(sockets=[sock]))


class _Client(asyncio.Protocol):
    """One keep-alive connection sending the same request again as soon as its answer is complete."""

    def __init__(self, request: bytes, done: asyncio.Future[None], deadline: float, latencies: list[float]) -> None:
        self.request, self.done, self.deadline, self.latencies = request, done, deadline, latencies
        self.parser = httptools.HttpResponseParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._send()

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        assert self.parser.get_status_code() == 200
        now = time.perf_counter()
        self.latencies.append(now - self.sent)
        if now < self.deadline:
            self._send()
        elif not self.done.done():
            self.done.set_result(None)

    def _send(self) -> None:
        self.sent = time.perf_counter()
        self.transport.write(self.request)  # type: ignore[attr-defined]


async def _load(port: int, request: bytes, concurrency: int, seconds: float) -> list[float]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    clients = []
    for _ in range(concurrency):
        done: asyncio.Future[None] = loop.create_future()
        await loop.create_connection(lambda d=done: _Client(request, d, deadline, latencies), "127.0.0.1", port)  # type: ignore[misc]
        clients.append(done)
    await asyncio.gather(*clients)
    return latencies


def _request(path: str, extra: bytes = b"") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\nAccept: text/csv\r\n"
            f"Content-Length: {len(BODY)}\r\n").encode() + extra + b"\r\n" + BODY


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


def _mean_us(latencies: list[float]) -> float:
    return sum(latencies) / len(latencies) * 1e6


def main(seconds: float) -> None:
    model_sock, app_sock = _listening(), _listening()
    model_port, app_port = model_sock.getsockname()[1], app_sock.getsockname()[1]
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_serve_model, args=(model_sock,), daemon=True),
                 context.Process(target=_serve_app, args=(app_sock, f"http://127.0.0.1:{model_port}"), daemon=True)]
    for process in processes:
        process.start()
    invoke = _request(f"/endpoints/{ENDPOINT}/invocations", f"Authorization: {AUTHORIZATION}\r\n".encode())
    direct = _request("/invocations")
    uvloop.run(_load(app_port, invoke, 1, 1.0))  # warm up (and wait for the app to listen)
    direct_us = _mean_us(uvloop.run(_load(model_port, direct, 1, seconds)))
    through = uvloop.run(_load(app_port, invoke, 1, seconds))
    through_us = _mean_us(through)
    many = uvloop.run(_load(app_port, invoke, 16, seconds))
    print(f"concurrency 1: direct {direct_us:.0f} us, through modelbay {through_us:.0f} us "
          f"-> overhead {through_us - direct_us:.0f} us per request ({len(through) / seconds:.0f} requests/s)")
    print(f"concurrency 16: {len(many) / seconds:.0f} requests/s through modelbay "
          f"(mean latency {_mean_us(many):.0f} us)")
    for process in processes:
        process.terminate()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("seconds", type=float, nargs="?", default=3.0, help="seconds per measurement (default 3)")
    main(parser.parse_args().seconds)
