"""Turns at leading: on one PostgreSQL database one server leads and the other follows; when the leader's lock
connection ends, it stops leading at once and the other takes the lead. On SQLite the server leads from the start.
The leader claims the leader record and renews it with the nodes its runtime sees."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from modelbay.config import Settings
from modelbay.controllers.leadership import server_id, taking_turns
from modelbay.platform import Platform, open_platform
from modelbay.runtime.base import Node
from tests.unit.store.metadata.conftest import end_advisory_lock_sessions, fresh_postgres_database

pytestmark = pytest.mark.anyio

NODE = Node("n1", "192.0.2.2", "a", True, {"CPU": 4.0}, {"CPU": 2.0}, ("i-1",))


class Roles:
    """A server's roles as they are entered and left: `log` holds ("lead" | "follow", "in" | "out" | "out, leaving")."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.changed = asyncio.Event()

    def lead(self, leaving: asyncio.Event) -> contextlib.AbstractAsyncContextManager[None]:
        return self._role("lead", leaving)

    def follow(self, leaving: asyncio.Event) -> contextlib.AbstractAsyncContextManager[None]:
        return self._role("follow", leaving)

    @contextlib.asynccontextmanager
    async def _role(self, name: str, leaving: asyncio.Event) -> AsyncIterator[None]:
        self._note(name, "in")
        try:
            yield
        finally:
            self._note(name, "out, leaving" if leaving.is_set() else "out")

    def _note(self, name: str, what: str) -> None:
        self.log.append((name, what))
        self.changed.set()

    async def until(self, entry: tuple[str, str], times: int = 1, timeout_s: float = 10) -> None:
        """Return once `entry` is in the log `times` times."""
        async with asyncio.timeout(timeout_s):
            while self.log.count(entry) < times:
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


@contextlib.contextmanager
def platform(data_dir: Path, database_url: str | None, url: str) -> Iterator[Platform]:
    opened = open_platform(Settings(data_dir=data_dir, database_url=database_url, announced_url=url))
    try:
        yield opened
    finally:
        opened.metadata.close()


def end_the_leaders_lock_session(database_url: str) -> None:
    """The session holding the advisory lock ends, as when the leader's process dies."""
    assert end_advisory_lock_sessions(database_url) == [True]


@pytest.mark.postgresql
async def test_one_leads_the_other_follows_and_takes_over_when_the_leaders_lock_ends(
        tmp_path: Path, postgres_url: str) -> None:
    first, second = Roles(), Roles()
    with platform(tmp_path / "a", postgres_url, "http://a:1") as a, platform(tmp_path / "b", postgres_url,
                                                                             "http://b:2") as b:
        async with taking_turns(a, first.lead, first.follow, lambda: [NODE]):
            assert first.log == [("lead", "in")]  # before the server answers
            async with taking_turns(b, second.lead, second.follow, lambda: [NODE]):
                assert second.log == [("follow", "in")]
                leader = a.metadata.leadership.leader()
                assert leader is not None and leader.server == server_id("http://a:1")
                await asyncio.to_thread(end_the_leaders_lock_session, postgres_url)
                await first.until(("follow", "in"))
                await second.until(("lead", "in"))
                assert first.log == [("lead", "in"), ("lead", "out"), ("follow", "in")]  # fenced: it stopped leading
                assert second.log == [("follow", "in"), ("follow", "out"), ("lead", "in")]
                leader = b.metadata.leadership.leader()
                assert leader is not None and (leader.server, leader.url) == (server_id("http://b:2"), "http://b:2")
            assert second.log[-1] == ("lead", "out, leaving")
            await first.until(("lead", "in"), times=2)  # the lead is free again: the first server takes it back
        assert first.log[-3:] == [("follow", "out"), ("lead", "in"), ("lead", "out, leaving")]


async def test_on_sqlite_the_server_leads_from_start_to_end_and_records_its_nodes(tmp_path: Path) -> None:
    roles = Roles()
    with platform(tmp_path, None, "http://a:1") as a:
        async with taking_turns(a, roles.lead, roles.follow, lambda: [NODE]):
            assert roles.log == [("lead", "in")]
            leader = a.metadata.leadership.leader()
            assert leader is not None and leader.url == "http://a:1"
            assert leader.nodes == ({"name": "n1", "address": "192.0.2.2", "zone": "a", "alive": True,
                                     "resources": {"CPU": 4.0}, "free": {"CPU": 2.0}, "instances": ["i-1"]},)
    assert roles.log == [("lead", "in"), ("lead", "out, leaving")]


async def test_a_runtime_that_cannot_tell_its_nodes_publishes_none(tmp_path: Path) -> None:
    def nodes() -> list[Node]:
        raise NotImplementedError

    roles = Roles()
    with platform(tmp_path, None, "http://a:1") as a:
        async with taking_turns(a, roles.lead, roles.follow, nodes):
            leader = a.metadata.leadership.leader()
            assert leader is not None and leader.nodes == ()
