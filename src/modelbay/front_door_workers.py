"""The front door's other processes: workers that answer the API's port beside the server's own process.

One Python process answers about one CPU's worth of requests, so a server of `Settings.workers` processes starts that
many less one workers. Each binds the port with SO_REUSEPORT, so the kernel spreads new connections over all of them,
and each is a whole server of the same data (build_app), answering every call, except that it never runs the
controllers: those run in the first process, which reaches every worker through a pipe (a `WorkerPool` there, a
`LeaderLink` in the worker) for two things.

- **Tables.** A worker's routers follow the tables in the store (route_book.py). The first process's RouterFleet asks
  every worker to follow after each change the store records, and waits for each to say it has: a worker that does
  not within ACK_TIMEOUT_S is killed (and started again). A worker starting says it is ready once its app is up; from
  then on it is asked to follow every change, and it follows the store once more before it binds the port, so it
  misses none.
- **Router state.** The controllers ask the workers' routers what they ask of their own (router_fleet.ASKED:
  invocations in flight, a serverless variant's demand, instances out of rotation), and hear of their failures and
  demand.

Workers that die are started again (SUPERVISE_INTERVAL_S); when the server stops, its workers stop first (each
finishes the requests it holds), then its controllers and instances; a worker whose pipe closes (its server is gone)
stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import multiprocessing
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

import uvicorn

from modelbay.api.app import ApiApp
from modelbay.config import Settings
from modelbay.controllers.loops import serving
from modelbay.controllers.route_book import RouteFollower
from modelbay.platform import Platform, Regions
from modelbay.security.tls import TlsFiles
from modelbay.serving.router_fleet import ASKED, DEMAND, FAILURE

log = logging.getLogger(__name__)

ACK_TIMEOUT_S = 10.0  # how long a worker may take to apply new tables, or answer a question, before it is killed
START_TIMEOUT_S = 120.0  # how long the server waits for its workers to start before it says it listens
SUPERVISE_INTERVAL_S = 1.0  # how often the server looks for dead workers, to start them again
STOP_GRACE_S = 30.0  # how long a worker may take to finish its requests when the server stops, then it is killed

# a worker process's main: given its settings, the port, the TLS files and its end of the pipe
WorkerMain = Callable[[Settings, int, TlsFiles | None, Connection], None]

# the messages: the first process sends FOLLOW and ASK (each with a number its REPLY or FAILED repeats) and INCLUDED;
# a worker sends READY, REPLY, FAILED, and its routers' events (router_fleet.FAILURE, DEMAND)
READY, INCLUDED, FOLLOW, ASK, REPLY, FAILED = "ready", "included", "follow", "ask", "reply", "failed"


def worker_count(settings: Settings) -> int:
    """The processes of the front door: Settings.workers, or one per CPU this process may run on (0)."""
    return settings.workers or len(os.sched_getaffinity(0))


class WorkerPool:
    """The first process's side: its workers, started, supervised, asked and stopped (router_fleet.Workers)."""

    def __init__(self, settings: Settings, port: int, tls: TlsFiles | None, run: WorkerMain) -> None:
        self.settings, self.port, self.tls, self.run = settings, port, tls, run
        self._workers: list[_Worker] = []
        self._listeners: dict[tuple[str, str], list[Callable[[str, str], None]]] = {}
        self._stopping = False

    def start(self) -> None:
        """Start every worker; return once each is ready to serve (or START_TIMEOUT_S has passed)."""
        self._workers = [self._spawn(index) for index in range(1, self.settings.workers)]
        for worker in self._workers:
            if not worker.serving.wait(START_TIMEOUT_S):
                log.warning("front-door worker %d did not start within %.0f s", worker.index, START_TIMEOUT_S)

    def replace_dead(self) -> None:
        """Start anew each worker that died."""
        for position, worker in enumerate(self._workers):
            if not self._stopping and not worker.process.is_alive():
                log.warning("front-door worker %d (pid %s) ended with %s: starting it again", worker.index,
                            worker.process.pid, worker.process.exitcode)
                self._workers[position] = self._spawn(worker.index)

    def stop(self) -> None:
        """Stop every worker: each finishes the requests it holds, within STOP_GRACE_S, or is killed."""
        self._stopping = True
        for worker in self._workers:
            if worker.process.is_alive():
                worker.process.terminate()  # SIGTERM: uvicorn's graceful stop
        for worker in self._workers:
            worker.process.join(STOP_GRACE_S)
            worker.stop()

    def follow(self, region: str) -> None:
        for worker, future in [(w, w.request(FOLLOW, region)) for w in self._workers if w.included]:
            self._settle(worker, future)

    def ask(self, region: str, method: str, *args: Any) -> list[Any]:
        asked = [(w, w.request(ASK, region, method, args)) for w in self._workers if w.included]
        return [answer for worker, future in asked if (answer := self._settle(worker, future)) is not _NO_ANSWER]

    def listen(self, region: str, event: str, listener: Callable[[str, str], None]) -> None:
        self._listeners.setdefault((region, event), []).append(listener)

    def _settle(self, worker: _Worker, future: Future[Any]) -> Any:
        """The worker's answer; one that did not answer in time, or could not, is killed (and started again), so
        that it never serves by tables it did not apply."""
        try:
            return future.result(ACK_TIMEOUT_S)
        except Exception as error:
            if not self._stopping:  # else it is stopping anyway
                log.warning("front-door worker %d did not answer (%s): killing it", worker.index, error or type(error))
            worker.stop()
            return _NO_ANSWER

    def _spawn(self, index: int) -> _Worker:
        ours, theirs = multiprocessing.Pipe()
        settings = dataclasses.replace(self.settings, worker=index)
        process = multiprocessing.get_context("spawn").Process(
            target=self.run, args=(settings, self.port, self.tls, theirs), name=f"modelbay-worker-{index}",
            daemon=True)
        process.start()
        theirs.close()
        return _Worker(index, process, ours, self._heard)

    def _heard(self, event: str, region: str, endpoint: str, name: str) -> None:
        for listener in self._listeners.get((region, event), ()):
            try:
                listener(endpoint, name)
            except Exception:
                log.exception("a listener of front-door workers' %s failed", event)


