"""The log store: CloudWatch Logs' groups, streams and events, kept under the data directory.

On disk (``<data_dir>/logs``), a name is never a file name (names may hold ``/`` and be 512
characters long), so each is hashed and its real name kept in a small metadata file:
  ``<sha(group)>/group.json``             {"logGroupName", "creationTime"}
  ``<sha(group)>/<sha(stream)>.json``     {"logStreamName", "creationTime"}
  ``<sha(group)>/<sha(stream)>.jsonl``    one event a line: {"t": timestamp ms, "i": ingestion ms, "m": message}
Metadata files are written atomically; event files are append-only, one write per batch, and a
torn last line (a crash mid-write) is cut off when the store is opened. Everything is loaded into
memory when the store opens and kept there; every method is thread-safe.

An event's position in its stream is its key (timestamp, seq), seq being its 1-based line number:
events are read in key order, and a read position between events is a key too, which is what
GetLogEvents' tokens and FilterLogEvents' nextToken carry.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelbay.monitoring.log_patterns import Matcher

Key = tuple[int, int]  # (timestamp ms, seq): an event's place in its stream


class LogGroupNotFound(LookupError):
    """No log group has this name."""


class LogStreamNotFound(LookupError):
    """The log group has no stream of this name."""


class LogGroupExists(Exception):
    """A log group of this name exists already."""


class LogStreamExists(Exception):
    """The log group has a stream of this name already."""


@dataclass(frozen=True)
class LogEvent:
    """One stored event; `seq` is its 1-based ingestion number within its stream."""

    timestamp: int
    ingestion_time: int
    message: str
    seq: int

    @property
    def key(self) -> Key:
        return (self.timestamp, self.seq)


@dataclass
class LogStream:
    """A stream's name, creation time and events in key order (a read-only view for callers)."""

    name: str
    creation_time: int
    path: Path
    events: list[LogEvent] = field(default_factory=list)
    appended: int = 0  # events ever written, the last seq
    last_ingestion_time: int | None = None
    stored_bytes: int = 0


@dataclass
class LogGroup:
    name: str
    creation_time: int
    path: Path
    streams: dict[str, LogStream] = field(default_factory=dict)

    @property
    def stored_bytes(self) -> int:
        return sum(stream.stored_bytes for stream in self.streams.values())


@dataclass(frozen=True)
class StreamMatch:
    """A FilterLogEvents hit: the event and the stream it is in."""

    stream: str
    event: LogEvent


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class LogStore:
    """Log groups of streams of events, persisted under `root`; safe to share between threads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._groups: dict[str, LogGroup] = {}
        root.mkdir(parents=True, exist_ok=True)
        for group_json in sorted(root.glob("*/group.json")):
            group = _load_group(group_json)
            self._groups[group.name] = group

    # -- groups and streams ---------------------------------------------------------------------

    def create_group(self, name: str) -> LogGroup:
        """Create a group; raise LogGroupExists if it exists."""
        with self._lock:
            if name in self._groups:
                raise LogGroupExists(name)
            return self._create_group(name)

    def delete_group(self, name: str) -> None:
        """Delete a group with its streams and events; raise LogGroupNotFound if absent."""
        with self._lock:
            group = self._group(name)
            del self._groups[name]
            shutil.rmtree(group.path)

    def groups(self, prefix: str = "") -> list[LogGroup]:
        """The groups whose names start with `prefix`, by name."""
        with self._lock:
            return sorted((g for g in self._groups.values() if g.name.startswith(prefix)), key=lambda g: g.name)

    def create_stream(self, group: str, name: str) -> LogStream:
        """Create a stream in an existing group; raise LogGroupNotFound or LogStreamExists."""
        with self._lock:
            found = self._group(group)
            if name in found.streams:
                raise LogStreamExists(name)
            return _create_stream(found, name)

    def streams(self, group: str, prefix: str = "") -> list[LogStream]:
        """The group's streams whose names start with `prefix`, by name."""
        with self._lock:
            found = self._group(group).streams.values()
            return sorted((s for s in found if s.name.startswith(prefix)), key=lambda s: s.name)

    # -- events ---------------------------------------------------------------------------------

    def append(self, group: str, stream: str, lines: Iterable[str], timestamp_ms: int | None = None) -> int:
        """Append lines as events stamped `timestamp_ms` (default: now), creating the group and
        stream on demand; return how many were written. This is what the training controller
        calls with each instance's output."""
        stamp = now_ms() if timestamp_ms is None else timestamp_ms
        events = [(stamp, line) for line in lines]
        with self._lock:
            found = self._groups.get(group) or self._create_group(group)
            target = found.streams.get(stream) or _create_stream(found, stream)
            _write_events(target, events, now_ms())
        return len(events)

    def put(self, group: str, stream: str, events: list[tuple[int, str]]) -> int:
        """Append (timestamp ms, message) events to an existing stream; return the stream's event
        count afterwards. Raise LogGroupNotFound or LogStreamNotFound."""
        with self._lock:
            target = self._stream(group, stream)
            _write_events(target, events, now_ms())
            return target.appended

    def stream(self, group: str, stream: str) -> LogStream:
        """The stream; raise LogGroupNotFound or LogStreamNotFound."""
        with self._lock:
            return self._stream(group, stream)

    def read(self, group: str, stream: str, start: int | None, end: int | None) -> list[LogEvent]:
        """A stream's events with start <= timestamp < end, in key order (a copy)."""
        with self._lock:
            return [e for e in self._stream(group, stream).events if _within(e.timestamp, start, end)]

    def search(self, group: str, streams: list[str], match: Matcher, start: int | None, end: int | None,
               after: tuple[int, str, int] | None) -> Iterator[StreamMatch]:
        """Events of the named streams with start <= timestamp <= end whose message matches,
        ordered by (timestamp, stream name, seq) and strictly after `after` in that order.
        Raise LogGroupNotFound; unknown streams are skipped."""
        with self._lock:
            found = self._group(group)
            hits = [StreamMatch(name, event) for name in streams if name in found.streams
                    for event in found.streams[name].events
                    if _within(event.timestamp, start, None if end is None else end + 1) and match(event.message)]
        hits.sort(key=order_of)
        return (hit for hit in hits if after is None or order_of(hit) > after)

    # -- helpers (the lock is held) --------------------------------------------------------------

    def _group(self, name: str) -> LogGroup:
        try:
            return self._groups[name]
        except KeyError:
            raise LogGroupNotFound(name) from None

    def _stream(self, group: str, name: str) -> LogStream:
        try:
            return self._group(group).streams[name]
        except KeyError:
            raise LogStreamNotFound(name) from None

    def _create_group(self, name: str) -> LogGroup:
        group = LogGroup(name, now_ms(), self.root / _digest(name))
        group.path.mkdir(parents=True, exist_ok=True)
        _write_json(group.path / "group.json", {"logGroupName": name, "creationTime": group.creation_time})
        self._groups[name] = group
        return group


