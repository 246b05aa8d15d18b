"""The log store in the metadata database (its tables: store/metadata/log_events.py), so that every server sharing
one PostgreSQL database reads the logs any of them wrote, and a new leader ships an instance's log on from where
the last one stopped.

Every write to a group is one transaction holding a lock named after the group (Database.write(lock=...)): a
stream's seq numbers and shipped offset are read and advanced by one writer at a time, and creating a group or a
stream on demand never races. FilterLogEvents' search reads the events in its order, SEARCH_PAGE rows at a time,
and matches them here (monitoring/log_patterns.py), so it holds one page at a time and stops when its caller has
enough.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import ColumnElement, Select, func, insert, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

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
)
from modelbay.store.metadata.database import Database
from modelbay.store.metadata.log_events import LogEventRow, LogGroupRow, LogStreamRow

SEARCH_PAGE = 1000
_EVENT_COLUMNS = (LogEventRow.timestamp, LogEventRow.ingestion_time, LogEventRow.message, LogEventRow.seq)


class DatabaseLogStore(LogStore):
    """Log groups of streams of events in the tables of `db`, shared with every other store on them."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # names are ordered as Python orders str: by code point, PostgreSQL's "C" collation (SQLite's own order)
        on_postgres = db.engine.dialect.name == "postgresql"
        self._stream_order = LogStreamRow.name.collate("C") if on_postgres else LogStreamRow.name

    # -- groups and streams ---------------------------------------------------------------------

    def create_group(self, name: str) -> LogGroup:
        with self._db.write(lock=_lock(name)) as session:
            if _find_group(session, name) is not None:
                raise LogGroupExists(name)
            row = _add_group(session, name)
            return LogGroup(row.name, row.creation_time, 0)

    def delete_group(self, name: str) -> None:
        with self._db.write(lock=_lock(name)) as session:
            session.delete(_group(session, name))  # its streams and their events go with it (ON DELETE CASCADE)

    def groups(self, prefix: str = "") -> list[LogGroup]:
        stored = func.coalesce(func.sum(LogStreamRow.stored_bytes), 0)
        query = (select(LogGroupRow.name, LogGroupRow.creation_time, stored)
                 .outerjoin(LogStreamRow, LogStreamRow.group_id == LogGroupRow.id)
                 .where(_starts_with(LogGroupRow.name, prefix))
                 .group_by(LogGroupRow.id, LogGroupRow.name, LogGroupRow.creation_time))
        with self._db.read() as session:
            found = [LogGroup(name, created, int(size)) for name, created, size in session.execute(query)]
        return sorted(found, key=lambda group: group.name)

    def create_stream(self, group: str, name: str) -> LogStream:
        with self._db.write(lock=_lock(group)) as session:
            found = _group(session, group)
            if _find_stream(session, found.id, name) is not None:
                raise LogStreamExists(name)
            return _view(_add_stream(session, found.id, name))

    def streams(self, group: str, prefix: str = "") -> list[LogStream]:
        with self._db.read() as session:
            found = _group(session, group)
            rows = session.scalars(select(LogStreamRow).where(LogStreamRow.group_id == found.id,
                                                              _starts_with(LogStreamRow.name, prefix)))
            return sorted((_view(row) for row in rows), key=lambda stream: stream.name)

    def stream(self, group: str, stream: str) -> LogStream:
        with self._db.read() as session:
            return _view(_stream(session, group, stream))

    # -- events ---------------------------------------------------------------------------------

    def append(self, group: str, stream: str, lines: Iterable[str], timestamp_ms: int | None = None) -> int:
        stamp = now_ms() if timestamp_ms is None else timestamp_ms
        events = [(stamp, line) for line in lines]
        with self._db.write(lock=_lock(group)) as session:
            _add_events(session, _stream_on_demand(session, group, stream), events, now_ms())
        return len(events)

    def put(self, group: str, stream: str, events: list[tuple[int, str]]) -> int:
        with self._db.write(lock=_lock(group)) as session:
            target = _stream(session, group, stream)
            _add_events(session, target, events, now_ms())
            return target.appended

    def ship(self, group: str, stream: str, lines: Sequence[str], from_byte: int, to_byte: int) -> bool:
        stamp = now_ms()
        with self._db.write(lock=_lock(group)) as session:
            target = _stream_on_demand(session, group, stream)
            if target.shipped_bytes != from_byte:
                return False
            _add_events(session, target, [(stamp, line) for line in lines], stamp)
            target.shipped_bytes = to_byte
            return True

    def shipped(self, group: str, stream: str) -> int:
        query = (select(LogStreamRow.shipped_bytes).join(LogGroupRow, LogGroupRow.id == LogStreamRow.group_id)
                 .where(LogGroupRow.name == group, LogStreamRow.name == stream))
        with self._db.read() as session:
            return session.scalar(query) or 0

    def read(self, group: str, stream: str, start: int | None, end: int | None) -> list[LogEvent]:
        with self._db.read() as session:
            target = _stream(session, group, stream)
            query = (select(*_EVENT_COLUMNS).where(LogEventRow.stream_id == target.id, *_window(start, end))
                     .order_by(LogEventRow.timestamp, LogEventRow.seq))
            return [LogEvent(*row) for row in session.execute(query)]

    def search(self, group: str, streams: list[str], match: Matcher, start: int | None, end: int | None,
               after: Position | None) -> Iterator[StreamMatch]:
        wanted = set(streams)
        with self._db.read() as session:
            found = _group(session, group)
            named = session.execute(select(LogStreamRow.id, LogStreamRow.name).where(LogStreamRow.group_id == found.id))
            stream_ids = [stream_id for stream_id, name in named if name in wanted]
        window = _window(start, None if end is None else end + 1)
        return self._matches(stream_ids, match, window, after) if stream_ids else iter(())

    def _matches(self, stream_ids: list[int], match: Matcher, window: list[ColumnElement[bool]],
                 after: Position | None) -> Iterator[StreamMatch]:
        """The search's hits, read a page at a time in (timestamp, stream name, seq) order (no session is held
        between pages, so a caller may stop at any hit)."""
        position = after
        while True:
            with self._db.read() as session:
                rows = session.execute(self._search_page(stream_ids, window, position)).all()
            for timestamp, name, seq, ingestion_time, message in rows:
                if match(message):
                    yield StreamMatch(name, LogEvent(timestamp, ingestion_time, message, seq))
            if len(rows) < SEARCH_PAGE:
                return
            position = (rows[-1][0], rows[-1][1], rows[-1][2])

    def _search_page(self, stream_ids: list[int], window: list[ColumnElement[bool]],
                     after: Position | None) -> Select[int, str, int, int, str]:
        order = (LogEventRow.timestamp, self._stream_order, LogEventRow.seq)
        query = (select(LogEventRow.timestamp, LogStreamRow.name, LogEventRow.seq, LogEventRow.ingestion_time,
                        LogEventRow.message)
                 .join(LogStreamRow, LogStreamRow.id == LogEventRow.stream_id)
                 .where(LogEventRow.stream_id.in_(stream_ids), *window))
        if after is not None:
            query = query.where(tuple_(*order) > tuple_(*after))
        return query.order_by(*order).limit(SEARCH_PAGE)