_NO_ANSWER = object()


class _Worker:
    """One worker process and the first process's end of its pipe, read by a thread of its own."""

    def __init__(self, index: int, process: multiprocessing.process.BaseProcess, connection: Connection,
                 heard: Callable[[str, str, str, str], None]) -> None:
        self.index, self.process, self.connection, self.heard = index, process, connection, heard
        self.included = False  # asked to follow every change: from its READY on
        self.serving = threading.Event()
        self._numbers = itertools.count()
        self._waiting: dict[int, Future[Any]] = {}
        self._sending, self._killing = threading.Lock(), threading.Lock()
        threading.Thread(target=self._read, name=f"front-door-worker-{index}", daemon=True).start()

    def request(self, kind: str, *parts: Any) -> Future[Any]:
        future: Future[Any] = Future()
        number = next(self._numbers)
        self._waiting[number] = future
        try:
            self._send(kind, number, *parts)
        except OSError as error:
            self._waiting.pop(number, None)
            future.set_exception(error)
        return future

    def stop(self) -> None:
        """Kill the process (if it lives) and forget it: it is asked nothing more. From any thread, more than once."""
        self.included = False
        with self._killing:
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
            if not self.connection.closed:
                self.connection.close()

    def _send(self, *message: Any) -> None:
        with self._sending:
            self.connection.send(message)

    def _read(self) -> None:
        try:
            while True:
                kind, *parts = self.connection.recv()
                if kind == READY:
                    self.included = True
                    self._send(INCLUDED)
                    self.serving.set()
                elif kind in (REPLY, FAILED):
                    number, value = parts
                    future = self._waiting.pop(number)
                    if kind == REPLY:
                        future.set_result(value)
                    else:
                        future.set_exception(RuntimeError(value))
                else:
                    self.heard(kind, *parts)
        except (EOFError, OSError):  # the worker ended, or was killed
            self.included = False
            for future in self._waiting.values():
                future.set_exception(EOFError("the worker ended"))


