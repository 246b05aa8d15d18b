"""The server process: bind, build the app, serve, report where.

It binds its socket itself so that `--port 0` can report the port the kernel chose, and
writes the address file only once the app is ready to answer (atomically, so a reader never
sees half an address).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import signal
import socket
from collections.abc import Callable, Collection, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Literal

import uvicorn
import uvloop

from modelbay.api.app import ApiApp, build_app
from modelbay.config import AUTH_OPEN, DATA_PLANE_DIRECT, DATA_PLANE_HAPROXY, Settings
from modelbay.controllers.loops import controllers
from modelbay.front_door import front_door_protocol
from modelbay.front_door_handoff import Handoffs, require_direct
from modelbay.front_door_proxy import ProxyLane, ProxyUnavailable, require_proxy
from modelbay.front_door_workers import SUPERVISE_INTERVAL_S, LeaderLink, WorkerPool, worker_count
from modelbay.http_guard import HTTP_LIMITS, HttpLimits
from modelbay.runtime.network import claim_api_address
from modelbay.security.tls import TlsFiles, TlsMisconfigured, operator_files, self_signed
from modelbay.serving.router_fleet import Several
from modelbay.user_files import write_text

TICK_S, TICKS_PER_S = 1.0, 10  # how often a server ticks; uvicorn's ticks in a second, which `on_tick` counts in

log = logging.getLogger("modelbay")


def serve(settings: Settings, address_file: Path | None = None, announce: bool = True) -> None:
    """Serve until interrupted: SIGINT/SIGTERM end it gracefully (in-flight requests finish, then the
    instances stop, see controllers/loops.py)."""
    configure_logging()
    tls = tls_files(settings)
    settings = dataclasses.replace(settings, workers=worker_count(settings))
    proxied = settings.data_plane == DATA_PLANE_HAPROXY
    if proxied:
        require_proxy(settings, tls is not None)
    if settings.data_plane == DATA_PLANE_DIRECT:
        require_direct(settings, tls is not None)
    sock = bind(settings.host, settings.port, shared=settings.workers > 1 and not proxied)
    host, port = sock.getsockname()[:2]
    front = bind(_front_door_host(settings), 0, shared=settings.workers > 1) if proxied else sock
    url = f"{'https' if tls else 'http'}://{_url_host(host)}:{port}"
    settings, for_instances = instance_api(settings, host, port, tls=tls is not None)
    settings = dataclasses.replace(settings, announced_url=settings.announced_url or url)
    front_port = front.getsockname()[1]
    pool = WorkerPool(settings, front_port, tls, serve_worker) if settings.workers > 1 else None
    lane = ProxyLane(settings, sock, front_port) if proxied else None
    handoffs = handoffs_of(settings)
    # the epoch of handoffs' leases is raised last, once every other member has applied a change
    others = Several(*(member for member in (pool, lane, handoffs) if member is not None))
    app = build_app(settings, virtual_hosts=_virtual_hosts(settings.host),
                    background=lambda platform: controllers(platform, others))
    for follower in (lane, handoffs):
        if follower is not None:
            follower.regions = app.state.regions
    servers: list[tuple[uvicorn.Server, list[socket.socket]]] = [
        (_FirstServer(uvicorn_config(app, tls=tls, handoffs=handoffs), pool, lane), [front])]
    if for_instances:  # plain HTTP on the host's own loopback, which instances' traffic to it never leaves
        servers.append((_Companion(uvicorn_config(app, lifespan="off")), for_instances))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # uvicorn picks a loop only in run()
        runner.run(_serve(servers, url, address_file, announcement(url, settings, tls) if announce else None, pool,
                               lane))


def serve_worker(settings: Settings, port: int, tls: TlsFiles | None, link: Connection) -> None:
    """A front-door worker process (front_door_workers.py): the app, its routers following the first process's
    tables, and the port, shared, once the first process has included it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches every process: the first one stops the workers
    configure_logging()
    leader = LeaderLink(link)
    app = build_app(settings, virtual_hosts=_virtual_hosts(settings.host), background=leader.following)
    leader.regions = app.state.regions
    handoffs = handoffs_of(settings)
    if handoffs is not None:
        handoffs.regions = app.state.regions
    server = _Worker(uvicorn_config(app, tls=tls, lifespan="off", handoffs=handoffs))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(leader.serve(app, server, lambda: bind(_front_door_host(settings), port, shared=True)))


