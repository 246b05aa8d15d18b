"""The server process: bind, build the app, serve, report where.

It binds its socket itself so that `--port 0` can report the port the kernel chose, and
writes the address file only once the app is ready to answer (atomically, so a reader never
sees half an address).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
from collections.abc import Collection
from pathlib import Path
from typing import Any

import uvicorn
import uvloop

from modelbay.api.app import build_app
from modelbay.config import Settings
from modelbay.controllers.loops import background_loops

log = logging.getLogger("modelbay")


def serve(settings: Settings, address_file: Path | None = None, announce: bool = True) -> None:
    """Serve until interrupted (SIGINT/SIGTERM end it gracefully)."""
    sock = bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    url = f"http://{_url_host(host)}:{port}"
    app = build_app(settings, virtual_hosts=_virtual_hosts(settings.host), background=background_loops)
    server = uvicorn.Server(uvicorn_config(app))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # uvicorn picks a loop only in run()
        runner.run(_serve(server, sock, url, address_file, announce))


def uvicorn_config(app: Any) -> uvicorn.Config:
    """How modelbay serves an app: httptools, long keep-alive (clients pool connections), and no
    per-response work nobody reads (no Server or Date header; no proxy headers on a direct port)."""
    return uvicorn.Config(app, log_level="warning", http="httptools", lifespan="on", timeout_keep_alive=75,
                          proxy_headers=False, server_header=False, date_header=False)


async def _serve(server: uvicorn.Server, sock: socket.socket, url: str, address_file: Path | None,
                 announce: bool) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        if announce:
            print(f"modelbay listening on {url}", flush=True)
        if address_file is not None:
            write_atomically(address_file, url + "\n")
    await task


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _virtual_hosts(host: str) -> Collection[str]:
    return {name for name in (host, socket.gethostname()) if name and not name[0].isdigit()}
