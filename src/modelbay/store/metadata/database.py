"""The transactions repositories run in: one read or one write, each a with-block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from modelbay.store.metadata.engine import for_writing, serialize


class Database:
    """An engine and its sessions. Thread-safe: every call opens its own session."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._readers = sessionmaker(engine, expire_on_commit=False)
        self._writers = sessionmaker(for_writing(engine), expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; whatever it changes is rolled back."""
        with self._readers() as session:
            yield session

    @contextmanager
    def write(self, *, lock: str | None = None) -> Iterator[Session]:
        """One transaction: committed if the block ends normally, rolled back if it raises.

        With `lock`, write transactions naming the same lock run one after another (what a
        read-check-write sequence needs; see engine.serialize).
        """
        with self._writers.begin() as session:
            if lock is not None:
                serialize(session.connection(), lock)
            yield session

    def dispose(self) -> None:
        """Close the pooled connections; the Database can still be used (it reconnects)."""
        self.engine.dispose()
