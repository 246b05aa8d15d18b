"""What the repositories of named SageMaker resources share: their errors, List* filters, and paging over rows.

A resource table has an integer `id` (creation order), a unique `name` and `arn`, and a
`creation_time`; tables with statuses also have `status` and `last_modified_time`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.lifecycle import Lifecycle
from modelbay.store.metadata.paging import InvalidToken, Page, decode_token, encode_token
from modelbay.store.metadata.tables import Base, StatusRow, TagRow

T = TypeVar("T")
R = TypeVar("R", bound=Base)
S = TypeVar("S", bound=StatusRow)
SortKey = Literal["Name", "CreationTime", "Status", "LastModifiedTime"]
_SORT_COLUMNS = {"Name": "name", "CreationTime": "creation_time", "Status": "status",
                 "LastModifiedTime": "last_modified_time"}
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class RecordExists(Exception):
    """A resource with this name (or ARN) exists already; `arn` is the existing one's."""

    def __init__(self, arn: str) -> None:
        super().__init__(f"{arn} exists already")
        self.arn = arn


class RecordNotFound(LookupError):
    """No resource of the kind has this name."""


class StatusConflict(Exception):
    """The resource's status does not allow the change; `status` is its current status."""

    def __init__(self, name: str, status: str) -> None:
        super().__init__(f"{name} is {status}")
        self.status = status


@dataclass(frozen=True)
class ListFilter:
    """A List* operation's filters: each one given narrows the listing; times are exclusive bounds."""

    name_contains: str | None = None  # case-insensitive
    status: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    modified_after: datetime | None = None
    modified_before: datetime | None = None
    arn_prefix: str | None = None  # IAM's PathPrefix: the ARN up to and including the path

    def conditions(self, row: Any) -> list[ColumnElement[bool]]:
        """SQL conditions on the table class `row` (status and modified filters need those columns)."""
        bounds = ((self.status, "status", operator.eq), (self.created_after, "creation_time", operator.gt),
                  (self.created_before, "creation_time", operator.lt),
                  (self.modified_after, "last_modified_time", operator.gt),
                  (self.modified_before, "last_modified_time", operator.lt))
        found = [compare(getattr(row, column), value) for value, column, compare in bounds if value is not None]
        if self.name_contains is not None:
            found.append(row.name.icontains(self.name_contains, autoescape=True))
        if self.arn_prefix is not None:
            found.append(row.arn.startswith(self.arn_prefix, autoescape=True))
        return found


NO_FILTER = ListFilter()


def list_rows(db: Database, row: Any, convert: Callable[[Any], T], filters: ListFilter, sort_by: SortKey,
              ascending: bool, after_token: str | None, limit: int) -> Page[T]:
    """Up to `limit` (at least 1) matching rows of table `row`, converted, after the page `after_token` ended.

    Ties in the sort key keep creation order. Raises InvalidToken for a token that no
    earlier page of a listing of the same table with the same sort gave.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    scope = f"{row.__tablename__} {sort_by} {'asc' if ascending else 'desc'}"
    column, row_id = getattr(row, _SORT_COLUMNS[sort_by]), row.id
    query = select(row).where(*filters.conditions(row)).limit(limit + 1).order_by(
        *((column.asc(), row_id.asc()) if ascending else (column.desc(), row_id.desc())))
    with db.read() as session:
        if after_token is not None:
            query = query.where(_after(session, row, column, decode_token(scope, after_token), ascending))
        rows = list(session.scalars(query))
        items = [convert(found) for found in rows[:limit]]
    next_token = encode_token(scope, rows[limit - 1].id) if len(rows) > limit else None
    return Page(items, next_token)


def _after(session: Session, row: Any, column: InstrumentedAttribute[Any], last_id: int,
           ascending: bool) -> ColumnElement[bool]:
    """Rows that follow row `last_id` in the order (column, id), ascending or descending."""
    pivot = session.scalar(select(column).where(row.id == last_id))
    if pivot is None:
        raise InvalidToken(str(last_id))
    if ascending:
        return or_(column > pivot, and_(column == pivot, row.id > last_id))
    return or_(column < pivot, and_(column == pivot, row.id < last_id))


def names_where(db: Database, row: Any, *conditions: ColumnElement[bool]) -> list[str]:
    """The names of the rows of table `row` that meet every condition, oldest first (a controller's work)."""
    with db.read() as session:
        return list(session.scalars(select(row.name).where(*conditions).order_by(row.id)))


def find_row(session: Session, row: type[R], name: str,
             not_found: Callable[[str], RecordNotFound] = RecordNotFound) -> R:
    """The row of table `row` with this name, to change in `session`; `not_found(name)` if there is none."""
    found: R | None = session.scalar(select(row).where(getattr(row, "name") == name))  # noqa: B009  # R has a name
    if found is None:
        raise not_found(name)
    return found


def get_row(db: Database, row: Any, name: str, convert: Callable[[Any], T]) -> T | None:
    """The row of table `row` with this name (names are case-sensitive), converted; None if there is none."""
    with db.read() as session:
        found = session.scalar(select(row).where(row.name == name))
        return None if found is None else convert(found)


def check_unique(session: Session, row: Any, name: str, arn: str) -> None:
    """Raise RecordExists if a row of table `row` has this name or this ARN."""
    existing = session.scalar(select(row.arn).where(or_(row.name == name, row.arn == arn)))
    if existing is not None:
        raise RecordExists(existing)


def delete_tags(session: Session, arn: str) -> None:
    """Remove a resource's tags along with it, so a later resource of the same name starts untagged."""
    session.execute(delete(TagRow).where(TagRow.resource_arn == arn))


def to_json_times(wire: dict[str, Any]) -> dict[str, Any]:
    """A wire dict with its datetime values as ISO 8601 strings, for a JSON column."""
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in wire.items()}


