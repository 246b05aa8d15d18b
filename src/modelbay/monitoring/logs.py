"""The LogStore interface: CloudWatch Logs' groups, streams and events, and what every backend promises.

Backends: `log_files.FileLogStore` (the embedded default: files under the data directory, one server's) and
`log_database.DatabaseLogStore` (tables of the metadata database, shared by every server on it).

Every backend keeps these promises:
- An event's position in its stream is its key (timestamp, seq), seq being its 1-based ingestion number in the
  stream: events are read in key order, and a read position between events is a key too, which is what
  GetLogEvents' tokens and FilterLogEvents' nextToken carry (services/logs.py).
- A write (append, put, ship) happens entirely or not at all, and concurrent writers lose nothing.
- A stream fed from a file (an instance's log) records how many bytes of it are shipped, in the same write as the
  events (`ship`), so whoever ships next (another pass, a restarted or new leader) continues exactly there.
- Names are compared and ordered as Python compares str (by code point). Every method is thread-safe.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from modelbay.monitoring.log_patterns import Matcher

Key = tuple[int, int]  # (timestamp ms, seq): an event's place in its stream
Position = tuple[int, str, int]  # (timestamp ms, stream name, seq): a FilterLogEvents hit's place in its group


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


@dataclass(frozen=True)
class LogGroup:
    """A group as it was when read: its name, creation time (ms) and the bytes of its events' messages."""

    name: str
    creation_time: int
    stored_bytes: int


@dataclass(frozen=True)
class LogStream:
    """A stream as it was when read. `appended` counts the events ever written (the last seq); the event
    timestamps are the smallest and largest stored (None: no event yet)."""

    name: str
    creation_time: int
    appended: int = 0
    stored_bytes: int = 0
    first_event_timestamp: int | None = None
    last_event_timestamp: int | None = None
    last_ingestion_time: int | None = None


@dataclass(frozen=True)
class StreamMatch:
    """A FilterLogEvents hit: the event and the stream it is in."""

    stream: str
    event: LogEvent


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def order_of(hit: StreamMatch) -> Position:
    """A FilterLogEvents hit's place among hits from several streams."""
    return (hit.event.timestamp, hit.stream, hit.event.seq)


class LogStore(abc.ABC):
    """Log groups of streams of events (see the module's docstring for what every backend promises)."""

    # -- groups and streams ---------------------------------------------------------------------

    @abc.abstractmethod
    def create_group(self, name: str) -> LogGroup:
        """Create a group; raise LogGroupExists if it exists."""

    @abc.abstractmethod
    def delete_group(self, name: str) -> None:
        """Delete a group with its streams and events; raise LogGroupNotFound if absent."""

    @abc.abstractmethod
    def groups(self, prefix: str = "") -> list[LogGroup]:
        """The groups whose names start with `prefix`, by name."""

    @abc.abstractmethod
    def create_stream(self, group: str, name: str) -> LogStream:
        """Create a stream in an existing group; raise LogGroupNotFound or LogStreamExists."""

    @abc.abstractmethod
    def streams(self, group: str, prefix: str = "") -> list[LogStream]:
        """The group's streams whose names start with `prefix`, by name; raise LogGroupNotFound."""

    @abc.abstractmethod
    def stream(self, group: str, stream: str) -> LogStream:
        """The stream; raise LogGroupNotFound or LogStreamNotFound."""

    # -- events ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def append(self, group: str, stream: str, lines: Iterable[str], timestamp_ms: int | None = None) -> int:
        """Append lines as events stamped `timestamp_ms` (default: now), creating the group and stream on
        demand; return how many were written."""

    @abc.abstractmethod
    def put(self, group: str, stream: str, events: list[tuple[int, str]]) -> int:
        """Append (timestamp ms, message) events to an existing stream; return the stream's event count
        afterwards. Raise LogGroupNotFound or LogStreamNotFound."""

    @abc.abstractmethod
    def ship(self, group: str, stream: str, lines: Sequence[str], from_byte: int, to_byte: int) -> bool:
        """Append lines read from bytes [from_byte, to_byte) of the stream's source file as events stamped now,
        creating the group and stream on demand, and record `to_byte` as shipped, in one write; only if
        `from_byte` is what `shipped` answers now. Return whether they were written (False: another shipper
        got there first, and nothing changed)."""

    @abc.abstractmethod
    def shipped(self, group: str, stream: str) -> int:
        """How many bytes of the stream's source `ship` has recorded (0: none, or no such stream)."""

    @abc.abstractmethod
    def read(self, group: str, stream: str, start: int | None, end: int | None) -> list[LogEvent]:
        """A stream's events with start <= timestamp < end, in key order. Raise LogGroupNotFound or
        LogStreamNotFound."""

    @abc.abstractmethod
    def search(self, group: str, streams: list[str], match: Matcher, start: int | None, end: int | None,
               after: Position | None) -> Iterator[StreamMatch]:
        """Events of the named streams with start <= timestamp <= end whose message matches,
        ordered by (timestamp, stream name, seq) and strictly after `after` in that order.
        Raise LogGroupNotFound (at the call, not at the first hit); unknown streams are skipped."""
