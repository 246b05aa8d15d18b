"""The transactions repositories run in: one read or one write, each a with-block."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from modelbay.store.metadata import changes
from modelbay.store.metadata.engine import for_writing, serialize


class Database:
    """An engine and its sessions. Thread-safe: every call opens its own session."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._readers = sessionmaker(engine, expire_on_commit=False)
        self._writers = sessionmaker(for_writing(engine), expire_on_commit=False)
        event.listen(self._writers, "after_flush", changes.track)
        event.listen(self._writers, "do_orm_execute", changes.track_statement)
        self._change_listeners: list[Callable[[frozenset[str]], None]] = []

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; whatever it changes is rolled back."""
        with self._readers() as session:
            yield session

    @contextmanager
    def write(self, *, lock: str | None = None) -> Iterator[Session]:
        """One transaction: committed if the block ends normally, rolled back if it raises. It raises the change
        counter of every table it changed (changes.py), and once committed, tells this process's change listeners.

        With `lock`, write transactions naming the same lock run one after another (what a
        read-check-write sequence needs; see engine.serialize).
        """
        with self._writers.begin() as session:
            if lock is not None:
                serialize(session.connection(), lock)
            yield session
            changed = changes.record(session)
        if changed:
            for listener in list(self._change_listeners):
                listener(changed)

    def add_change_listener(self, listener: Callable[[frozenset[str]], None]) -> Callable[[], None]:
        """Call `listener` with the tables each write transaction of this process changed, once it has committed
        (in the writer's thread); answer the call that removes it."""
        self._change_listeners.append(listener)
        return lambda: self._change_listeners.remove(listener)

    def dispose(self) -> None:
        """Close the pooled connections; the Database can still be used (it reconnects)."""
        self.engine.dispose()
