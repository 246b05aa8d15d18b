"""Events: what happened to resources, shaped as Amazon EventBridge delivers SageMaker's events, for users to follow.

A repository that changes a resource appends its event in the same transaction (`append`), so an event is
recorded exactly when its change is. Each event's `id` grows with every append: it is the cursor a reader
passes back to read what came after (`EventLog.after`). The log is bounded: an append removes the events more
than MAX_EVENTS older than itself, so a reader that falls that far behind misses the oldest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.engine import serialize
from modelbay.store.metadata.tables import Base, BigSerial, UtcDateTime

MAX_EVENTS = 10_000  # the most recent events kept
SOURCE = "aws.sagemaker"


class EventRow(Base):
    """One event (see Event for each column)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(UtcDateTime)
    region: Mapped[str] = mapped_column(String(32))
    account: Mapped[str] = mapped_column(String(12))
    source: Mapped[str] = mapped_column(String(64))
    detail_type: Mapped[str] = mapped_column(String(128))
    resources: Mapped[list[str]] = mapped_column(JSON)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


@dataclass(frozen=True)
class Event:
    """One event: EventBridge's envelope (`detail_type` is its detail-type) and `detail`, JSON values only.
    `id` orders events: a later event has a greater one."""

    id: int
    time: datetime
    region: str
    account: str
    source: str
    detail_type: str
    resources: tuple[str, ...]
    detail: dict[str, Any]


def append(session: Session, time: datetime, arn: str, detail_type: str, detail: dict[str, Any]) -> None:
    """Record an event of the resource `arn` (whose region and account it is) in the caller's transaction, and
    forget the events MAX_EVENTS before it.

    Appends take one lock, held until their transactions end: ids are then committed in order, so a reader who
    has seen an id never sees a smaller one appear later (PostgreSQL hands out ids before commits, which could
    otherwise land out of order).
    """
    serialize(session.connection(), "events")
    _, _, _, region, account, _ = arn.split(":", 5)
    row = EventRow(time=time, region=region, account=account, source=SOURCE, detail_type=detail_type,
                   resources=[arn], detail=detail)
    session.add(row)
    session.flush()  # gives the row its id
    session.execute(delete(EventRow).where(EventRow.id <= row.id - MAX_EVENTS))


class EventLog:
    """The events of one metadata store, oldest first."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def after(self, cursor: int, limit: int = 100) -> list[Event]:
        """Up to `limit` events that came after the event `cursor` (0: from the oldest kept), oldest first."""
        with self._db.read() as session:
            rows = session.scalars(select(EventRow).where(EventRow.id > cursor).order_by(EventRow.id).limit(limit))
            return [Event(id=row.id, time=row.time, region=row.region, account=row.account, source=row.source,
                          detail_type=row.detail_type, resources=tuple(row.resources), detail=row.detail)
                    for row in rows]

    def last_id(self) -> int:
        """The cursor of the latest event (0 when there is none): reading after it gives only what comes next."""
        with self._db.read() as session:
            return session.scalar(select(EventRow.id).order_by(EventRow.id.desc()).limit(1)) or 0