def from_json_times(stored: dict[str, Any], time_keys: frozenset[str]) -> dict[str, Any]:
    """The wire dict to_json_times stored, with the values of `time_keys` as datetimes again."""
    return {key: datetime.fromisoformat(value).astimezone(UTC) if key in time_keys and isinstance(value, str)
            else value for key, value in stored.items()}


class Repository(Generic[S, T]):
    """What the repository of every family with a lifecycle shares: its records by name, its List* pages and
    the controller's work. A family's repository names its `row` table and `lifecycle`, turns a row into its
    record (`_record`), and adds create, its requests (`request_<what>`) and `advance`, each one transaction.
    Times come from `clock`."""

    row: type[S]
    lifecycle: Lifecycle[Any]
    not_found: Callable[[str], RecordNotFound] = RecordNotFound

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    def _record(self, row: S) -> T:
        raise NotImplementedError

    @property
    def table(self) -> str:
        """The family's table, whose change counter its controller waits on when it has no work (changes.py)."""
        return str(self.row.__tablename__)

    def names_to_reconcile(self) -> list[str]:
        """The names the controller has work for, oldest first: those whose status has not ended."""
        return names_where(self._db, self.row, self.row.status.not_in(self.lifecycle.ended))

    def get(self, name: str) -> T | None:
        """The record with this name, or None."""
        return get_row(self._db, self.row, name, self._record)

    def list(self, filters: ListFilter = NO_FILTER, sort_by: SortKey = "CreationTime", ascending: bool = False,
             after_token: str | None = None, limit: int = 10) -> Page[T]:
        """Up to `limit` (at least 1) matching records in order, after the page `after_token` ended (list_rows)."""
        return list_rows(self._db, self.row, self._record, filters, sort_by, ascending, after_token, limit)

    def _lock(self, name: str) -> str:
        """The lock every write of one record takes (on PostgreSQL, writers of one record go one at a time)."""
        return f"{self.row.__tablename__} {name}"

    @contextmanager
    def _stop_requested(self, name: str, stopping: Any) -> Iterator[S]:
        """A Stop* request's transaction: the row marked stop-requested, for the caller to move to `stopping`.

        Raises `not_found`, or StatusConflict (writing nothing) if the status does not allow `stopping`.
        """
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, self.row, name, self.not_found)
            if not self.lifecycle.allows(row.status, stopping):
                raise StatusConflict(name, row.status)
            row.stop_requested = True  # type: ignore[attr-defined]  # the rows of families that stop have it
            yield row


class JobRepository(Repository[S, T]):
    """The repository of a family of jobs that run once and may be stopped, created InProgress (processing and
    transform jobs): it adds create, `_advance` and request_stop. The family names its row's `start_time` and
    `end_time` columns and its statuses `in_progress`, `stopping` and `stopped`."""

    start_time: str
    end_time: str
    in_progress: Any
    stopping: Any
    stopped: Any

    def create(self, name: str, arn: str, request: dict[str, Any]) -> T:
        """Store a new job, InProgress since now. Raises RecordExists, writing nothing, if one has this name or ARN."""
        now = self._clock()
        with self._db.write(lock=f"{self.row.__tablename__} create") as session:
            check_unique(session, self.row, name, arn)
            row = self.row(name=name, arn=arn, request=request, status=self.in_progress,
                           creation_time=now, last_modified_time=now, stop_requested=False)
            session.add(row)
            return self._record(row)

    def _advance(self, name: str, status: Any, **values: Any) -> T:
        """Move the job to `status` now and set the row's `values` (a None one keeps what is stored).

        Advancing to InProgress means the job's instances run: the first time sets the start time. An ended status
        sets the end time. A job being stopped ends Stopped: any other move the controller asks for it is dropped
        (the Stop* request overtook the controller, which read the job before it: its next pass ends it Stopped).
        Raises `not_found`, or IllegalTransition for a move the lifecycle does not allow (any move of an ended job).
        """
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, self.row, name, self.not_found)
            now = self._clock()
            if status == self.in_progress and getattr(row, self.start_time) is None:
                setattr(row, self.start_time, now)
            if row.status == self.stopping and status != self.stopped:
                return self._record(row)
            self._move(row, status, now)
            for column, value in values.items():
                if value is not None:
                    setattr(row, column, value)
            return self._record(row)

    def request_stop(self, name: str) -> T:
        """Mark an InProgress job stop-requested and move it to Stopping.

        Raises `not_found`, or StatusConflict if the job's status does not allow Stopping.
        """
        with self._stop_requested(name, self.stopping) as row:
            self._move(row, self.stopping, self._clock())
            return self._record(row)

    def _move(self, row: S, status: Any, now: datetime) -> None:
        """The one place a job's status changes: checked against the lifecycle; an ended status sets the end time."""
        self.lifecycle.check(row.name, row.status, status)
        if status in self.lifecycle.ended and row.status != status:
            setattr(row, self.end_time, now)
        row.status, row.last_modified_time = status, now