class LeaderLink:
    """A worker's end of its pipe to the first process: it answers FOLLOW and ASK, and tells of its routers'
    failures and demand."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.regions: Regions | None = None  # the app's, once it is built
        self._followers: dict[str, RouteFollower] = {}  # by region
        self._registering, self._following, self._sending = threading.Lock(), threading.Lock(), threading.Lock()

    @contextlib.asynccontextmanager
    async def following(self, platform: Platform) -> AsyncIterator[None]:
        """A region's background in a worker: its routers follow the store's tables, its events go to the first
        process, and its invocations' metrics and captures are written as every server's are (loops.serving)."""
        region, router = platform.settings.region, platform.router
        await asyncio.to_thread(self._follow, self._follower(platform))
        router.add_failure_listener(lambda endpoint, instance: self._send(FAILURE, region, endpoint, instance))
        router.add_demand_listener(lambda endpoint, variant: self._send(DEMAND, region, endpoint, variant))
        router.add_copy_listener(platform.publisher.invoked)  # shadow variants' invocations, as the leader's
        async with serving(platform, None):  # the first process records every process's requests in flight
            yield

    async def serve(self, app: ApiApp, server: uvicorn.Server, sock: Callable[[], socket.socket]) -> None:
        """Start the app, say READY, and once INCLUDED (every region followed again) serve the port (bound by
        `sock`, only now) until told to stop, by a signal or by the pipe's end."""
        loop = asyncio.get_running_loop()
        included = asyncio.Event()
        async with app.router.lifespan_context(app):
            threading.Thread(target=self._read, args=(loop, included, server), name="leader-link",
                             daemon=True).start()
            self._send(READY)
            await included.wait()
            await server.serve(sockets=[sock()])

    def _read(self, loop: asyncio.AbstractEventLoop, included: asyncio.Event, server: uvicorn.Server) -> None:
        try:
            while True:
                kind, *parts = self.connection.recv()
                if kind == INCLUDED:
                    for follower in list(self._followers.values()):
                        self._follow(follower)
                    loop.call_soon_threadsafe(included.set)
                else:
                    self._answer(kind, *parts)
        except (EOFError, OSError):  # the server is gone: stop
            server.should_exit = True
            loop.call_soon_threadsafe(included.set)

    def _answer(self, kind: str, number: int, region: str, *question: Any) -> None:
        try:
            if self.regions is None:
                raise RuntimeError("the app is not built yet")
            platform = self.regions.get(region)  # opened if it was not
            if kind == FOLLOW:
                self._follow(self._follower(platform))
                value = None
            else:
                method, args = question
                if method not in ASKED:
                    raise ValueError(f"a router is not asked {method!r}")
                value = getattr(platform.router, method)(*args)
        except Exception as error:
            log.exception("answering the server's %s failed", kind)
            self._send(FAILED, number, str(error))
            return
        self._send(REPLY, number, value)

    def _follower(self, platform: Platform) -> RouteFollower:
        """The region's follower: one, whether its background or the first process asks first."""
        with self._registering:
            return self._followers.setdefault(platform.settings.region, RouteFollower(platform))

    def _follow(self, follower: RouteFollower) -> None:
        with self._following:  # one at a time: a follower applies each change once, in order
            follower.follow()

    def _send(self, *message: Any) -> None:
        with self._sending, contextlib.suppress(OSError):  # a pipe whose other end is gone: the reader stops us
            self.connection.send(message)
