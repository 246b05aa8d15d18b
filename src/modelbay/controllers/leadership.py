"""Which server runs the controllers: turns at leading, over the store's leader lock.

Servers that share a PostgreSQL database serve the API together, but one of them at a time, the leader, runs the
controllers; the others follow (they apply the routing tables the leader publishes, route_book.py). A follower
tries for the lead every CHECK_INTERVAL_S; a leader checks as often that it still holds it, and if it lost it, it
stops leading at once: its loops end after their passes under way, and it follows. A leader claims the leader record
when it takes the lead and renews it, with the nodes its runtime sees, every RENEW_INTERVAL_S. On SQLite the one
server leads from its start to its end (store/metadata/leadership.py).

Fail-over: a leader that dies closes its lock's connection, the database releases the lock at once, and a follower
leads within CHECK_INTERVAL_S, plus the time its controllers take to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from modelbay.platform import Platform
from modelbay.runtime.base import Node
from modelbay.store.metadata.leadership import LeaderLock

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 0.5
# A server that lost the lead (its link to the database broke) tries for it again only after this, which leaves it
# to a follower that has kept its link.
LOST_LEAD_BACKOFF_S = 4 * CHECK_INTERVAL_S
RENEW_INTERVAL_S = 5.0  # the record is the cluster view people read (`modelbay cluster`); a write costs a shared core

# What a server runs in a role, given the event set when the server stops (not when its role changes).
Role = Callable[[asyncio.Event], AbstractAsyncContextManager[None]]


@contextlib.asynccontextmanager
async def taking_turns(platform: Platform, lead: Role, follow: Role, nodes: Callable[[], Sequence[Node]]
                       ) -> AsyncIterator[None]:
    """Run `lead` while this server leads and `follow` while another one does, changing over as the lead moves;
    the first role runs before this yields (before the server answers). On the way out the role under way ends,
    then the lock is released."""
    lock = await asyncio.to_thread(platform.metadata.leadership.lock)
    turns = Turns(platform, lock, lead, follow, nodes)
    stopping, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(turns.run_until(stopping, started))
    try:
        await started.wait()
        yield
    finally:
        stopping.set()
        await task
        await asyncio.to_thread(lock.release)


def server_id(url: str) -> str:
    """How the leader record names a server: its URL and its process (one URL may be served again later)."""
    return f"{url} pid {os.getpid()}"


class Turns:
    """One server's turns at leading and following (see the module's docstring)."""

    def __init__(self, platform: Platform, lock: LeaderLock, lead: Role, follow: Role,
                 nodes: Callable[[], Sequence[Node]]) -> None:
        self.leadership = platform.metadata.leadership
        settings = platform.settings
        self.url = settings.announced_url or f"http://{settings.host}:{settings.port}"
        self.server = server_id(self.url)
        self.lock, self.lead, self.follow, self.nodes = lock, lead, follow, nodes
        self.is_leading = False

    async def run_until(self, stopping: asyncio.Event, started: asyncio.Event) -> None:
        """Take turns until `stopping` is set; set `started` once the first role runs (or failed to start)."""
        has_lost = False
        while not stopping.is_set():
            try:
                self.is_leading = not has_lost and await asyncio.to_thread(self.lock.hold)
                if self.is_leading:
                    await asyncio.to_thread(self._renew, True)
                async with (self.lead if self.is_leading else self.follow)(stopping):
                    started.set()
                    has_lost = await self._until_role_changes(stopping, LOST_LEAD_BACKOFF_S if has_lost
                                                              else CHECK_INTERVAL_S)
            except Exception:  # a role that failed (the database away): try again at the next check
                log.exception("%s failed", "leading" if self.is_leading else "following")
                started.set()
                await _wait(stopping, CHECK_INTERVAL_S)

    async def _until_role_changes(self, stopping: asyncio.Event, first_check_s: float) -> bool:
        """Return once the server stops, or once a follower can take the lead (False), or a leader has lost it
        (True); the lock is first checked after `first_check_s`."""
        renewed = time.monotonic()
        check_s = CHECK_INTERVAL_S if self.lock.is_contested else RENEW_INTERVAL_S  # a sole lock stays held
        await _wait(stopping, first_check_s)
        while not stopping.is_set():
            if await asyncio.to_thread(self.lock.hold) != self.is_leading:
                if self.is_leading:
                    log.warning("this server lost the lead: its controllers stop")
                return self.is_leading
            if self.is_leading and time.monotonic() - renewed >= RENEW_INTERVAL_S:
                await asyncio.to_thread(self._renew, False)
                renewed = time.monotonic()
            await _wait(stopping, check_s)
        return False

    def _renew(self, is_new: bool) -> None:
        """Write the leader record: claim it when the lead is new (before the controllers start), and renew it with
        the nodes seen now."""
        try:
            if is_new:
                self.leadership.claim(self.server, self.url)
            self.leadership.renew(self.server, [node_record(node) for node in self._nodes()])
        except Exception:
            log.exception("writing the leader record failed")

    def _nodes(self) -> Sequence[Node]:
        try:
            return self.nodes()
        except NotImplementedError:  # a runtime that cannot tell yet
            return []


def node_record(node: Node) -> dict[str, Any]:
    """A node as the leader record keeps it (JSON)."""
    return {"name": node.name, "address": node.address, "zone": node.zone, "alive": node.alive,
            "resources": dict(node.resources), "free": dict(node.free), "instances": list(node.instances)}


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stopping` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
