"""The model server's HTTP/1.1 server on a real loopback socket, its event loop in a thread of the test."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from modelbay.container.http_server import MAX_BODY_BYTES, HttpProtocol, HttpServer, Request, Response
from tests.helpers import wait_until
from tests.unit.container.serving import read_response


def echo(request: Request) -> Response:
    """Answers with what it received; /close asks to close the connection; /stream streams the body's
    words, and /broken streams one and fails."""
    if request.path in ("/stream", "/broken"):
        return Response(200, content_type="text/plain", chunks=words(request.body, request.path == "/broken"))
    body = f"{request.method} {request.path} {request.headers.get('x-tag', '')}:".encode() + request.body
    return Response(200, body, close=request.path == "/close")


def words(body: bytes, fails: bool) -> Iterator[bytes]:
    for word in body.split():
        yield word
        if fails:
            raise RuntimeError("the model broke")


@dataclass
class Served:
    port: int
    server: HttpServer
    loop: asyncio.AbstractEventLoop

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def shut_down(self) -> concurrent.futures.Future[None]:
        return asyncio.run_coroutine_threadsafe(self.server.shut_down(10), self.loop)


@pytest.fixture
def served() -> Iterator[Served]:
    sock = socket.create_server(("127.0.0.1", 0))
    loop = asyncio.new_event_loop()
    server = HttpServer(echo)
    loop.call_soon(server.start, sock)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield Served(int(sock.getsockname()[1]), server, loop)
    finally:
        asyncio.run_coroutine_threadsafe(server.shut_down(1), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture
def conn(served: Served) -> Iterator[socket.socket]:
    with served.connect() as sock:
        yield sock


def request(path: str = "/", body: bytes = b"", *headers: str, method: str = "POST", version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: test", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def is_closed(sock: socket.socket) -> bool:
    return sock.recv(1) == b""


def test_keep_alive_by_default_in_http_1_1(conn: socket.socket) -> None:
    for n in range(20):
        conn.sendall(request("/invocations", str(n).encode()))
        status, headers, body = read_response(conn)
        assert (status, headers["connection"], body) == (200, "keep-alive", f"POST /invocations :{n}".encode())


def test_pipelined_requests_are_answered_in_order(conn: socket.socket) -> None:
    conn.sendall(b"".join(request("/p", str(n).encode(), f"X-Tag: t{n}") for n in range(5)))
    assert [read_response(conn)[2] for _ in range(5)] == [f"POST /p t{n}:{n}".encode() for n in range(5)]


class Written(asyncio.Transport):
    """A connection's transport that keeps what is written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False


def test_connections_take_turns_whatever_each_has_waiting() -> None:
    """Requests read in one look of the event loop are answered a connection at a time: a connection with three
    requests waiting does not answer them all before another connection's one."""
    answered: list[str] = []

    def record(request: Request) -> Response:
        answered.append(request.path)
        return Response(200)

    async def read_together() -> None:
        server = HttpServer(record)
        first, second = HttpProtocol(server), HttpProtocol(server)
        for connection in (first, second):
            connection.connection_made(Written())
        first.data_received(request("/a1") + request("/a2") + request("/a3"))  # as one look of the loop reads them
        second.data_received(request("/b1"))
        while len(answered) < 4:
            await asyncio.sleep(0)

    asyncio.run(asyncio.wait_for(read_together(), 10))
    assert answered == ["/a1", "/b1", "/a2", "/a3"]


def test_a_request_arriving_byte_by_byte(conn: socket.socket) -> None:
    for byte in request("/slow?x=1", b"abc"):
        conn.sendall(bytes([byte]))
    assert read_response(conn)[2] == b"POST /slow :abc"


@pytest.mark.parametrize(("raw", "header"), [
    (request("/", b"", "Connection: close"), "close"),
    (request("/", b"", version="1.0"), "close"),
    (request("/close"), "close"),
])
def test_connection_close_is_honoured(conn: socket.socket, raw: bytes, header: str) -> None:
    conn.sendall(raw)
    assert read_response(conn)[1]["connection"] == header
    assert is_closed(conn)


def test_http_1_0_keep_alive_on_request(conn: socket.socket) -> None:
    conn.sendall(request("/", b"", "Connection: keep-alive", version="1.0") * 2)
    assert [read_response(conn)[1]["connection"] for _ in range(2)] == ["keep-alive", "keep-alive"]


def test_expect_100_continue(conn: socket.socket) -> None:
    conn.sendall(request("/", b"", "Expect: 100-continue").replace(b"Content-Length: 0", b"Content-Length: 4"))
    assert conn.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.sendall(b"body")
    assert read_response(conn)[2] == b"POST / :body"


@pytest.mark.parametrize(("raw", "status", "says"), [
    (request("/", b"", "Transfer-Encoding: chunked"), 411, b"Content-Length"),
    (request("/").replace(b"Content-Length: 0", f"Content-Length: {MAX_BODY_BYTES + 1}".encode()), 413, b"limit"),
    (request("/").replace(b"Content-Length: 0", b"Content-Length: -1"), 400, b"Content-Length"),
    (b"GARBAGE\r\n\r\n", 400, b"request line"),
    (request("/", b"", "No colon here"), 400, b"header"),
    (request("/", b"", "Bad Name: x"), 400, b"header"),
    (request("/", b"", " folded: x"), 400, b"header"),
    (request("/", version="2.0"), 505, b"version"),
    (b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000, 431, b"head"),
])
def test_bad_requests_are_refused_and_the_connection_closed(conn: socket.socket, raw: bytes, status: int,
                                                            says: bytes) -> None:
    conn.sendall(raw)
    answer_status, headers, body = read_response(conn)
    assert (answer_status, headers["connection"]) == (status, "close") and says in body
    assert is_closed(conn)


def test_shut_down_closes_idle_connections_and_finishes_the_request_being_received(served: Served) -> None:
    with served.connect() as idle, served.connect() as busy:
        idle.sendall(request("/"))
        read_response(idle)
        raw = request("/", b"0123456789")
        busy.sendall(raw[:-5])
        wait_until(lambda: any(not c.is_idle for c in served.server.connections), 10, "the partial request")
        done = served.shut_down()
        assert is_closed(idle)
        busy.sendall(raw[-5:])
        status, headers, body = read_response(busy)
        assert (status, headers["connection"], body) == (200, "close", b"POST / :0123456789")
        done.result(timeout=10)
    with pytest.raises(ConnectionRefusedError):
        served.connect()


def test_a_streamed_answer_is_sent_chunked_and_the_connection_kept(served: Served) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    for _ in range(2):
        connection.request("POST", "/stream", b"one two three")
        response = connection.getresponse()
        assert response.getheader("Transfer-Encoding") == "chunked"
        pieces = [response.read1(), response.read1(), response.read1(), response.read()]
        assert pieces == [b"one", b"two", b"three", b""]
    connection.close()


def test_a_stream_that_fails_is_cut_off_before_its_last_chunk(served: Served) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    connection.request("POST", "/broken", b"one two")
    response = connection.getresponse()
    assert response.read1() == b"one"
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    connection.close()
