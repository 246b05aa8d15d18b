"""HAProxy ahead of the front door (Settings.data_plane "haproxy"): the server's API port, answering plain
invocations itself.

HAProxy (serving/haproxy.py says what it answers and how) takes the API's socket from the server, and forwards what
it does not answer to the front door on a loopback port. To the controllers, the ProxyLane is one more process of
the front door (router_fleet.Workers): when the store's tables change it applies them to HAProxy, through its runtime
API, before the controller that changed them goes on, so no invocation is routed by a table once a newer one is
acknowledged. A table HAProxy cannot serve alone — an asynchronous endpoint, a traffic shift, shadows, data capture,
a serverless variant, an inference pipeline, a variant with no instance yet — routes nothing through it: the front
door answers all of the endpoint's invocations. The controllers read HAProxy's requests in flight from its
statistics; its log lines are the invocations it answered, recorded as the front door records its own.

HAProxy stops when the server does (it is a child that gets SIGTERM when the thread that started it, the server's
event loop, ends) and, on a graceful stop, first: it stops taking connections and finishes those under way. It runs
in a session of its own, so a terminal's Ctrl-C reaches the server alone, which stops it so. One that dies is
started again, and applies every table anew; meanwhile the front door answers what it would have.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from modelbay.config import AUTH_OPEN, Settings
from modelbay.controllers.route_book import RouteFollower, RouteTable
from modelbay.http_guard import HTTP_LIMITS
from modelbay.platform import Regions
from modelbay.serving import haproxy
from modelbay.serving.router import MODEL_TIMEOUT_S, Demand
from modelbay.serving.router_fleet import ASKED

log = logging.getLogger(__name__)

# HAProxy runs under SCHED_BATCH (chrt, util-linux, as setpriv): a batch task does not preempt the one running when it
# wakes. A model server's answer wakes HAProxy; preempting the model's worker for each answer, on a CPU they share,
# costs both a context switch per invocation and keeps the worker from taking the next request while it runs. Not
# preempting, HAProxy forwards the answers that gathered when it runs next: measured side by side on one CPU, the light
# model at concurrency 16 gained 25-30 % in throughput, and HAProxy's CPU per invocation fell from 143-165 to 73-93 us
# (docs/benchmarks.md). Where HAProxy has a CPU to itself it changes nothing.
BATCH_SCHEDULED = ("chrt", "--batch", "0")
START_TIMEOUT_S = 10.0  # for HAProxy's admin socket to answer
STOP_GRACE_S = 30.0  # for the requests under way when the server stops
STAT_SERVERS = 4  # `show stat`'s type of the rows of servers (not of frontends and backends)
MAP_LINES_PER_COMMAND = 200  # map entries sent in one runtime API command (each well under 100 bytes)
_MICROSECONDS = 1e6


class ProxyUnavailable(Exception):
    """HAProxy cannot serve: not installed, asked for with settings it cannot keep, or it did not start."""


def require_proxy(settings: Settings, tls: bool) -> None:
    """ProxyUnavailable unless HAProxy can answer the API's port with these settings: it checks no signature and
    speaks no TLS here."""
    if shutil.which("haproxy") is None:
        raise ProxyUnavailable("--data-plane haproxy needs HAProxy: apt-get install haproxy")
    if settings.auth_mode != AUTH_OPEN or tls:
        raise ProxyUnavailable("--data-plane haproxy serves --auth open without TLS only: HAProxy checks no "
                               "signature and speaks plain HTTP here")


@dataclass(frozen=True)
class _Variant:
    """A variant a slot serves."""

    region: str
    endpoint: str
    name: str
    weight: float
    servers: dict[str, str]  # instance id → its server in the slot


class ProxyLane:
    """HAProxy as one more process of the front door (router_fleet.Workers); see the module's docstring."""

    def __init__(self, settings: Settings, listening: socket.socket, front_door_port: int) -> None:
        self.settings = settings
        self.regions: Regions | None = None  # the server's, set once its app is built
        self._listening = listening
        self._front_door_port = front_door_port
        self._run_dir = Path(tempfile.mkdtemp(prefix="modelbay-haproxy-"))  # short: it holds unix sockets
        self._api = haproxy.RuntimeApi(self._run_dir / "admin.sock")
        self._process: subprocess.Popen[bytes] | None = None
        self._log = socket.create_server(("127.0.0.1", 0))  # HAProxy's log ring connects here
        self._lock = threading.Lock()  # serializes changes to HAProxy's routes
        self._reading = False
        self._forget()

    def _forget(self) -> None:
        """Routes as a new HAProxy has them: none (every table is followed anew)."""
        self._followers: dict[str, RouteFollower] = {}
        self._uncommitted = False
        self._slots: dict[str, _Variant] = {}  # slot → the variant it serves (swapped whole: read by the log reader)
        self._free = [haproxy.slot_name(index) for index in reversed(range(haproxy.SLOTS))]
        self._placed: dict[tuple[str, str], str] = {}  # (slot, server) → the instance it is (or was, draining)
        self._leaving: list[tuple[str, str]] = []  # (slot, server) to take out of rotation at the next commit
        self._released: list[str] = []  # slots to free at the next commit

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start HAProxy on the API's socket and apply every table; call from the server's event loop thread
        (HAProxy ends with it)."""
        limits = haproxy.Limits(MODEL_TIMEOUT_S, HTTP_LIMITS.idle_timeout_s, HTTP_LIMITS.head_timeout_s)
        config = self._run_dir / "haproxy.cfg"
        config.write_text(haproxy.configuration(self._listening.fileno(), self._front_door_port,
                                                self._log.getsockname()[1], self._run_dir,
                                                self.settings.account_id, self.settings.region, limits,
                                                threads=max(self.settings.workers, 1)))
        self._process = subprocess.Popen(
            [*BATCH_SCHEDULED, "setpriv", "--pdeathsig", "TERM", "haproxy", "-db", "-q", "-f", str(config)],
            pass_fds=(self._listening.fileno(),), stdin=subprocess.DEVNULL,
            start_new_session=True)  # a terminal's Ctrl-C stops the server, which stops HAProxy gently (`stop`)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise ProxyUnavailable(f"HAProxy did not start (exit status {self._process.poll()})")
            time.sleep(0.01)
        if not self._reading:
            threading.Thread(target=self._read_log, name="haproxy-log", daemon=True).start()
            self._reading = True
        for platform in self.regions.opened() if self.regions else ():
            self.follow(platform.settings.region)

    def replace_dead(self) -> None:
        """Start HAProxy again if it ended while the server serves (the API's socket is still the server's); call
        from the server's event loop thread."""
        process = self._process
        if process is None or process.poll() is None:
            return
        log.warning("HAProxy ended (exit status %s): starting it again", process.returncode)
        with self._lock:
            self._forget()
        self.start()

    def stop(self) -> None:
        """Stop taking connections, finish those under way (up to STOP_GRACE_S), and end HAProxy."""
        process, self._process = self._process, None
        if process is not None:
            process.send_signal(signal.SIGUSR1)  # soft stop
            try:
                process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._log.close()
        shutil.rmtree(self._run_dir, ignore_errors=True)

    def _answers(self) -> bool:
        try:
            return "Name: HAProxy" in self._api.run("show info")
        except OSError:
            return False

    # -- router_fleet.Workers -----------------------------------------------------------------------

    def follow(self, region: str) -> None:
        if self._process is None or self.regions is None:
            return  # start() follows every region
        with self._lock:
            follower = self._followers.get(region)
            if follower is None:
                platform = self.regions.get(region)
                follower = self._followers[region] = RouteFollower(
                    platform, lambda endpoint, table: self._serve(region, endpoint, table))
            if follower.follow() or self._uncommitted:
                self._uncommitted = True  # until HAProxy has it all: a refused command is tried again next time
                self._commit()
                self._uncommitted = False

    def ask(self, region: str, method: str, *args: Any) -> list[Any]:
        if method not in ASKED or self._process is None:
            return []
        try:
            return [getattr(self, f"_{method}")(region, *args)]
        except OSError:  # HAProxy ended (and is started again): it has nothing in flight
            return []

    def listen(self, region: str, event: str, listener: Callable[[str, str], None]) -> None:
        return None  # HAProxy tells of nothing: its instances out of rotation are read (`_out_of_rotation`)

    # -- what the controllers ask -------------------------------------------------------------------

    def _outstanding(self, region: str, endpoint: str) -> int:
        slots = {slot for slot, v in self._slots.items() if (v.region, v.endpoint) == (region, endpoint)}
        return sum(row.busy for row in self._servers(slots))

    def _in_flight(self, region: str, instance_id: str) -> int:
        return sum(row.busy for row in self._servers_of(instance_id))

    def _answered_within(self, region: str, instance_id: str, seconds: float) -> bool:
        return any(0 <= row.idle_s < seconds for row in self._servers_of(instance_id))

    def _out_of_rotation(self, region: str, endpoint: str) -> frozenset[str]:
        serving = {slot: v for slot, v in self._slots.items() if (v.region, v.endpoint) == (region, endpoint)}
        return frozenset(self._placed[row.slot, row.server] for row in self._servers(serving)
                         if row.is_down and row.server in serving[row.slot].servers.values())

    def _concurrency(self, region: str) -> list[tuple[str, str, int, int]]:
        serving = {slot: v for slot, v in self._slots.items() if v.region == region}
        busy: Counter[str] = Counter()
        for row in self._servers(serving):
            busy[row.slot] += row.busy if row.server in serving[row.slot].servers.values() else 0
        return [(v.endpoint, v.name, busy[slot], len(v.servers)) for slot, v in serving.items()]

    def _demand(self, region: str, endpoint: str, variant: str) -> Demand:
        return Demand(0, math.inf, 0.0)

    def _servers_of(self, instance_id: str) -> list[_ServerRow]:
        """The rows of the servers that are, or were (draining), the instance's."""
        placed = {key for key, instance in self._placed.items() if instance == instance_id}
        return [row for row in self._servers({slot for slot, _ in placed}) if (row.slot, row.server) in placed]

    def _servers(self, slots: Iterable[str]) -> list[_ServerRow]:
        """The slots' servers: requests in flight and seconds since each was last given one, from `show stat` (asked
        of each slot alone: all of them would be thousands of rows)."""
        rows = []
        for slot in slots:
            text = self._api.run(f"show stat {slot} {STAT_SERVERS} -1").lstrip("# ")
            rows += [_ServerRow(row["pxname"], row["svname"], int(row["scur"] or 0),
                                int(row["lastsess"]) if row["lastsess"] not in ("", "-1") else -1,
                                row["status"].startswith("DOWN"))
                     for row in csv.DictReader(text.splitlines())]
        return rows

    # -- applying tables ----------------------------------------------------------------------------

    def _serve(self, region: str, endpoint: str, table: RouteTable | None) -> None:
        """Give the endpoint's variants slots with their instances in them, or take its slots back (under the lock;
        `_commit` routes to them, then takes out the servers that left)."""
        key = (region, endpoint)
        taken = {v.name: slot for slot, v in self._slots.items() if (v.region, v.endpoint) == key}
        wanted = table.variants if table is not None and is_plain(table) else ()
        if len(wanted) > len(taken) + len(self._free):
            log.warning("HAProxy serves %d variants already: the front door answers endpoint %s", haproxy.SLOTS,
                        endpoint)
            wanted = ()
        slots = dict(self._slots)
        for variant in wanted:
            slot = taken.pop(variant.name, None) or self._free.pop()
            servers = self._add(slot, {b.instance_id: _address(b.urls[0]) for b in variant.backends})
            slots[slot] = _Variant(region, endpoint, variant.name, variant.weight, servers)
        for slot in taken.values():  # variants the endpoint no longer has (or all of them)
            self._leaving += [(slot, server) for server in slots.pop(slot).servers.values()]
            self._released.append(slot)
        self._slots = slots

    def _add(self, slot: str, servers: dict[str, str]) -> dict[str, str]:
        """Put the instances (id → host:port) in the slot's rotation, each in a server of its own (one idle, out of
        rotation); those it had that are not among them leave it at `_commit`. Their servers, by instance."""
        current = self._slots.get(slot)
        had = current.servers if current is not None else {}
        placed = {instance: server for instance, server in had.items() if instance in servers}
        arriving = [instance for instance in servers if instance not in had]
        busy = {row.server for row in self._servers([slot]) if row.busy} if arriving else set()
        taken = set(had.values()) | {server for leaving_slot, server in self._leaving if leaving_slot == slot} | busy
        for instance in arriving:
            server = next((s for s in haproxy.slot_servers() if s not in taken), None)
            if server is None:  # its servers all serve, or finish what they had: tried again at the next change
                raise ProxyUnavailable(f"slot {slot} has no idle server for instance {instance} yet")
            taken.add(server)
            host, port = servers[instance].rsplit(":", 1)
            self._checked(f"set server {slot}/{server} addr {host} port {port}")
            self._checked(f"set server {slot}/{server} state ready")
            self._checked(f"set server {slot}/{server} health up")  # serves now, not after its first check
            self._placed[slot, server], placed[instance] = instance, server
        self._leaving += [(slot, server) for instance, server in had.items() if instance not in servers]
        return placed

    def _commit(self) -> None:
        """Swap both maps whole for what `_slots` holds now; then take the servers that left out of rotation (they
        finish what they have), and free the slots let go."""
        variants = [(slot, v.name) for slot, v in self._slots.items()]
        endpoints: dict[tuple[str, str], list[tuple[str, str, float]]] = {}
        for slot, v in self._slots.items():
            endpoints.setdefault((v.region, v.endpoint), []).append((v.name, slot, v.weight))
        routes = [entry for (region, endpoint), found in endpoints.items()
                  for entry in haproxy.route_entries(region, endpoint, found)]
        for name, entries in ((haproxy.VARIANTS, variants), (haproxy.ROUTES, routes)):
            path = self._run_dir / name
            version = self._checked(f"prepare map {path}").rsplit(":", 1)[1].strip()
            for first in range(0, len(entries), MAP_LINES_PER_COMMAND):  # a command must fit in HAProxy's buffer
                self._checked(f"add map @{version} {path}", (f"{key} {value}" for key, value in
                                                             entries[first:first + MAP_LINES_PER_COMMAND]))
            self._checked(f"commit map @{version} {path}")
        for slot, server in self._leaving:
            self._checked(f"set server {slot}/{server} state maint")
        self._leaving.clear()
        self._free += self._released
        self._released.clear()

    def _checked(self, command: str, payload: Any = ()) -> str:
        answer = self._api.run(command, payload)
        if any(word in answer.lower() for word in ("error", "unknown", "failed", "invalid")):
            raise ProxyUnavailable(f"HAProxy refused {command.split(' <<')[0]!r}: {answer.strip()}")
        return answer

    # -- the log: invocations HAProxy answered ------------------------------------------------------

    def _read_log(self) -> None:
        """Read the log ring's connections (HAProxy opens one again if it closes), a batch of lines at a time."""
        while True:
            try:
                connection, _ = self._log.accept()
            except OSError:  # closed: HAProxy stopped
                return
            with connection, contextlib.suppress(ConnectionError):  # reset: HAProxy stopped, or opens another
                for line in haproxy.log_lines(connection):
                    self._take(line)

    def _take(self, line: str) -> None:
        mark, _, invocation = line.partition(" ")
        if mark != haproxy.INVOCATION_MARK:  # HAProxy's own news (its alerts go to the server's log too)
            log.debug("HAProxy: %s", line.strip())
            return
        try:
            self._record(invocation.split())
        except Exception:  # a line this reader cannot place must not end the reader
            log.exception("an HAProxy log line could not be recorded: %r", line)

    def _record(self, fields: list[str]) -> None:
        region, endpoint, slot, status, requested, called, answered, ended = fields
        variant = self._slots.get(slot)
        platform = self.regions.find(region) if self.regions else None
        if variant is None or platform is None:
            return
        model_s = (int(answered) - int(called)) / _MICROSECONDS if answered != "-" and called != "-" else None
        total_s = (int(ended) - int(requested)) / _MICROSECONDS
        platform.publisher.record(endpoint, variant.name, len(variant.servers), int(status), model_s,
                                  max(total_s - (model_s or 0.0), 0.0))


@dataclass(frozen=True)
class _ServerRow:
    slot: str
    server: str
    busy: int  # requests in flight
    idle_s: int  # seconds since it was last given a request (-1: never)
    is_down: bool  # out of rotation after a failed connection (on-error mark-down)


def is_plain(table: RouteTable) -> bool:
    """Whether HAProxy can serve the table alone (see the module's docstring)."""
    return (not table.queued and table.shift is None and not table.shadows and table.capture is None
            and all(v.max_concurrency is None and 0 < len(v.backends) <= haproxy.SERVERS_PER_SLOT
                    and all(len(b.urls) == 1 for b in v.backends)
                    for v in table.variants))


def _address(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 80}"