def order_of(hit: StreamMatch) -> tuple[int, str, int]:
    """A FilterLogEvents hit's place among hits from several streams."""
    return (hit.event.timestamp, hit.stream, hit.event.seq)


def _within(timestamp: int, start: int | None, end: int | None) -> bool:
    return (start is None or timestamp >= start) and (end is None or timestamp < end)


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def _create_stream(group: LogGroup, name: str) -> LogStream:
    stream = LogStream(name, now_ms(), group.path / _digest(name))
    _write_json(stream.path.with_suffix(".json"), {"logStreamName": name, "creationTime": stream.creation_time})
    stream.path.with_suffix(".jsonl").touch()
    group.streams[name] = stream
    return stream


def _write_events(stream: LogStream, events: list[tuple[int, str]], ingestion_time: int) -> None:
    """Persist the batch in one write, then index it."""
    if not events:
        return
    lines = "".join(json.dumps({"t": t, "i": ingestion_time, "m": m}) + "\n" for t, m in events)
    with open(stream.path.with_suffix(".jsonl"), "a", encoding="utf-8") as file:
        file.write(lines)
    for timestamp, message in events:
        _index(stream, LogEvent(timestamp, ingestion_time, message, stream.appended + 1))


def _index(stream: LogStream, event: LogEvent) -> None:
    stream.appended = event.seq
    stream.stored_bytes += len(event.message.encode())
    stream.last_ingestion_time = event.ingestion_time
    if not stream.events or stream.events[-1].key <= event.key:
        stream.events.append(event)
    else:  # a batch older than what the stream holds: AWS accepts it and reads it in time order
        bisect.insort(stream.events, event, key=lambda e: e.key)


def _write_json(path: Path, value: dict[str, Any]) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8") as tmp:
        json.dump(value, tmp)
    os.replace(tmp.name, path)  # atomic: readers see the old file or the new one


def _load_group(group_json: Path) -> LogGroup:
    meta = json.loads(group_json.read_text(encoding="utf-8"))
    group = LogGroup(meta["logGroupName"], meta["creationTime"], group_json.parent)
    for stream_json in sorted(group.path.glob("*.json")):
        if stream_json.name != "group.json":
            stream = _load_stream(stream_json)
            group.streams[stream.name] = stream
    return group


def _load_stream(stream_json: Path) -> LogStream:
    meta = json.loads(stream_json.read_text(encoding="utf-8"))
    stream = LogStream(meta["logStreamName"], meta["creationTime"], stream_json.with_suffix(""))
    for record in _read_records(stream_json.with_suffix(".jsonl")):
        _index(stream, LogEvent(record["t"], record["i"], record["m"], stream.appended + 1))
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
