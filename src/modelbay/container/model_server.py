"""The model server's parent process: one listening socket, the worker processes serving it, and their care.

Start-up: bind the socket and answer 503 on it while the user's code is staged (its requirements
installed) and each worker loads the model; once every worker has, stop answering and open the
gate: the workers accept from then on. A worker that cannot load the model fails the server, its
reason kept in `failure`. After start-up a worker that dies is replaced, one stuck in a request
past SAGEMAKER_MODEL_SERVER_TIMEOUT is killed (and so replaced), and SIGTERM or SIGINT stops the
workers gracefully (each finishes the request in progress), then the server.

Workers are new interpreters (`python -m modelbay.container.worker`), not forks: a framework's
threads and the parent's event loop do not survive fork. Each inherits the socket and four
descriptors (their numbers in its argv, see worker.py): the status pipe (one JSON line: ready, or
why not), the gate (a pipe the supervisor closes to open it), the heartbeat file, and the handoff
socket (handoff.py) when the platform asks for one, which the supervisor binds beside the port.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mmap
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelbay.container import handoff
from modelbay.container.http_server import HttpServer, Request, Response
from modelbay.container.serving_env import ServingEnv
from modelbay.container.user_program import UserProgramError

WORKER_MODULE = "modelbay.container.worker"
WATCH_EVERY_S = 1.0
_STATUS_LIMIT = 3000  # a status line stays under PIPE_BUF, so lines of several workers never interleave
_SLOT = struct.Struct("=dq")  # when the slot's request started, and how many connections handed over it holds
_STARTED, _HELD = struct.Struct("=d"), struct.Struct("=q")

log = logging.getLogger(__name__)


class Heartbeats:
    """Per worker slot, when the request it is answering started (time.monotonic; 0 when idle) and how many
    connections handed over (handoff.py) it holds, in a file the supervisor and its workers share; each slot's
    worker writes its own, the supervisor resets it for a new worker."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._map = mmap.mmap(fd, 0)

    @classmethod
    def create(cls, slots: int) -> Heartbeats:
        fd, path = tempfile.mkstemp(prefix="modelbay-heartbeats-")
        os.unlink(path)
        os.ftruncate(fd, _SLOT.size * slots)
        return cls(fd)

    @property
    def slots(self) -> int:
        return len(self._map) // _SLOT.size

    def mark(self, slot: int, started: float) -> None:
        _STARTED.pack_into(self._map, slot * _SLOT.size, started)

    def started(self, slot: int) -> float:
        return float(_SLOT.unpack_from(self._map, slot * _SLOT.size)[0])

    def hold(self, slot: int, change: int) -> None:
        """The slot's worker holds `change` more connections handed over."""
        _HELD.pack_into(self._map, slot * _SLOT.size + _STARTED.size, self.held(slot) + change)

    def held(self, slot: int) -> int:
        return int(_SLOT.unpack_from(self._map, slot * _SLOT.size)[1])

    def reset(self, slot: int) -> None:
        _SLOT.pack_into(self._map, slot * _SLOT.size, 0.0, 0)

    def close(self) -> None:
        self._map.close()
        os.close(self.fd)


def report_status(fd: int, slot: int, error: str | None = None) -> None:
    """Tell the supervisor the worker in `slot` is ready (no `error`) or could not load the model."""
    message: dict[str, Any] = {"slot": slot, "pid": os.getpid()}
    if error is not None:
        message["error"] = error[:_STATUS_LIMIT]
    os.write(fd, json.dumps(message).encode() + b"\n")


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    is_ready: bool = False


def _loading(request: Request) -> Response:
    return Response(503, b"the model is loading\n", close=True)


