"""The embedded log store: CloudWatch Logs' groups, streams and events in files under the data directory.

On disk (``<data_dir>/logs``), a name is never a file name (names may hold ``/`` and be 512
characters long), so each is hashed and its real name kept in a small metadata file:
  ``<sha(group)>/group.json``             {"logGroupName", "creationTime"}
  ``<sha(group)>/<sha(stream)>.json``     {"logStreamName", "creationTime"}
  ``<sha(group)>/<sha(stream)>.jsonl``    one event a line: {"t": timestamp ms, "i": ingestion ms, "m": message},
                                          the last line of a shipped batch with "o": the source's bytes shipped
Metadata files are written atomically; event files are append-only, one write per batch (so the shipped
offset is written with its events), and a torn last line (a crash mid-write) is cut off when the store is
opened. Everything is loaded into memory when the store opens and kept there. One server uses it.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelbay.monitoring.log_patterns import Matcher
from modelbay.monitoring.logs import (
    LogEvent,
    LogGroup,
    LogGroupExists,
    LogGroupNotFound,
    LogStore,
    LogStream,
    LogStreamExists,
    LogStreamNotFound,
    Position,
    StreamMatch,
    now_ms,
    order_of,
)


@dataclass
class _Stream:
    """A stream as the store keeps it: its events in key order, and its file's path without a suffix."""

    name: str
    creation_time: int
    path: Path
    events: list[LogEvent] = field(default_factory=list)
    appended: int = 0  # events ever written, the last seq
    last_ingestion_time: int | None = None
    stored_bytes: int = 0
    shipped_bytes: int = 0

    def view(self) -> LogStream:
        first, last = (self.events[0].timestamp, self.events[-1].timestamp) if self.events else (None, None)
        return LogStream(self.name, self.creation_time, self.appended, self.stored_bytes, first, last,
                         self.last_ingestion_time)


@dataclass
class _Group:
    name: str
    creation_time: int
    path: Path
    streams: dict[str, _Stream] = field(default_factory=dict)

    def view(self) -> LogGroup:
        return LogGroup(self.name, self.creation_time, sum(s.stored_bytes for s in self.streams.values()))


