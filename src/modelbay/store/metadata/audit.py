"""The audit log: one event per API call, appended in batches, read newest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.tables import AuditEventRow

SUCCESS = "Success"  # the outcome of a call that did not fail


@dataclass(frozen=True)
class AuditEvent:
    """One API call: who called what, on which resources, when, from where, and how it ended.

    `event_time` must be timezone-aware (ValueError otherwise); `principal` is the caller's
    ARN (or "anonymous"); `service` the botocore service name (e.g. "sagemaker"); `outcome` is
    SUCCESS or the AWS error code the caller got, with `status_code` its HTTP status and
    `error_message` the message it was told; `resources` the names or ARNs the call named, in `region`.
    """

    event_time: datetime
    request_id: str
    principal: str
    service: str
    operation: str
    outcome: str
    status_code: int
    resources: tuple[str, ...] = ()
    source_ip: str | None = None
    error_message: str | None = None
    region: str | None = None

    def __post_init__(self) -> None:
        if self.event_time.tzinfo is None:
            raise ValueError(f"AuditEvent.event_time must be timezone-aware, not {self.event_time!r}")


class AuditRepository:
    """Append-only storage of AuditEvents."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def append(self, events: Sequence[AuditEvent]) -> None:
        """Store all the events in one transaction, or none of them if it raises."""
        with self._db.write() as session:
            session.add_all(_row(event) for event in events)

    def find(self, since: datetime | None = None, until: datetime | None = None, principal: str | None = None,
             service: str | None = None, operation: str | None = None, region: str | None = None,
             failed: bool = False, limit: int = 100) -> list[AuditEvent]:
        """Up to `limit` events newest first, with since <= event_time < until and the given fields equal;
        only the failed calls (an outcome other than SUCCESS) with `failed`.

        Events with the same time come newest-appended first.
        """
        query = select(AuditEventRow).order_by(AuditEventRow.event_time.desc(), AuditEventRow.id.desc())
        if since is not None:
            query = query.where(AuditEventRow.event_time >= since)
        if until is not None:
            query = query.where(AuditEventRow.event_time < until)
        for column, wanted in ((AuditEventRow.principal, principal), (AuditEventRow.service, service),
                               (AuditEventRow.operation, operation), (AuditEventRow.region, region)):
            if wanted is not None:
                query = query.where(column == wanted)
        if failed:
            query = query.where(AuditEventRow.outcome != SUCCESS)
        with self._db.read() as session:
            return [_event(row) for row in session.scalars(query.limit(limit))]


def _row(event: AuditEvent) -> AuditEventRow:
    return AuditEventRow(event_time=event.event_time, request_id=event.request_id, principal=event.principal,
                         service=event.service, operation=event.operation, resources=list(event.resources),
                         outcome=event.outcome, status_code=event.status_code, source_ip=event.source_ip,
                         error_message=event.error_message, region=event.region)


def _event(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(event_time=row.event_time, request_id=row.request_id, principal=row.principal,
                      service=row.service, operation=row.operation, resources=tuple(row.resources),
                      outcome=row.outcome, status_code=row.status_code, source_ip=row.source_ip,
                      error_message=row.error_message, region=row.region)