class Supervisor:
    """Runs one model server: `run()` returns its exit code; `failure` says why it failed, if it did."""

    def __init__(self, env: ServingEnv, prepare: Callable[[], Path | None]) -> None:
        """`prepare` stages the user's code and returns the dir holding the entry point (None: no entry point)."""
        self.env, self._prepare = env, prepare
        self.failure: str | None = None
        self._workers: dict[int, _Worker] = {}  # by slot
        self._code_dir: Path | None = None
        self._is_stopping = False
        self._exit_code = 0
        self._status_buffer = b""

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGCHLD, self._reap)
        self._sock = socket.create_server((self.env.host, self.env.port), backlog=socket.SOMAXCONN)
        self._handoff = _handoff_socket(self.env.handoff_address) if self.env.handoff_address else None
        self._status_read, self._status_write = os.pipe()
        self._gate_read, self._gate_write = os.pipe()
        self._beats = Heartbeats.create(self.env.workers)
        self._loading_server = HttpServer(_loading)
        self._loading_server.start(self._sock.dup())
        try:
            await self._start()
            await self._done
        finally:
            await self._loading_server.shut_down(0)
            self._close()
        return self._exit_code

    def stop(self, exit_code: int = 0) -> None:
        """Stop the workers gracefully, then the server with `exit_code`."""
        if self._is_stopping:
            return
        self._is_stopping, self._exit_code = True, exit_code
        for worker in self._workers.values():
            worker.proc.send_signal(signal.SIGTERM)
        self._finish_if_stopped()

    async def _start(self) -> None:
        try:
            self._code_dir = await asyncio.to_thread(self._prepare)
        except UserProgramError as err:
            self._fail(str(err))
            return
        if self._is_stopping:
            return
        asyncio.get_running_loop().add_reader(self._status_read, self._read_status)
        for slot in range(self.env.workers):
            self._spawn(slot)
        self._watch()

    def _spawn(self, slot: int) -> None:
        self._beats.reset(slot)
        handoff = self._handoff.fileno() if self._handoff is not None else -1
        fds = (self._sock.fileno(), self._status_write, self._gate_read, self._beats.fd, handoff)
        argv = [sys.executable, "-m", WORKER_MODULE, str(slot), ",".join(map(str, fds)), str(self._code_dir or "")]
        try:
            proc = subprocess.Popen(argv, pass_fds=[fd for fd in fds if fd >= 0], stdin=subprocess.DEVNULL)
        except OSError as err:
            self._fail(f"could not start a model server worker: {err}")
            return
        self._workers[slot] = _Worker(proc)

    def _read_status(self) -> None:
        *lines, self._status_buffer = (self._status_buffer + os.read(self._status_read, 65536)).split(b"\n")
        for line in lines:
            message = json.loads(line)
            worker = self._workers.get(message["slot"])
            if worker is None or worker.proc.pid != message["pid"] or self._is_stopping:
                continue
            if "error" in message:
                self._fail(f"the model could not be loaded: {message['error']}")
                return
            worker.is_ready = True
            if self._gate_write >= 0 and all(w.is_ready for w in self._workers.values()):
                asyncio.get_running_loop().create_task(self._open_gate())

    async def _open_gate(self) -> None:
        """Every worker has loaded the model: stop answering 503 and let the workers accept."""
        await self._loading_server.shut_down(1.0)
        os.close(self._gate_write)
        self._gate_write = -1
        log.info("model server ready: %d workers on %s:%d", len(self._workers), self.env.host, self.env.port)

    def _reap(self) -> None:
        for slot, worker in list(self._workers.items()):
            code = worker.proc.poll()
            if code is not None:
                del self._workers[slot]
                self._on_exit(slot, worker, code)
        self._finish_if_stopped()

    def _on_exit(self, slot: int, worker: _Worker, code: int) -> None:
        if self._is_stopping:
            return
        if not worker.is_ready:
            self._fail(f"the model could not be loaded: a worker exited with code {code} while loading it")
        elif code == 0:  # it was stopped on purpose (SIGTERM to the process group): so is the server
            self.stop()
        else:
            log.warning("model server worker %d exited with code %d; starting another", worker.proc.pid, code)
            self._spawn(slot)

    def _watch(self) -> None:
        """Kill each worker answering one request for longer than the timeout; it is then replaced."""
        now = time.monotonic()
        for slot, worker in self._workers.items():
            started = self._beats.started(slot)
            if started and now - started > self.env.timeout_s:
                log.error("model server worker %d spent over %d s on a request (SAGEMAKER_MODEL_SERVER_TIMEOUT): "
                          "killing it", worker.proc.pid, self.env.timeout_s)
                self._beats.mark(slot, 0.0)
                worker.proc.kill()
        asyncio.get_running_loop().call_later(WATCH_EVERY_S, self._watch)

    def _fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
        self.stop(1)

    def _finish_if_stopped(self) -> None:
        if self._is_stopping and not self._workers and not self._done.done():
            self._done.set_result(None)

    def _close(self) -> None:
        asyncio.get_running_loop().remove_reader(self._status_read)
        for fd in (self._status_read, self._status_write, self._gate_read, self._gate_write):
            if fd >= 0:
                os.close(fd)
        self._beats.close()
        self._sock.close()
        if self._handoff is not None:
            self._handoff.close()
            Path(self.env.handoff_address or "").unlink(missing_ok=True)


def _handoff_socket(path: str) -> socket.socket | None:
    """The handoff socket listening at `path`; None if it cannot be had, when the model server takes no handoff (the
    front door then answers its endpoint itself)."""
    try:
        return handoff.listen(path)
    except OSError as err:
        log.warning("the handoff socket could not be bound (%s): the model server takes no handoff", err)
        return None
