"""Connections the front door hands to a model server, to be answered there with no proxy between the caller and the
model (the data plane without a hop; issue 22).

A proxy in a process of its own, on a CPU it shares with the model, pays a wake-up per invocation on a model that
predicts for milliseconds, with caches the predict has filled: on a 2-CPU VM, 57 µs for a bare HAProxy, 144 for
modelbay's (docs/benchmarks.md). So the front door hands a caller's connection to the model server that answers its
endpoint, and steps out of the way:

- **The handoff.** Asked to (MODELBAY_HANDOFF=1), the model server listens on a unix socket in its /opt/ml
  (SOCKET_NAME), which the front door reaches on the host whatever network the instance has, and which each worker
  accepts from once the model is loaded, as it does the TCP port. The front door connects and sends one packet
  (`post`): four descriptors (SCM_RIGHTS) — the connection, its epoch file, its return socket and its metrics socket
  — and a lease (JSON); the bytes it read of the connection and did not answer, if any, in a memory file after them.
  The worker adopts the connection as if it had accepted it. A worker holding more handed connections than another
  of its model server's leaves the next handoff to the others (`Holdings`): each worker answers its own connections
  and the workers share the CPU evenly, so a worker with 9 connections of 16 answered each of them less often than
  the other did its 7 (the heavy model's p99 at concurrency 16 was theirs).
- **The lease, checked at each request's head.** A request is answered here only if the lease is current — the epoch
  file still holds the number it was granted at: the front door raises that number whenever a route table changes,
  before the change is acknowledged, so no request is routed by a stale table once a newer one is acknowledged — and
  only if it is a plain invocation of the lease's endpoint: `POST /endpoints/<endpoint>/invocations`, no query, a
  body framed by a Content-Length within the lease's limit, no `Expect`, unsigned or signed for sagemaker-runtime, of
  sagemaker-runtime's headers only those a plain call has, each within its length and ASCII rules, and TargetVariant,
  if any, the lease's variant. The lease covers endpoints of one variant on one instance; the front door answers
  every other (weights and least outstanding are its own).
- **The answer** is the front door's: the model gets the headers it would get through it, the caller gets the
  variant's name and a request id, and an answer other than a 2XX becomes sagemaker-runtime's ModelError. Each
  answered request is a line of the invocation log (`INVOCATION_MARK`, as HAProxy's) sent to the front door's
  metrics socket, a batch every LOG_BATCH_S.
- **Handing back.** A request the lease does not cover is not answered: the connection goes back on the front door's
  return socket, in a packet as the handoff's, with every byte read of it, and the front door answers it as any
  request. A worker that stops hands back each leased connection once it is idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import mmap
import os
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from modelbay.container.http_server import Head, HttpError, HttpProtocol, HttpServer, Request, Response

HANDOFF_VAR = "MODELBAY_HANDOFF"  # "1": take connections handed over
SOCKET_NAME = "handoff.sock"  # in the instance's /opt/ml, beside model/ and code/
TARGET_VARIANT = "x-amzn-sagemaker-target-variant"
INVOCATION_MARK = "invocation"  # a line of the invocation log: mark region endpoint variant status t0 t1 t2 t3 (µs)
LOG_BATCH_S = 0.05  # how often a worker sends its invocation lines
LOG_PACKET_BYTES = 32 * 1024  # invocation lines sent in one datagram at most
HANDOFF_FDS = 4  # the connection, the epoch file, the return socket, the metrics socket
_MAX_FDS = HANDOFF_FDS + 1  # and a message's data
_DATA = "bytes"  # the member of a message that says its data follows its descriptors, and how long it is
_MAX_MESSAGE = 1 << 16
_MAX_ADDRESS = 100  # a unix socket's path, in bytes, that fits its address (sun_path: 108 with the NUL)
_EPOCH = struct.Struct("=Q")
_TIMEOUT_S = 1.0  # for a packet on a local socket
STEP_ASIDE_S = 0.002  # how long a worker holding more connections than another leaves handoffs to the others
_MICROSECONDS = 1_000_000
_REQUEST_IDS = itertools.count()
_REQUEST_ID_PREFIX = str(uuid.uuid4())[:24]  # this process's; the rest counts, so request ids stay unique and cheap

log = logging.getLogger(__name__)


# -- the wire: descriptors and a message, over unix sockets ----------------------------------------------------------

@contextlib.contextmanager
def reachable(path: str) -> Iterator[str]:
    """`path` as a unix socket's address: itself, or through its directory's descriptor if it is longer than an
    address holds (107 bytes: an instance's directory on the host may be deeper)."""
    if len(os.fsencode(path)) < _MAX_ADDRESS:
        yield path
        return
    directory = os.open(os.path.dirname(path), os.O_PATH)
    try:
        yield f"/proc/self/fd/{directory}/{os.path.basename(path)}"
    finally:
        os.close(directory)


def socket_path(opt_ml: Path) -> str:
    """Where the model server whose /opt/ml is `opt_ml` (as its own process, or the host, sees it) listens."""
    return str(opt_ml / SOCKET_NAME)


def listen(path: str) -> socket.socket:
    """A handoff socket listening at `path` (one a server before left there replaced)."""
    Path(path).unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with reachable(path) as address:
        sock.bind(address)
    sock.listen(socket.SOMAXCONN)
    return sock


def send_to(path: str, fds: list[int], message: dict[str, Any], data: bytes = b"") -> None:
    """One packet (`post`) to the handoff socket at `path`, on a connection of its own."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
        sock.settimeout(_TIMEOUT_S)
        with reachable(path) as address:
            sock.connect(address)
        post(sock, fds, message, data)


def post(sock: socket.socket, fds: list[int], message: dict[str, Any], data: bytes = b"") -> None:
    """The descriptors and the message (JSON) in one packet on `sock` (a SOCK_SEQPACKET or SOCK_DGRAM unix socket);
    `data`, if any, in a memory file after them."""
    if not data:
        socket.send_fds(sock, [json.dumps(message).encode()], fds)
        return
    memory = os.memfd_create("handed-back", os.MFD_CLOEXEC)
    try:
        os.write(memory, data)
        socket.send_fds(sock, [json.dumps({**message, _DATA: len(data)}).encode()], [*fds, memory])
    finally:
        os.close(memory)


def take(sock: socket.socket) -> tuple[list[int], dict[str, Any], bytes]:
    """One packet `post` sent on `sock`: its descriptors (the caller's to close), message and data. Raises
    BlockingIOError if none is there, ValueError if it is not one."""
    packet, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, _MAX_FDS)
    try:
        message = json.loads(packet)
        length, data = message.pop(_DATA, 0), b""
        if length:
            memory = fds.pop()
            data = os.pread(memory, length, 0)
            os.close(memory)
    except (ValueError, IndexError, OSError):
        _close(fds)
        raise ValueError(f"not a handoff message: {packet[:100]!r}") from None
    return fds, message, data


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


# -- what the front door shares with its model servers ---------------------------------------------------------------

class Shared:
    """The front doors' epoch files and sockets a worker was handed, each open once (a front door hands the same ones
    with every connection)."""

    def __init__(self) -> None:
        self._epochs: dict[tuple[int, int], mmap.mmap] = {}
        self._sockets: dict[tuple[int, int], socket.socket] = {}

    def epoch(self, fd: int) -> mmap.mmap:
        """The map of the epoch file open at `fd` (which this closes)."""
        key = _identity(fd)
        try:
            if key not in self._epochs:
                self._epochs[key] = mmap.mmap(fd, _EPOCH.size, prot=mmap.PROT_READ)
            return self._epochs[key]
        finally:
            os.close(fd)

    def socket(self, fd: int) -> socket.socket:
        """The socket open at `fd` (which this closes if it has it already)."""
        key = _identity(fd)
        found = self._sockets.get(key)
        if found is not None:
            os.close(fd)
            return found
        found = self._sockets[key] = socket.socket(fileno=fd)
        found.settimeout(_TIMEOUT_S)
        return found


def _identity(fd: int) -> tuple[int, int]:
    found = os.fstat(fd)
    return found.st_dev, found.st_ino


def read_epoch(epoch: mmap.mmap) -> int:
    return int(_EPOCH.unpack_from(epoch)[0])


@dataclass(frozen=True)
class HeaderRule:
    """A sagemaker-runtime header: its longest value and whether it is ASCII only; refused when it has neither (a
    header a plain call does not have)."""

    name: str
    max_length: int | None
    ascii_only: bool

    def allows(self, value: str) -> bool:
        if self.max_length is None and not self.ascii_only:
            return False
        return (self.max_length is None or len(value) <= self.max_length) and (not self.ascii_only
                                                                               or value.isascii())


@dataclass(frozen=True)
class Lease:
    """What a connection handed over may be answered for: see the module's docstring. Its fields are the message's."""

    region: str
    endpoint: str
    variant: str
    epoch: int
    max_body: int  # sagemaker-runtime's
    signing_scope: str  # in a signed request's Authorization: "/sagemaker/aws4_request"
    rules: tuple[HeaderRule, ...]
    forwarded: frozenset[str]  # the request headers the model gets
    answered: frozenset[str]  # the model's answer headers the caller gets, beside Content-Type
    see: str  # ModelError's pointer to the model's log, after its message
    log_stream: str  # ModelError's LogStreamArn
    max_message: int  # ModelError's OriginalMessage, in characters

    @classmethod
    def read(cls, message: dict[str, Any]) -> Lease:
        rules = tuple(HeaderRule(name, max_length, ascii_only) for name, max_length, ascii_only in message["rules"])
        return cls(**{**message, "rules": rules, "forwarded": frozenset(message["forwarded"]),
                      "answered": frozenset(message["answered"])})

    @property
    def path(self) -> str:
        return f"/endpoints/{self.endpoint}/invocations"

    def covers(self, head: Head) -> bool:
        """Whether the request is a plain invocation of the lease's variant (its epoch is checked apart)."""
        headers = head.headers
        if (head.method != "POST" or head.path != self.path or head.query or "expect" in headers
                or "content-length" not in headers or head.length > self.max_body):
            return False
        authorization = headers.get("authorization")
        if authorization is not None and self.signing_scope not in authorization.partition(",")[0]:
            return False
        if any(rule.name in headers and not rule.allows(headers[rule.name]) for rule in self.rules):
            return False
        return headers.get(TARGET_VARIANT, self.variant) == self.variant

    def answer(self, model: Response, request_id: str) -> Response:
        """The caller's answer to the model's."""
        if 200 <= model.status < 300:
            extra = tuple((name, value) for name, value in model.headers if name.lower() in self.answered)
            return Response(model.status, model.body, model.content_type,
                            (("x-Amzn-Invoked-Production-Variant", self.variant), ("x-amzn-RequestId", request_id),
                             *extra))
        original = model.body[:self.max_message].decode(errors="replace")
        kind = "client" if 400 <= model.status < 500 else "server"
        said = original[:self.max_message - 400]
        body = {"message": f'Received {kind} error ({model.status}) from primary with message "{said}". {self.see}',
                "OriginalStatusCode": model.status, "OriginalMessage": original, "LogStreamArn": self.log_stream}
        return Response(424, json.dumps(body).encode(), "application/json",
                        (("x-amzn-ErrorType", "ModelError"), ("x-amzn-RequestId", request_id)))


# -- the invocation log ----------------------------------------------------------------------------------------------

class InvocationLog:
    """The lines of the invocations a worker answered, sent to each front door's metrics socket every LOG_BATCH_S."""

    def __init__(self) -> None:
        # written out as lines at `flush`: the front door's metrics socket, lease, status and times
        self._pending: list[tuple[socket.socket, Lease, int, float, float, float, float]] = []

    def record(self, metrics: socket.socket, lease: Lease, status: int, read: float, called: float, answered: float,
               ended: float) -> None:
        """One invocation of `lease`'s variant, for the front door at `metrics`: the model's status; when its request
        was read, the model called, the model's answer had, the caller's answer written (time.time())."""
        if not self._pending:
            asyncio.get_running_loop().call_later(LOG_BATCH_S, self.flush)
        self._pending.append((metrics, lease, status, read, called, answered, ended))

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        batches: dict[socket.socket, list[bytes]] = {}
        for metrics, lease, status, *times in pending:
            stamps = " ".join(str(int(t * _MICROSECONDS)) for t in times)
            batches.setdefault(metrics, []).append(
                f"{INVOCATION_MARK} {lease.region} {lease.endpoint} {lease.variant} {status} {stamps}\n".encode())
        for metrics, lines in batches.items():
            try:
                for packet in _packets(lines):
                    metrics.send(packet)
            except OSError as err:  # the front door is gone (its server stopped): nobody counts them
                log.warning("%d invocation lines not sent: %s", len(lines), err)


def _packets(lines: list[bytes]) -> Iterator[bytes]:
    """The lines in packets of at most LOG_PACKET_BYTES (a line longer than that alone)."""
    packet = b""
    for line in lines:
        if packet and len(packet) + len(line) > LOG_PACKET_BYTES:
            yield packet
            packet = b""
        packet += line
    if packet:
        yield packet


# -- a leased connection ---------------------------------------------------------------------------------------------

class Holdings(Protocol):
    """How many connections handed over each worker of a model server holds (model_server.Heartbeats)."""

    @property
    def slots(self) -> int: ...

    def hold(self, slot: int, change: int) -> None: ...

    def held(self, slot: int) -> int: ...


class LeasedConnection(HttpProtocol):
    """A connection the front door handed over: its requests answered under the lease, or it handed back."""

    def __init__(self, server: HttpServer, lease: Lease, shared: tuple[mmap.mmap, socket.socket, socket.socket],
                 invoke: Callable[[Request], Response], invocations: InvocationLog, data: bytes,
                 holding: Callable[[int], None]) -> None:
        """`shared`: the front door's epoch file, return socket and metrics socket; `holding(-1)` tells the worker's
        count of connections handed over that this one is gone (it was counted when accepted)."""
        super().__init__(server, self._invoke)
        self._lease, self._model, self._invocations = lease, invoke, invocations
        self._epoch, self._returns, self._metrics = shared
        self._returning = False  # the worker stops: hand the connection back once idle
        self._handed = data  # what the front door read of the connection: parsed before what follows
        self._holding = holding

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._holding(-1)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._handed:
            data, self._handed = self._handed, b""
            self.data_received(data)

    def shut_down(self) -> None:
        self._returning = True
        if self.is_idle:
            self.hand_back()

    def hand_back(self) -> None:
        """Give the connection, with what was read of it, back to the front door (or close it, if it is gone)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.pause_reading()
        data, self._buffer = bytes(self._buffer), bytearray()
        self._head = None
        try:
            post(self._returns, [transport.get_extra_info("socket").fileno()], {"endpoint": self._lease.endpoint}, data)
        except OSError as err:
            log.warning("a connection could not be handed back to the front door: %s", err)
        transport.abort()  # closes this process's descriptor: the front door's keeps the connection

    def _admits(self, head: Head) -> bool:
        if self._returning or read_epoch(self._epoch) != self._lease.epoch or not self._lease.covers(head):
            self.hand_back()
            return False
        return True

    def _refuse(self, error: HttpError) -> None:
        self.hand_back()  # the front door says what is wrong with it, as it would have

    def _await_turn(self) -> None:
        super()._await_turn()
        if self._returning and self.is_idle:
            self.hand_back()

    def _invoke(self, request: Request) -> Response:
        read = time.time()
        headers = {name: value for name, value in request.headers.items() if name in self._lease.forwarded}
        model = self._model(Request(request.method, request.path, headers, request.body))
        if model.chunks is not None:
            model = _whole(model)
        answered = time.time()
        answer = self._lease.answer(model, f"{_REQUEST_ID_PREFIX}{next(_REQUEST_IDS):012x}")
        self._invocations.record(self._metrics, self._lease, model.status, read, read, answered, time.time())
        return answer


def _whole(model: Response) -> Response:
    """A streamed answer read whole, as InvokeEndpoint gives it (a stream that breaks is the model's error)."""
    assert model.chunks is not None
    try:
        body = b"".join(model.chunks)
    except Exception as err:  # the user's code failed while it streamed
        log.exception("the model failed while it streamed its answer")
        return Response(500, f"{type(err).__name__}: {err}".encode())
    return Response(model.status, body, model.content_type, model.headers)


class HandoffServer:
    """A worker's end of the handoff socket: each connection handed over served as a LeasedConnection."""

    def __init__(self, server: HttpServer, invoke: Callable[[Request], Response], holdings: Holdings,
                 slot: int) -> None:
        self._server, self._invoke = server, invoke
        self._holdings, self._slot = holdings, slot
        self._shared, self._invocations = Shared(), InvocationLog()
        self._sock: socket.socket | None = None

    def start(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._take)

    def stop(self) -> None:
        """Take no more connections (those held are handed back by the HttpServer's shut_down)."""
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def flush(self) -> None:
        """Send the invocation lines not sent yet."""
        self._invocations.flush()

    def _take(self) -> None:
        assert self._sock is not None
        if self._holds_more():
            loop = asyncio.get_running_loop()
            loop.remove_reader(self._sock.fileno())
            loop.call_later(STEP_ASIDE_S, self._listen_again)
            return
        try:
            conn, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError):  # another worker took it
            return
        try:
            with conn:
                conn.settimeout(_TIMEOUT_S)
                fds, message, data = take(conn)
        except (OSError, ValueError) as err:
            log.warning("a handoff could not be read: %s", err)
            return
        if len(fds) != HANDOFF_FDS:
            _close(fds)
            log.warning("a handoff came with %d descriptors, not %d", len(fds), HANDOFF_FDS)
            return
        connection_fd, epoch_fd, returns_fd, metrics_fd = fds
        try:
            epoch = self._shared.epoch(epoch_fd)  # closes epoch_fd, whatever happens
            lease = Lease.read(message)
        except (KeyError, TypeError, ValueError, OSError) as err:
            _close([connection_fd, returns_fd, metrics_fd])
            log.warning("a handoff's lease could not be read: %s", err)
            return
        shared = epoch, self._shared.socket(returns_fd), self._shared.socket(metrics_fd)
        self._holdings.hold(self._slot, 1)  # now, not once adopted: the next handoff may come before
        asyncio.get_running_loop().create_task(self._adopt(socket.socket(fileno=connection_fd), lease, shared, data))

    def _holds_more(self) -> bool:
        """Whether this worker holds more connections handed over than another of its model server."""
        holdings, mine = self._holdings, self._holdings.held(self._slot)
        return any(holdings.held(slot) < mine for slot in range(holdings.slots) if slot != self._slot)

    def _listen_again(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().add_reader(self._sock.fileno(), self._take)

    async def _adopt(self, conn: socket.socket, lease: Lease, shared: tuple[mmap.mmap, socket.socket, socket.socket],
                     data: bytes) -> None:
        conn.setblocking(False)
        holding = functools.partial(self._holdings.hold, self._slot)
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: LeasedConnection(self._server, lease, shared, self._invoke, self._invocations, data, holding),
                conn)
        except OSError as err:  # the caller went away meanwhile
            log.info("a connection handed over could not be adopted: %s", err)
            conn.close()
            holding(-1)
