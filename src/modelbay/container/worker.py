"""A model server worker, started by the supervisor: `python -m modelbay.container.worker SLOT FDS CODE_DIR`.

FDS are the inherited descriptors `listening socket,status pipe,gate,heartbeat file,handoff socket`
(-1: none); CODE_DIR holds the user's entry point (empty: none). The worker loads the model, reports
to the supervisor, waits for the gate to open, then answers `GET /ping` and `POST /invocations` on
the shared socket, and the connections the front door hands over (handoff.py), until SIGTERM (or
SIGINT), when it finishes the request in progress (handing leased connections back) and exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from modelbay.container import cpu_slice
from modelbay.container.compiled_handler import handlers_for
from modelbay.container.content_types import ANY, JSON, UnsupportedContentType
from modelbay.container.handoff import HandoffServer
from modelbay.container.http_server import HttpServer, Request, Response
from modelbay.container.inference import Inference
from modelbay.container.model_server import Heartbeats, report_status
from modelbay.container.serving_env import ServingEnv, configure_logging
from modelbay.container.user_program import UserProgramError, import_entry_point

_PING = Response(200)
_NOT_FOUND = Response(404, b"not found: the model server answers GET /ping and POST /invocations\n")
_NOT_ALLOWED = Response(405, b"method not allowed\n")

log = logging.getLogger(__name__)


class ModelApp:
    """The worker's HTTP face: `/ping` answers 200 (the model is loaded before the worker accepts),
    `/invocations` runs the handlers, the worker's scheduler slice fitted to their CPU time (cpu_slice.py)."""

    def __init__(self, inference: Inference, default_accept: str, beats: Heartbeats, slot: int,
                 cpu: cpu_slice.FittedSlice) -> None:
        self.inference, self.default_accept = inference, default_accept
        self.beats, self.slot, self._cpu = beats, slot, cpu

    def __call__(self, request: Request) -> Response:
        if request.path == "/invocations":
            return self.invoke(request) if request.method == "POST" else _NOT_ALLOWED
        if request.path == "/ping":
            return _PING if request.method == "GET" else _NOT_ALLOWED
        return _NOT_FOUND

    def invoke(self, request: Request) -> Response:
        headers = request.headers
        content_type = headers.get("content-type") or JSON
        accept = headers.get("accept")
        if not accept or accept == ANY:
            accept = self.default_accept
        self.beats.mark(self.slot, time.monotonic())
        started = time.thread_time()
        try:
            body, answer_type, extra = self.inference.invoke(request.body, content_type, accept, headers)
            self._cpu.observe(time.thread_time() - started)
        except UnsupportedContentType as err:
            self.beats.mark(self.slot, 0.0)
            return Response(415, str(err).encode())
        except Exception as err:  # the user's code failed: the caller gets its message (a ModelError)
            self.beats.mark(self.slot, 0.0)
            log.exception("the model failed to answer a request")
            return Response(500, f"{type(err).__name__}: {err}".encode())
        if isinstance(body, bytes):
            self.beats.mark(self.slot, 0.0)
            return Response(200, body, answer_type, extra)
        return Response(200, content_type=answer_type, headers=extra, chunks=self._streamed(body))

    def _streamed(self, pieces: Iterator[bytes]) -> Iterator[bytes]:
        """A streamed answer's pieces; the request lasts (for the supervisor's timeout) until they end."""
        try:
            yield from pieces
        finally:
            self.beats.mark(self.slot, 0.0)


def load_inference(env: ServingEnv, code_dir: Path | None) -> Inference:
    """The user's entry point (if any) over the framework's defaults (a compiled model's, when it is one), with
    the model loaded."""
    module = import_entry_point(env.program, code_dir) if env.program and code_dir else None
    inference = Inference(handlers_for(env.framework, env.model_dir), module, str(env.model_dir))
    inference.load_model()
    return inference


async def serve(app: ModelApp, sock: socket.socket, handoff: socket.socket | None, grace_s: float) -> None:
    """Answer on `sock` and the connections handed over on `handoff` until SIGTERM or SIGINT, then let connections
    finish their request (at most `grace_s`)."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    server = HttpServer(app)
    server.start(sock)
    handoffs = HandoffServer(server, app.invoke, app.beats, app.slot)
    if handoff is not None:
        handoffs.start(handoff)
    await stopped.wait()
    handoffs.stop()
    await server.shut_down(grace_s)
    handoffs.flush()


def main(argv: list[str]) -> int:
    slot, fds, code_dir = int(argv[0]), [int(fd) for fd in argv[1].split(",")], argv[2]
    listen_fd, status_fd, gate_fd, beats_fd, handoff_fd = fds
    env = ServingEnv.from_environ(os.environ)
    configure_logging(env.log_level)
    try:
        inference = load_inference(env, Path(code_dir) if code_dir else None)
    except Exception as err:  # the supervisor fails the server with this reason
        log.exception("the model could not be loaded")
        reason = str(err) if isinstance(err, UserProgramError) else f"{type(err).__name__}: {err}"
        report_status(status_fd, slot, reason)
        return 1
    report_status(status_fd, slot)
    os.close(status_fd)
    while os.read(gate_fd, 1):  # the supervisor opens the gate by closing its end
        pass
    os.close(gate_fd)
    app = ModelApp(inference, env.default_accept, Heartbeats(beats_fd), slot, cpu_slice.FittedSlice(env.slice_ms))
    handoff = socket.socket(fileno=handoff_fd) if handoff_fd >= 0 else None
    asyncio.run(serve(app, socket.socket(fileno=listen_fd), handoff, env.timeout_s))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
