"""The front door's side of the handoff (Settings.data_plane "direct"): a caller's connection handed to the model server
of the endpoint it invokes, which answers its invocations from then on with no proxy between them.
container/handoff.py says how a model server takes a connection and what its lease covers.

- **When.** After the front door answers an invocation with a 2XX on a connection kept alive, with nothing read of a
  next request, and only if every invocation of the endpoint goes to one instance (`Router.sole_instance`: one
  variant, one instance in rotation, no traffic shift, shadow, queue or concurrency cap), the endpoint captures no
  data, and that instance's model server takes handoffs (modelbay's own, on this machine; one that refuses is not
  asked again). Anything else stays the front door's.
- **The epoch.** A number in a file of the data directory that every process of the front door maps. The first
  process raises it each time the tables change, once every process has applied them and before the change is
  acknowledged (`Handoffs` is the last member of its router_fleet.Several): a lease carries the number read when it
  was granted, so a lease granted under an older table lapses before any request is routed by it, and its
  connection comes back.
- **What comes back.** Connections a model server hands back arrive on this process's return socket and are served
  as if just accepted (uvicorn's protocol, fed the bytes the model server read of them). The invocation lines model
  servers send arrive on its metrics socket and are recorded as the front door records its own invocations.

A model server takes connections on a socket in its /opt/ml (its instance's directory on this machine: Backend.handoff),
whatever network the instance has; the return and metrics sockets are socket pairs whose other ends go with each
connection handed over, so a model server reaches them from any namespace. Like HAProxy's data plane, this one checks
no signature: it serves `--auth open` without TLS only.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import os
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

from modelbay.config import AUTH_OPEN, Settings
from modelbay.container import handoff
from modelbay.platform import Platform, Regions
from modelbay.security.sigv4 import read_credential
from modelbay.services.sagemaker_runtime import MAX_MESSAGE_CHARS, model_log
from modelbay.serving import haproxy

log = logging.getLogger(__name__)

# a protocol for a connection handed back, which parses the bytes given (read of it already) before any it reads
ProtocolFactory = Callable[[bytes], asyncio.Protocol]

EPOCH_FILE = "handoff-epoch"
_EPOCH = struct.Struct("=Q")
_MICROSECONDS = 1e6
_FRAMING = ("content-length", "connection")  # what the model server's own answer frames, not passed through


class HandoffUnavailable(Exception):
    """The direct data plane asked for with settings it cannot keep."""


def require_direct(settings: Settings, tls: bool) -> None:
    if settings.auth_mode != AUTH_OPEN or tls:
        raise HandoffUnavailable("--data-plane direct serves --auth open without TLS only: a model server checks no "
                                 "signature and speaks plain HTTP")


class Handoffs:
    """One process's end of the handoff (see the module's docstring); the first process's is also a member of its
    router_fleet.Several, which raises the epoch when the tables change."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.regions: Regions | None = None  # the server's, set once its app is built
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = settings.data_dir / EPOCH_FILE
        self._epoch_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._epoch_fd).st_size < _EPOCH.size:
            os.pwrite(self._epoch_fd, bytes(_EPOCH.size), 0)
        self._epoch = mmap.mmap(self._epoch_fd, _EPOCH.size)
        # read here; their other ends go with every connection handed over, to the model servers
        self._returns, self._returns_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._returns.setblocking(False)
        self._metrics, self._metrics_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._refusing: set[str] = set()  # instances whose model server takes no handoff
        self._leases: dict[tuple[str, str, str], dict[str, Any]] = {}  # (region, endpoint, variant) → its lease
        self._protocols: ProtocolFactory | None = None  # the front door's, once it hands a connection over
        self._adopting: set[asyncio.Task[None]] = set()  # connections handed back, being adopted

    def _start(self, protocols: ProtocolFactory) -> None:
        """Take connections handed back (each served by a protocol `protocols` makes) on the running loop, and
        invocation lines on a thread: from the first handoff on."""
        self._protocols = protocols
        asyncio.get_running_loop().add_reader(self._returns.fileno(), self._take_back)
        threading.Thread(target=self._read_lines, name="handoff-lines", daemon=True).start()

    # -- router_fleet.Workers ---------------------------------------------------------------------------------------

    def follow(self, region: str) -> None:
        """Every process applied the tables: raise the epoch, so that every lease granted before lapses."""
        _EPOCH.pack_into(self._epoch, 0, _EPOCH.unpack_from(self._epoch)[0] + 1)

    def ask(self, region: str, method: str, *args: Any) -> list[Any]:
        return []  # the model servers answer what they were handed; the front door routes nothing there

    def listen(self, region: str, event: str, listener: Callable[[str, str], None]) -> None:
        return None

    # -- handing over -----------------------------------------------------------------------------------------------

    def hand_over(self, connection: socket.socket, endpoint: str, authorization: str | None,
                  protocols: ProtocolFactory) -> bool:
        """Hand `connection` (this process's descriptor stays open: the caller closes it) to the model server of
        `endpoint` if one may take it; whether it did. A connection handed back is served by a protocol `protocols`
        makes, as if just accepted."""
        credential = read_credential({"authorization": authorization}, {}) if authorization else None
        region = credential.region if credential is not None and credential.region else self.settings.region
        platform = self.regions.find(region) if self.regions is not None else None
        if platform is None or platform.capture.captures(endpoint):
            return False
        sole = platform.router.sole_instance(endpoint)
        if sole is None:
            return False
        variant, backend = sole
        if backend.handoff is None or backend.instance_id in self._refusing:
            return False
        lease = self._lease(platform, endpoint, variant) | {"epoch": _EPOCH.unpack_from(self._epoch)[0]}
        if self._protocols is None:
            self._start(protocols)
        fds = [connection.fileno(), self._epoch_fd, self._returns_end.fileno(), self._metrics_end.fileno()]
        try:
            handoff.send_to(backend.handoff, fds, lease)
        except OSError as err:
            log.info("instance %s takes no handoff (%s): the front door answers its endpoint", backend.instance_id,
                     err)
            self._refusing.add(backend.instance_id)
            return False
        return True

    def _lease(self, platform: Platform, endpoint: str, variant: str) -> dict[str, Any]:
        region, account = platform.settings.region, self.settings.account_id
        key = (region, endpoint, variant)
        found = self._leases.get(key)
        if found is None:
            see, log_stream = model_log(region, account, endpoint)
            found = self._leases[key] = {
                "region": region, "endpoint": endpoint, "variant": variant, "max_body": haproxy.MAX_BODY_BYTES,
                "signing_scope": "/sagemaker/aws4_request",
                "rules": [list(rule) for rule in haproxy.checked_headers()],
                "forwarded": list(haproxy.FORWARDED_REQUEST_HEADERS),
                "answered": [name for name in haproxy.FORWARDED_RESPONSE_HEADERS if name not in _FRAMING],
                "see": see, "log_stream": log_stream,
                "max_message": MAX_MESSAGE_CHARS}
        return found

    # -- what comes back --------------------------------------------------------------------------------------------

    def _take_back(self) -> None:
        """Each connection handed back (a packet each) that is waiting."""
        while True:
            try:
                fds, _, data = handoff.take(self._returns)
            except (BlockingIOError, InterruptedError):
                return
            except ValueError as err:  # not a handoff's packet: the next one may be
                log.warning("a connection handed back could not be read: %s", err)
                continue
            if len(fds) != 1 or self._protocols is None:
                for fd in fds:
                    os.close(fd)
                continue
            task = asyncio.get_running_loop().create_task(self._adopt(socket.socket(fileno=fds[0]), data,
                                                                      self._protocols))
            self._adopting.add(task)
            task.add_done_callback(self._adopting.discard)

    @staticmethod
    async def _adopt(connection: socket.socket, data: bytes, protocols: ProtocolFactory) -> None:
        await asyncio.get_running_loop().connect_accepted_socket(lambda: protocols(data), connection)

    def _read_lines(self) -> None:
        while True:
            try:
                batch = self._metrics.recv(1 << 20)
            except OSError:  # closed: the server stops
                return
            for line in batch.decode(errors="replace").splitlines():
                try:
                    self._record(line.split())
                except Exception:  # a line this reader cannot place must not end the reader
                    log.exception("an invocation line could not be recorded: %r", line)

    def _record(self, fields: list[str]) -> None:
        mark, region, endpoint, variant, status, read, called, answered, ended = fields
        platform = self.regions.find(region) if self.regions is not None and mark == handoff.INVOCATION_MARK else None
        if platform is None:
            return
        model_s = (int(answered) - int(called)) / _MICROSECONDS
        total_s = (int(ended) - int(read)) / _MICROSECONDS
        # a lease is granted for an endpoint's sole instance only
        platform.publisher.record(endpoint, variant, 1, int(status), model_s, max(total_s - model_s, 0.0))