class _Server(uvicorn.Server):
    """uvicorn's server ticking once a second, not ten times. Its tick refreshes the default headers (once a second
    in uvicorn too) and looks whether to stop: ten times a second, an idle server's loop (and its companion's) would
    wake for nothing else. Asking it to stop (`should_exit`, from a signal handler or another thread) wakes the tick
    at once."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._should_exit = False
        self._wake_tick: Callable[[], object] | None = None  # set as the server starts ticking, on its loop
        super().__init__(config)

    @property  # uvicorn's is a plain attribute
    def should_exit(self) -> bool:
        return self._should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._should_exit = value
        if value and self._wake_tick is not None:
            self._wake_tick()

    async def main_loop(self) -> None:
        stop_asked = asyncio.Event()
        self._wake_tick = functools.partial(asyncio.get_running_loop().call_soon_threadsafe, stop_asked.set)
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + TICKS_PER_S) % 864000  # uvicorn's wrap, a day of its ticks
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_asked.wait(), TICK_S)


class _FirstServer(_Server):
    """The server's first process: its workers (started once it has, by `_serve`) are looked after while it serves,
    and stop before it does (before its controllers and instances); HAProxy, if it answers the port, stops first."""

    def __init__(self, config: uvicorn.Config, pool: WorkerPool | None, lane: ProxyLane | None) -> None:
        super().__init__(config)
        self.pool, self.lane = pool, lane

    async def on_tick(self, counter: int) -> bool:
        # a worker that ended as the server stops (Ctrl-C reaches every process) stays so
        if not self.should_exit and counter % round(SUPERVISE_INTERVAL_S * TICKS_PER_S) == 0:
            if self.pool is not None:
                await asyncio.to_thread(self.pool.replace_dead)
            if self.lane is not None:
                self.lane.replace_dead()  # on this thread, which HAProxy's life is tied to
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.lane is not None:
            await asyncio.to_thread(self.lane.stop)
        if self.pool is not None:
            await asyncio.to_thread(self.pool.stop)
        await super().shutdown(sockets)


class _Worker(_Server):
    """A front-door worker's server: SIGTERM (from the first process) stops it gracefully; it ignores SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = signal.signal(signal.SIGTERM, self.handle_exit)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)


class _Companion(_Server):
    """A server beside the main one: the main one takes the signals, and stops this one when it stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def tls_files(settings: Settings) -> TlsFiles | None:
    """The API port's certificate and key: the operator's (--tls-cert with --tls-key), one made for local use
    (--tls-self-signed), or none (plain HTTP); TlsMisconfigured for settings that cannot serve."""
    if settings.tls_cert is not None or settings.tls_key is not None:
        if settings.tls_cert is None or settings.tls_key is None or settings.tls_self_signed:
            raise TlsMisconfigured("give --tls-cert and --tls-key together, or --tls-self-signed alone")
        return operator_files(settings.tls_cert, settings.tls_key)
    if settings.tls_self_signed:
        return self_signed(settings.tls_dir, settings.host)
    return None


def instance_api(settings: Settings, host: str, port: int, tls: bool = False) -> tuple[Settings, list[socket.socket]]:
    """Where jobs' programs reach the API (as SageMaker's reach AWS's), and the socket to listen there too (in plain
    HTTP: it is on the host's loopback): MODELBAY_INSTANCE_API_URL if set; else the API address on the host's
    loopback (runtime/network.py) where instances have networks of their own; else the server's own address (they
    share the host's network). Where the server's port speaks TLS (`tls`), which instances' plain HTTP does not,
    theirs is a port of its own: on the API address, or on the loopback where they share the host's network."""
    if settings.instance_api_url is not None:
        return settings, []
    wildcard = host in ("0.0.0.0", "::")
    address = claim_api_address() if settings.instance_networks else None
    if address is not None and (tls or not wildcard):  # else the server's own wildcard socket listens there
        try:
            return _listening_for_instances(settings, bind(address, 0 if tls else port))
        except OSError as error:
            log.warning("instances cannot reach the API at %s: %s", address, error)
            address = None
    if tls:
        return _listening_for_instances(settings, bind("127.0.0.1", 0))
    reached = address or ("127.0.0.1" if wildcard else host)
    return dataclasses.replace(settings, instance_api_url=f"http://{_url_host(reached)}:{port}"), []


def _listening_for_instances(settings: Settings, sock: socket.socket) -> tuple[Settings, list[socket.socket]]:
    """The settings telling instances of `sock`, where they reach the API in plain HTTP, and the socket."""
    address, port = sock.getsockname()[:2]
    return dataclasses.replace(settings, instance_api_url=f"http://{_url_host(address)}:{port}"), [sock]


