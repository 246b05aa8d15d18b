"""Connections the front door hands to a model server, to be answered there with no proxy between the caller and the
model (the data plane without a hop; issue 22).

A proxy in a process of its own, on a CPU it shares with the model, pays a wake-up per invocation on a model that
predicts for milliseconds, with caches the predict has filled: on a 2-CPU VM, 57 µs for a bare HAProxy, 144 for
modelbay's (docs/benchmarks.md). So the front door hands a caller's connection to the model server that answers its
endpoint, and steps out of the way:

- **The handoff.** Asked to (MODELBAY_HANDOFF=1), the model server listens on a unix socket beside its TCP port, named
  after the port in Linux's abstract namespace (`address_for`), which each worker accepts from once the model is
  loaded, as it does the TCP one. The front door connects and sends one message
  (`send`): the connection's descriptor and the epoch file's (SCM_RIGHTS), then a lease (JSON) and the bytes of the
  connection it has read and not answered. The worker adopts the connection as if it had accepted it.
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
- **Handing back.** A request the lease does not cover is not answered: the connection goes back to the front door's
  return socket in the same message, with every byte read of it, and the front door answers it as any request. A
  worker that stops hands back each leased connection once it is idle.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mmap
import os
import socket
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelbay.container.http_server import Head, HttpError, HttpProtocol, HttpServer, Request, Response

HANDOFF_VAR = "MODELBAY_HANDOFF"  # "1": take connections handed over
TARGET_VARIANT = "x-amzn-sagemaker-target-variant"
INVOCATION_MARK = "invocation"  # a line of the invocation log: mark region endpoint variant status t0 t1 t2 t3 (µs)
LOG_BATCH_S = 0.05  # how often a worker sends its invocation lines
MAX_FDS = 2  # the connection and the epoch file
_LENGTH = struct.Struct("!I")  # the lease's length, before it
_EPOCH = struct.Struct("=Q")
_TIMEOUT_S = 1.0  # for a message on a local socket, sent whole as soon as it is connected
_MICROSECONDS = 1_000_000

log = logging.getLogger(__name__)


# -- the wire: a connection and what comes with it, over a unix socket ------------------------------------------------

def address_for(port: int) -> str:
    """The handoff socket of the model server on TCP `port`: in the abstract namespace, which needs no directory both
    sides see (an instance's sandbox has its own /tmp), and is unique where the port is, in one network namespace."""
    return f"\0modelbay-handoff-{port}"


def send(path: str, fds: list[int], lease: dict[str, Any], data: bytes) -> None:
    """Send the descriptors, the lease and `data` to the unix socket at `path` (one connection, closed after)."""
    header = json.dumps(lease).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(_TIMEOUT_S)
        sock.connect(path)
        message = _LENGTH.pack(len(header)) + header + data
        sent = socket.send_fds(sock, [message], fds)
        sock.sendall(message[sent:])


def receive(listening: socket.socket) -> tuple[list[int], dict[str, Any], bytes]:
    """Accept one message sent by `send`: its descriptors (the caller's to close), lease and data."""
    sock, _ = listening.accept()
    with sock:
        sock.settimeout(_TIMEOUT_S)
        message, fds, _, _ = socket.recv_fds(sock, 1 << 16, MAX_FDS)
        chunks = [message]
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
    message = b"".join(chunks)
    if len(message) < _LENGTH.size:
        _close(fds)
        raise ValueError("a handoff message without its lease")
    end = _LENGTH.size + _LENGTH.unpack_from(message)[0]
    return fds, json.loads(message[_LENGTH.size:end]), message[end:]


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


# -- the lease -------------------------------------------------------------------------------------------------------

class Epochs:
    """The epoch files of the leases a worker holds, mapped once each (the front door has one per server)."""

    def __init__(self) -> None:
        self._maps: dict[tuple[int, int], mmap.mmap] = {}

    def adopt(self, fd: int) -> mmap.mmap:
        """The map of the epoch file open at `fd` (which this closes)."""
        try:
            found = os.fstat(fd)
            key = (found.st_dev, found.st_ino)
            if key not in self._maps:
                self._maps[key] = mmap.mmap(fd, _EPOCH.size, prot=mmap.PROT_READ)
            return self._maps[key]
        finally:
            os.close(fd)


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
    returns: str  # the front door's return socket
    metrics: str  # the front door's metrics socket (datagrams)

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
        self._pending: dict[str, list[str]] = {}  # metrics socket → lines
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.settimeout(_TIMEOUT_S)

    def record(self, lease: Lease, status: int, times_s: tuple[float, float, float, float]) -> None:
        """One invocation of `lease`'s variant: the model's status; when its request was read, the model called, the
        model's answer had, the caller's answer written."""
        stamps = " ".join(str(int(t * _MICROSECONDS)) for t in times_s)
        line = f"{INVOCATION_MARK} {lease.region} {lease.endpoint} {lease.variant} {status} {stamps}"
        if not self._pending:
            asyncio.get_running_loop().call_later(LOG_BATCH_S, self.flush)
        self._pending.setdefault(lease.metrics, []).append(line)

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for path, lines in pending.items():
            try:
                self._sock.sendto("\n".join(lines).encode(), path)
            except OSError as err:  # the front door is gone (its server stopped): nobody counts them
                log.warning("%d invocation lines not sent to %s: %s", len(lines), path, err)


# -- a leased connection ---------------------------------------------------------------------------------------------

class LeasedConnection(HttpProtocol):
    """A connection the front door handed over: its requests answered under the lease, or it handed back."""

    def __init__(self, server: HttpServer, lease: Lease, epoch: mmap.mmap, invoke: Callable[[Request], Response],
                 invocations: InvocationLog, data: bytes) -> None:
        super().__init__(server, self._invoke)
        self._lease, self._epoch, self._model, self._invocations = lease, epoch, invoke, invocations
        self._returning = False  # the worker stops: hand the connection back once idle
        self._handed = data  # what the front door read of the connection: parsed before what follows

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
        copy = os.dup(transport.get_extra_info("socket").fileno())
        try:
            send(self._lease.returns, [copy], {"endpoint": self._lease.endpoint}, data)
        except OSError as err:
            log.warning("a connection could not be handed back to the front door: %s", err)
        finally:
            os.close(copy)
        transport.abort()  # closes this process's descriptor: the front door's keeps the connection

    def _admits(self, head: Head) -> bool:
        if self._returning or read_epoch(self._epoch) != self._lease.epoch or not self._lease.covers(head):
            self.hand_back()
            return False
        return True

    def _refuse(self, error: HttpError) -> None:
        self.hand_back()  # the front door says what is wrong with it, as it would have

    def _answer_buffered(self) -> None:
        super()._answer_buffered()
        if self._returning and self.is_idle:
            self.hand_back()

    def _invoke(self, request: Request) -> Response:
        read = time.time()
        headers = {name: value for name, value in request.headers.items() if name in self._lease.forwarded}
        model = self._model(Request(request.method, request.path, headers, request.body))
        if model.chunks is not None:
            model = _whole(model)
        answered = time.time()
        answer = self._lease.answer(model, str(uuid.uuid4()))
        self._invocations.record(self._lease, model.status, (read, read, answered, time.time()))
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

    def __init__(self, server: HttpServer, invoke: Callable[[Request], Response]) -> None:
        self._server, self._invoke = server, invoke
        self._epochs, self._invocations = Epochs(), InvocationLog()
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
        try:
            fds, message, data = receive(self._sock)
        except (BlockingIOError, InterruptedError):  # another worker took it
            return
        except (OSError, ValueError) as err:
            log.warning("a handoff could not be read: %s", err)
            return
        if len(fds) != MAX_FDS:
            _close(fds)
            log.warning("a handoff came with %d descriptors, not %d", len(fds), MAX_FDS)
            return
        connection_fd, epoch_fd = fds
        try:
            lease, epoch = Lease.read(message), self._epochs.adopt(epoch_fd)
        except (KeyError, TypeError, ValueError, OSError) as err:
            os.close(connection_fd)
            log.warning("a handoff's lease could not be read: %s", err)
            return
        asyncio.get_running_loop().create_task(self._adopt(socket.socket(fileno=connection_fd), lease, epoch, data))

    async def _adopt(self, conn: socket.socket, lease: Lease, epoch: mmap.mmap, data: bytes) -> None:
        conn.setblocking(False)
        await asyncio.get_running_loop().connect_accepted_socket(
            lambda: LeasedConnection(self._server, lease, epoch, self._invoke, self._invocations, data), conn)