class FileLogStore(LogStore):
    """Log groups of streams of events, persisted under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._groups: dict[str, _Group] = {}
        root.mkdir(parents=True, exist_ok=True)
        for group_json in sorted(root.glob("*/group.json")):
            group = _load_group(group_json)
            self._groups[group.name] = group

    # -- groups and streams ---------------------------------------------------------------------

    def create_group(self, name: str) -> LogGroup:
        with self._lock:
            if name in self._groups:
                raise LogGroupExists(name)
            return self._create_group(name).view()

    def delete_group(self, name: str) -> None:
        with self._lock:
            group = self._group(name)
            del self._groups[name]
            shutil.rmtree(group.path)

    def groups(self, prefix: str = "") -> list[LogGroup]:
        with self._lock:
            found = sorted((g for g in self._groups.values() if g.name.startswith(prefix)), key=lambda g: g.name)
            return [group.view() for group in found]

    def create_stream(self, group: str, name: str) -> LogStream:
        with self._lock:
            found = self._group(group)
            if name in found.streams:
                raise LogStreamExists(name)
            return _create_stream(found, name).view()

    def streams(self, group: str, prefix: str = "") -> list[LogStream]:
        with self._lock:
            found = self._group(group).streams.values()
            return [s.view() for s in sorted((s for s in found if s.name.startswith(prefix)), key=lambda s: s.name)]

    def stream(self, group: str, stream: str) -> LogStream:
        with self._lock:
            return self._stream(group, stream).view()

    # -- events ---------------------------------------------------------------------------------

    def append(self, group: str, stream: str, lines: Iterable[str], timestamp_ms: int | None = None) -> int:
        stamp = now_ms() if timestamp_ms is None else timestamp_ms
        events = [(stamp, line) for line in lines]
        with self._lock:
            _write_events(self._stream_on_demand(group, stream), events, now_ms())
        return len(events)

    def put(self, group: str, stream: str, events: list[tuple[int, str]]) -> int:
        with self._lock:
            target = self._stream(group, stream)
            _write_events(target, events, now_ms())
            return target.appended

    def ship(self, group: str, stream: str, lines: Sequence[str], from_byte: int, to_byte: int) -> bool:
        stamp = now_ms()
        with self._lock:
            target = self._stream_on_demand(group, stream)
            if target.shipped_bytes != from_byte:
                return False
            _write_events(target, [(stamp, line) for line in lines], stamp, shipped_bytes=to_byte)
            return True

    def shipped(self, group: str, stream: str) -> int:
        with self._lock:
            found = self._groups.get(group)
            target = None if found is None else found.streams.get(stream)
            return 0 if target is None else target.shipped_bytes

    def read(self, group: str, stream: str, start: int | None, end: int | None) -> list[LogEvent]:
        with self._lock:
            return [e for e in self._stream(group, stream).events if _within(e.timestamp, start, end)]

    def search(self, group: str, streams: list[str], match: Matcher, start: int | None, end: int | None,
               after: Position | None) -> Iterator[StreamMatch]:
        with self._lock:
            found = self._group(group)
            hits = [StreamMatch(name, event) for name in streams if name in found.streams
                    for event in found.streams[name].events
                    if _within(event.timestamp, start, None if end is None else end + 1) and match(event.message)]
        hits.sort(key=order_of)
        return (hit for hit in hits if after is None or order_of(hit) > after)

    # -- helpers (the lock is held) --------------------------------------------------------------

    def _group(self, name: str) -> _Group:
        try:
            return self._groups[name]
        except KeyError:
            raise LogGroupNotFound(name) from None

    def _stream(self, group: str, name: str) -> _Stream:
        try:
            return self._group(group).streams[name]
        except KeyError:
            raise LogStreamNotFound(name) from None

    def _stream_on_demand(self, group: str, name: str) -> _Stream:
        found = self._groups.get(group) or self._create_group(group)
        return found.streams.get(name) or _create_stream(found, name)

    def _create_group(self, name: str) -> _Group:
        group = _Group(name, now_ms(), self.root / _digest(name))
        group.path.mkdir(parents=True, exist_ok=True)
        _write_json(group.path / "group.json", {"logGroupName": name, "creationTime": group.creation_time})
        self._groups[name] = group
        return group


def _within(timestamp: int, start: int | None, end: int | None) -> bool:
    return (start is None or timestamp >= start) and (end is None or timestamp < end)


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def _create_stream(group: _Group, name: str) -> _Stream:
    stream = _Stream(name, now_ms(), group.path / _digest(name))
    _write_json(stream.path.with_suffix(".json"), {"logStreamName": name, "creationTime": stream.creation_time})
    stream.path.with_suffix(".jsonl").touch()
    group.streams[name] = stream
    return stream


def _write_events(stream: _Stream, events: list[tuple[int, str]], ingestion_time: int,
                  shipped_bytes: int | None = None) -> None:
    """Persist the batch (and the shipped offset, on its last line) in one write, then index it."""
    if not events:
        return
    records: list[dict[str, Any]] = [{"t": t, "i": ingestion_time, "m": m} for t, m in events]
    if shipped_bytes is not None:
        records[-1]["o"] = shipped_bytes
    with open(stream.path.with_suffix(".jsonl"), "a", encoding="utf-8") as file:
        file.write("".join(json.dumps(record) + "\n" for record in records))
    for record in records:
        _index(stream, record)


def _index(stream: _Stream, record: dict[str, Any]) -> None:
    event = LogEvent(record["t"], record["i"], record["m"], stream.appended + 1)
    stream.appended = event.seq
    stream.stored_bytes += len(event.message.encode())
    stream.last_ingestion_time = event.ingestion_time
    stream.shipped_bytes = record.get("o", stream.shipped_bytes)
    if not stream.events or stream.events[-1].key <= event.key:
        stream.events.append(event)
    else:  # a batch older than what the stream holds: AWS accepts it and reads it in time order
        bisect.insort(stream.events, event, key=lambda e: e.key)


def _write_json(path: Path, value: dict[str, Any]) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8") as tmp:
        json.dump(value, tmp)
    os.replace(tmp.name, path)  # atomic: readers see the old file or the new one


def _load_group(group_json: Path) -> _Group:
    meta = json.loads(group_json.read_text(encoding="utf-8"))
    group = _Group(meta["logGroupName"], meta["creationTime"], group_json.parent)
    for stream_json in sorted(group.path.glob("*.json")):
        if stream_json.name != "group.json":
            stream = _load_stream(stream_json)
            group.streams[stream.name] = stream
    return group


def _load_stream(stream_json: Path) -> _Stream:
    meta = json.loads(stream_json.read_text(encoding="utf-8"))
    stream = _Stream(meta["logStreamName"], meta["creationTime"], stream_json.with_suffix(""))
    for record in _read_records(stream_json.with_suffix(".jsonl")):
        _index(stream, record)
    return stream


def _read_records(path: Path) -> list[dict[str, Any]]:
    """The complete lines of an event file; a torn last line (a crash mid-write) is cut off so
    that the next append starts on a line of its own."""
    if not path.exists():
        return []
    data = path.read_bytes()
    whole = data[:data.rfind(b"\n") + 1]
    if len(whole) < len(data):
        with open(path, "r+b") as file:
            file.truncate(len(whole))
    return [json.loads(line) for line in whole.decode("utf-8").splitlines()]