def configure_logging() -> None:
    """The server's log on stderr: warnings and errors (a call that failed on modelbay's side, a reconcile pass
    that broke), each line with its time, level and logger, for a person to read."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def announcement(url: str, settings: Settings, tls: TlsFiles | None = None) -> str:
    """What a person starting the server is told: where it listens, how calls are authenticated and clients trust
    it, where its data is, how to stop it."""
    ending = ("and leaves its instances running for the next server to adopt" if settings.keep_instances
              else "and its instances (--keep-instances leaves them running)")
    lines = [f"modelbay listening on {url}", _auth_line(settings)]
    if tls is not None and tls.ca_bundle is not None:
        lines.append(f"its certificate is signed by its own authority: trust it with "
                     f"export AWS_CA_BUNDLE={_home_relative(tls.ca_bundle)}")
    lines += [f"data in {_home_relative(settings.data_dir)}, framework environments in "
              f"{_home_relative(settings.environments_dir)}", f"Ctrl-C stops the server {ending}"]
    return "\n".join(lines)


def _auth_line(settings: Settings) -> str:
    if settings.auth_mode == AUTH_OPEN:
        return "auth: open (any access key is the account root; loopback only)"
    return (f"auth: iam (signed requests, IAM policies); the root key is in {_home_relative(settings.root_key_file)}: "
            'eval "$(modelbay env)" hands it out')


def handoffs_of(settings: Settings) -> Handoffs | None:
    """This process's end of the direct data plane, if it is the server's."""
    return Handoffs(settings) if settings.data_plane == DATA_PLANE_DIRECT else None


def uvicorn_config(app: ApiApp, limits: HttpLimits = HTTP_LIMITS, tls: TlsFiles | None = None,
                   lifespan: Literal["on", "off"] = "on", handoffs: Handoffs | None = None) -> uvicorn.Config:
    """How modelbay serves an app: httptools with bounded heads and timeouts (http_guard.py), long
    keep-alive (clients pool connections), no per-response work nobody reads (no Server or Date
    header; no proxy headers on a direct port; no access log, whose lines uvicorn would format for every request even
    at log level warning), TLS if given, and connections handed to model servers by `handoffs` if given."""
    return uvicorn.Config(app, log_level="warning", http=front_door_protocol(limits, app.invocations, handoffs),
                          lifespan=lifespan, access_log=False,
                          timeout_keep_alive=round(limits.idle_timeout_s), proxy_headers=False, server_header=False,
                          date_header=False, ssl_certfile=None if tls is None else tls.certificate,
                          ssl_keyfile=None if tls is None else tls.private_key)


async def _serve(servers: list[tuple[uvicorn.Server, list[socket.socket]]], url: str, address_file: Path | None,
                 announcement: str | None, pool: WorkerPool | None = None, lane: ProxyLane | None = None) -> None:
    """Serve each server on its sockets until the first (the one whose lifespan runs the app) ends; the others
    stop with it. Once the first has started, so have the front door's workers (`pool`) and HAProxy (`lane`), before
    it is announced."""
    (server, sockets), others = servers[0], servers[1:]
    task = asyncio.create_task(server.serve(sockets=sockets))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    helpers = [asyncio.create_task(other.serve(sockets=more)) for other, more in others]
    if server.started and pool is not None:
        await asyncio.to_thread(pool.start)
    if server.started and lane is not None:
        try:
            lane.start()  # on this thread, which HAProxy's life is tied to
        except ProxyUnavailable:
            server.should_exit = True
            await task
            raise
    if server.started:
        if announcement is not None:
            print(announcement, flush=True)
        if address_file is not None:
            address_file.parent.mkdir(parents=True, exist_ok=True)
            write_text(address_file, url + "\n")  # atomically: a reader never sees half an address
    try:
        await task
    finally:
        for other, _ in others:
            other.should_exit = True
        await asyncio.gather(*helpers, return_exceptions=True)


def bind(host: str, port: int, shared: bool = False) -> socket.socket:
    """A listening socket on `host`:`port`; `shared` (SO_REUSEPORT) with the front door's other processes, among
    which the kernel spreads new connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _front_door_host(settings: Settings) -> str:
    """Where the front door listens: behind HAProxy, on the loopback; else where the server does."""
    return "127.0.0.1" if settings.data_plane == DATA_PLANE_HAPROXY else settings.host


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