def _lock(group: str) -> str:
    return f"log group {group}"


def _starts_with(column: InstrumentedAttribute[str], prefix: str) -> ColumnElement[bool]:
    """Exactly `prefix` at the start (LIKE would take its % and _ for wildcards, and SQLite's ignores case)."""
    return func.substr(column, 1, len(prefix)) == prefix


def _window(start: int | None, end: int | None) -> list[ColumnElement[bool]]:
    """start <= timestamp < end, either bound left out when None."""
    bounds = []
    if start is not None:
        bounds.append(LogEventRow.timestamp >= start)
    if end is not None:
        bounds.append(LogEventRow.timestamp < end)
    return bounds


def _view(row: LogStreamRow) -> LogStream:
    return LogStream(row.name, row.creation_time, row.appended, row.stored_bytes, row.first_event_timestamp,
                     row.last_event_timestamp, row.last_ingestion_time)


def _find_group(session: Session, name: str) -> LogGroupRow | None:
    return session.scalar(select(LogGroupRow).where(LogGroupRow.name == name))


def _group(session: Session, name: str) -> LogGroupRow:
    found = _find_group(session, name)
    if found is None:
        raise LogGroupNotFound(name)
    return found


def _find_stream(session: Session, group_id: int, name: str) -> LogStreamRow | None:
    return session.scalar(select(LogStreamRow).where(LogStreamRow.group_id == group_id, LogStreamRow.name == name))


def _stream(session: Session, group: str, name: str) -> LogStreamRow:
    found = _find_stream(session, _group(session, group).id, name)
    if found is None:
        raise LogStreamNotFound(name)
    return found


def _stream_on_demand(session: Session, group: str, name: str) -> LogStreamRow:
    group_id = (_find_group(session, group) or _add_group(session, group)).id
    return _find_stream(session, group_id, name) or _add_stream(session, group_id, name)


def _add_group(session: Session, name: str) -> LogGroupRow:
    row = LogGroupRow(name=name, creation_time=now_ms())
    session.add(row)
    session.flush()  # its id, for its streams
    return row


def _add_stream(session: Session, group_id: int, name: str) -> LogStreamRow:
    row = LogStreamRow(group_id=group_id, name=name, creation_time=now_ms(), appended=0, stored_bytes=0,
                       shipped_bytes=0)
    session.add(row)
    session.flush()  # its id, for its events
    return row


def _add_events(session: Session, stream: LogStreamRow, events: list[tuple[int, str]], ingestion_time: int) -> None:
    """Insert the batch after the stream's last seq, and update what the stream row summarises of its events."""
    if not events:
        return
    session.execute(insert(LogEventRow), [
        {"stream_id": stream.id, "seq": stream.appended + n, "timestamp": timestamp,
         "ingestion_time": ingestion_time, "message": message}
        for n, (timestamp, message) in enumerate(events, start=1)])
    low, high = min(t for t, _ in events), max(t for t, _ in events)
    first, last = stream.first_event_timestamp, stream.last_event_timestamp
    stream.first_event_timestamp = low if first is None else min(first, low)
    stream.last_event_timestamp = high if last is None else max(last, high)
    stream.appended += len(events)
    stream.stored_bytes += sum(len(message.encode()) for _, message in events)
    stream.last_ingestion_time = ingestion_time
