"""The queue of asynchronous invocations (InvokeEndpointAsync): one queue per endpoint, kept in the database.

InvokeEndpointAsync enqueues a request and answers at once; the async-invocations worker claims
requests up to its endpoint's concurrency, invokes the model and writes the answer (or the
failure) where the request says, then removes it. A claimed request is `in-progress` until then:
a server that stops while it works leaves it so, and the next server puts it back in the queue
(`release_in_progress`) before it claims anything. So a request is invoked at least once, as on
SageMaker, and never lost. The database is a region's: names are unique within it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Index, Integer, LargeBinary, String, Text, delete, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.records import Clock, utc_now
from modelbay.store.metadata.tables import Base, BigSerial, UtcDateTime

QUEUED, IN_PROGRESS = "queued", "in-progress"


class AsyncInvocationRow(Base):
    """One queued request (see AsyncRequest for each column); `id` orders the queue."""

    __tablename__ = "async_invocations"
    __table_args__ = (Index(None, "endpoint_name", "status", "id"),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    endpoint_name: Mapped[str] = mapped_column(String(63))
    endpoint_arn: Mapped[str] = mapped_column(String(256))
    inference_id: Mapped[str] = mapped_column(String(64))
    input_location: Mapped[str | None] = mapped_column(Text)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    output_location: Mapped[str] = mapped_column(Text)
    failure_location: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(Text)
    accept: Mapped[str | None] = mapped_column(Text)
    custom_attributes: Mapped[str | None] = mapped_column(Text)
    invocation_timeout_s: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)
    expiry_time: Mapped[datetime] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class AsyncRequest:
    """What InvokeEndpointAsync asked for: the input at `input_location` (an s3:// URI) or inline in `body`,
    the model's answer to be written at `output_location`, its failure at `failure_location` (None: the
    endpoint's config names no S3FailurePath)."""

    endpoint_name: str
    endpoint_arn: str
    inference_id: str
    input_location: str | None
    body: bytes | None
    output_location: str
    failure_location: str | None
    content_type: str | None
    accept: str | None
    custom_attributes: str | None
    invocation_timeout_s: int


@dataclass(frozen=True)
class AsyncInvocation:
    """A request in the queue: `id` names it to `finish` and `release`; past `expiry_time` it is not invoked."""

    id: int
    request: AsyncRequest
    creation_time: datetime
    expiry_time: datetime


class AsyncInvocationQueue:
    """Every endpoint's queue. Each method is one transaction; `claim` hands each request to one claimer only,
    also when several servers share a PostgreSQL database."""

    table = AsyncInvocationRow.__tablename__  # the worker's work: its change counter (changes.py)

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    def enqueue(self, request: AsyncRequest, ttl_s: int) -> AsyncInvocation:
        """Add a request at the end of its endpoint's queue; it expires `ttl_s` seconds from now."""
        now = self._clock()
        row = AsyncInvocationRow(**vars(request), status=QUEUED, creation_time=now,
                                 expiry_time=now + timedelta(seconds=ttl_s))
        with self._db.write() as session:
            session.add(row)
            session.flush()
            return _invocation(row)

    def claim(self, endpoint_name: str, limit: int) -> list[AsyncInvocation]:
        """Mark up to `limit` of the endpoint's queued requests in-progress, oldest first, and return them.

        PostgreSQL skips rows another transaction is claiming (FOR UPDATE SKIP LOCKED); SQLite runs one write
        transaction at a time, so a select then update is atomic there."""
        if limit < 1:
            return []
        query = (select(AsyncInvocationRow)
                 .where(AsyncInvocationRow.endpoint_name == endpoint_name, AsyncInvocationRow.status == QUEUED)
                 .order_by(AsyncInvocationRow.id).limit(limit).with_for_update(skip_locked=True))
        with self._db.write() as session:
            rows = list(session.scalars(query))
            for row in rows:
                row.status = IN_PROGRESS
            return [_invocation(row) for row in rows]

    def finish(self, invocation_id: int) -> None:
        """Remove a request whose answer or failure is written (nothing happens if it is gone already)."""
        with self._db.write() as session:
            session.execute(delete(AsyncInvocationRow).where(AsyncInvocationRow.id == invocation_id))

    def release(self, invocation_id: int) -> None:
        """Put one claimed request back in its queue, at its place (the endpoint could not take it now)."""
        with self._db.write() as session:
            session.execute(update(AsyncInvocationRow).where(AsyncInvocationRow.id == invocation_id)
                            .values(status=QUEUED))

    def release_in_progress(self) -> int:
        """Put every claimed request back in its queue (a server starting: whoever claimed them is gone); return
        how many."""
        with self._db.write() as session:
            result = session.execute(update(AsyncInvocationRow).where(AsyncInvocationRow.status == IN_PROGRESS)
                                     .values(status=QUEUED))
            return int(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE's CursorResult has it

    def drop(self, endpoint_name: str) -> int:
        """Remove an endpoint's whole queue (the endpoint is gone); return how many requests it held."""
        with self._db.write() as session:
            result = session.execute(delete(AsyncInvocationRow)
                                     .where(AsyncInvocationRow.endpoint_name == endpoint_name))
            return int(result.rowcount)  # type: ignore[attr-defined]  # a DELETE's CursorResult has it

    def endpoints_with_queued(self) -> list[str]:
        """The endpoints with requests waiting to be claimed, in name order."""
        query = (select(AsyncInvocationRow.endpoint_name).where(AsyncInvocationRow.status == QUEUED)
                 .distinct().order_by(AsyncInvocationRow.endpoint_name))
        with self._db.read() as session:
            return list(session.scalars(query))

    def backlog(self, endpoint_name: str) -> int:
        """The endpoint's requests waiting or being worked on (SageMaker's ApproximateBacklogSize)."""
        query = select(func.count()).where(AsyncInvocationRow.endpoint_name == endpoint_name)
        with self._db.read() as session:
            return int(session.scalar(query) or 0)


def _invocation(row: AsyncInvocationRow) -> AsyncInvocation:
    request = AsyncRequest(
        endpoint_name=row.endpoint_name, endpoint_arn=row.endpoint_arn, inference_id=row.inference_id,
        input_location=row.input_location, body=row.body, output_location=row.output_location,
        failure_location=row.failure_location, content_type=row.content_type, accept=row.accept,
        custom_attributes=row.custom_attributes, invocation_timeout_s=row.invocation_timeout_s)
    return AsyncInvocation(row.id, request, row.creation_time, row.expiry_time)
