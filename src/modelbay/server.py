"""The server process: bind, build the app, serve, report where.

It binds its socket itself so that `--port 0` can report the port the kernel chose, and
writes the address file only once the app is ready to answer (atomically, so a reader never
sees half an address).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from collections.abc import Collection
from pathlib import Path
from typing import Any

import uvicorn
import uvloop

from modelbay.api.app import build_app
from modelbay.config import Settings
from modelbay.controllers.loops import controllers
from modelbay.http_guard import HTTP_LIMITS, HttpLimits, guarded_protocol
from modelbay.runtime.network import claim_api_address
from modelbay.user_files import write_text

log = logging.getLogger("modelbay")


def serve(settings: Settings, address_file: Path | None = None, announce: bool = True) -> None:
    """Serve until interrupted: SIGINT/SIGTERM end it gracefully (in-flight requests finish, then the
    instances stop, see controllers/loops.py)."""
    configure_logging()
    sock = bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    url = f"http://{_url_host(host)}:{port}"
    settings, for_instances = _instance_api(settings, host, port)
    app = build_app(settings, virtual_hosts=_virtual_hosts(settings.host), background=controllers)
    server = uvicorn.Server(uvicorn_config(app))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # uvicorn picks a loop only in run()
        runner.run(_serve(server, [sock, *for_instances], url, address_file,
                          announcement(url, settings) if announce else None))


def _instance_api(settings: Settings, host: str, port: int) -> tuple[Settings, list[socket.socket]]:
    """Where jobs' programs reach the API (as SageMaker's reach AWS's), and the socket to listen there too:
    MODELBAY_INSTANCE_API_URL if set; else the API address on the host's loopback (runtime/network.py) where
    instances have networks of their own; else the server's own address (they share the host's network)."""
    if settings.instance_api_url is not None:
        return settings, []
    wildcard = host in ("0.0.0.0", "::")
    address = claim_api_address() if settings.instance_networks else None
    sockets = []
    if address is not None and not wildcard:
        try:
            sockets.append(bind(address, port))
        except OSError as error:
            log.warning("instances cannot reach the API at %s:%s: %s", address, port, error)
            address = None
    reached = address or ("127.0.0.1" if wildcard else host)
    return dataclasses.replace(settings, instance_api_url=f"http://{_url_host(reached)}:{port}"), sockets


def configure_logging() -> None:
    """The server's log on stderr: warnings and errors (a call that failed on modelbay's side, a reconcile pass
    that broke), each line with its time, level and logger, for a person to read."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def announcement(url: str, settings: Settings) -> str:
    """What a person starting the server is told: where it listens, where its data is, how to stop it."""
    ending = ("and leaves its instances running for the next server to adopt" if settings.keep_instances
              else "and its instances (--keep-instances leaves them running)")
    return (f"modelbay listening on {url}\ndata in {_home_relative(settings.data_dir)}, framework environments in "
            f"{_home_relative(settings.environments_dir)}\nCtrl-C stops the server {ending}")


def uvicorn_config(app: Any, limits: HttpLimits = HTTP_LIMITS) -> uvicorn.Config:
    """How modelbay serves an app: httptools with bounded heads and timeouts (http_guard.py), long
    keep-alive (clients pool connections), and no per-response work nobody reads (no Server or Date
    header; no proxy headers on a direct port)."""
    return uvicorn.Config(app, log_level="warning", http=guarded_protocol(limits), lifespan="on",
                          timeout_keep_alive=round(limits.idle_timeout_s), proxy_headers=False, server_header=False,
                          date_header=False)


async def _serve(server: uvicorn.Server, sockets: list[socket.socket], url: str, address_file: Path | None,
                 announcement: str | None) -> None:
    task = asyncio.create_task(server.serve(sockets=sockets))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        if announcement is not None:
            print(announcement, flush=True)
        if address_file is not None:
            address_file.parent.mkdir(parents=True, exist_ok=True)
            write_text(address_file, url + "\n")  # atomically: a reader never sees half an address
    await task


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _home_relative(path: Path) -> str:
    """`path` as a person would type it: under the home directory, as ~/..."""
    path = path.absolute()
    return str(Path("~") / path.relative_to(Path.home())) if path.is_relative_to(Path.home()) else str(path)


def _virtual_hosts(host: str) -> Collection[str]:
    return {name for name in (host, socket.gethostname()) if name and not name[0].isdigit()}
