"""The telemetry outbox: messages an edge agent has queued and the server has not yet acknowledged, in SQLite.

Each message gets its sequence number when it is queued (per device, from 1, strictly increasing across kinds,
never reused: AUTOINCREMENT), so the server can store each message once however often it is redelivered. A
message stays until `delete` (the publisher calls it when the server says it stored the message, not when the
broker has it), and the file survives restarts: what was queued while the device was offline, or when the agent
stopped, is sent when it is next connected.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Message:
    """A queued message: its kind (heartbeat | metrics | samples) and the JSON payload the broker is sent."""

    seq: int
    kind: str
    payload: bytes


class Outbox:
    """A thread-safe queue of telemetry messages in one SQLite file; `put` returns once the message is on disk."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a power cut may lose the last commits, never order
            self._db.execute(_SCHEMA)

    def put(self, kind: str, body: Mapping[str, Any], at: float | None = None) -> int:
        """Queue a message of `kind` with `body`; return its seq. The payload is {"seq", "time", "body"}."""
        when = time.time() if at is None else at
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seq = int(self._db.execute("INSERT INTO messages (kind, payload) VALUES (?, '')", (kind,)).lastrowid
                          or 0)
                payload = json.dumps({"seq": seq, "time": when, "body": body}, separators=(",", ":"))
                self._db.execute("UPDATE messages SET payload = ? WHERE seq = ?", (payload, seq))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return seq

    def after(self, seq: int, limit: int) -> list[Message]:
        """The oldest `limit` messages whose seq is above `seq`, in seq order."""
        with self._lock:
            rows = self._db.execute("SELECT seq, kind, payload FROM messages WHERE seq > ? ORDER BY seq LIMIT ?",
                                    (seq, limit)).fetchall()
        return [Message(row[0], row[1], row[2].encode()) for row in rows]

    def delete(self, seqs: Iterable[int]) -> None:
        """Forget the messages `seqs` (acknowledged by the server); a seq not here is ignored."""
        with self._lock:
            self._db.executemany("DELETE FROM messages WHERE seq = ?", [(seq,) for seq in seqs])

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
