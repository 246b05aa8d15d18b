"""The audit log: one event per API call, appended in batches to a hash chain, read newest first.

Every event appended takes the next place (`sequence` 1, 2, ...) in one total order of the database's events, and
its `chain_hash` is the SHA-256 over the previous event's chain_hash, its place and its canonical record (chain_hash).
Appends take the chain's lock, so the order is one even when several servers share a PostgreSQL database. A row
changed, removed or moved afterwards no longer chains (security/audit_verification.py finds it); the chain's head
is signed from time to time (store/metadata/audit_signatures.py) so that rewriting every hash after an edit shows
too. Rows recorded before the chain began (revision 0028) are chained, in the order they were written, by the first
append; a row outside the chain after that was inserted by someone else.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, false, func, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from modelbay.store.metadata.audit_signatures import AuditSignatures
from modelbay.store.metadata.database import Database
from modelbay.store.metadata.tables import AuditEventRow
from modelbay.store.metadata.trails import TrailRepository

SUCCESS = "Success"  # the outcome of a call that did not fail
GENESIS_HASH = "0" * 64  # the "previous hash" of the first event of the chain
CHAIN_LOCK = "audit chain"  # held by every append: one writer at a time extends the chain
EVENT_VERSION = "1.09"  # CloudTrail's record format the records follow
_SCAN_BATCH = 500  # rows read at a time by lookups that filter in Python, and by chain walks


@dataclass(frozen=True)
class AuditEvent:
    """One API call: who called what, on which resources, when, from where, and how it ended, with what
    CloudTrail's record of it shows (api/audit_records.py makes one from a call).

    `event_time` must be timezone-aware (ValueError otherwise); `principal` is the caller's
    ARN (or "anonymous"); `service` the botocore service name (e.g. "sagemaker"); `outcome` is
    SUCCESS or the AWS error code the caller got, with `status_code` its HTTP status and
    `error_message` the message it was told; `resources` the names or ARNs the call named, in `region`,
    and `resource_types` the CloudTrail type of each (AWS::SageMaker::Endpoint), in the same order when given.
    CloudTrail's fields: `event_source` (sagemaker.amazonaws.com), `user_identity` (its userIdentity object),
    `username` (LookupEvents' Username), `request_parameters` and `response_elements` (secrets redacted; None where
    CloudTrail shows null). Every value of the mappings is JSON's (str, number, bool, None, list, dict).
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
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    event_source: str | None = None
    user_identity: Mapping[str, Any] | None = None
    username: str | None = None
    access_key_id: str | None = None
    account_id: str | None = None
    user_agent: str | None = None
    read_only: bool | None = None
    request_parameters: Mapping[str, Any] | None = None
    response_elements: Mapping[str, Any] | None = None
    resource_types: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.event_time.tzinfo is None:
            raise ValueError(f"AuditEvent.event_time must be timezone-aware, not {self.event_time!r}")
        if self.resource_types and len(self.resource_types) != len(self.resources):
            raise ValueError("AuditEvent.resource_types must name the type of each of its resources")


@dataclass(frozen=True)
class ChainedEvent:
    """An event as the chain holds it: its place, the hash stored with it, and its row's id (None: never chained)."""

    sequence: int | None
    chain_hash: str | None
    event: AuditEvent
    row_id: int


@dataclass(frozen=True)
class EventQuery:
    """LookupEvents' question: events of `region` (every region's if None) with since <= event_time < until,
    whose `attribute` (a LookupAttributeKey: EventName, Username, ResourceName, ...) equals `value`."""

    region: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    attribute: str | None = None
    value: str | None = None


def canonical_record(event: AuditEvent) -> bytes:
    """The bytes the chain hashes for `event`: its fields as JSON with sorted keys, no spaces, ASCII only."""
    fields = {name: getattr(event, name) for name in event.__dataclass_fields__}
    fields["event_time"] = event.event_time.astimezone(UTC).isoformat()
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_json_value).encode()


def chain_hash(previous: str, sequence: int, event: AuditEvent) -> str:
    """The hash of the event at `sequence` whose predecessor's hash is `previous` (GENESIS_HASH for the first)."""
    return hashlib.sha256(f"{previous}\n{sequence}\n".encode() + canonical_record(event)).hexdigest()


def cloudtrail_record(event: AuditEvent) -> dict[str, Any]:
    """The event as CloudTrail records it (a log file's Records, LookupEvents' CloudTrailEvent).

    An event recorded before CloudTrail's fields were (revision 0028) shows what it has: the caller's ARN as its
    userIdentity, `<service>.amazonaws.com` as its eventSource.
    """
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION, "userIdentity": dict(event.user_identity or _identity_of(event.principal)),
        "eventTime": event.event_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": event.event_source or (f"{event.service}.amazonaws.com" if event.service else None),
        "eventName": event.operation,
        "awsRegion": event.region, "sourceIPAddress": event.source_ip, "userAgent": event.user_agent}
    if event.outcome != SUCCESS:
        record |= {"errorCode": event.outcome, "errorMessage": event.error_message}
    record |= {"requestParameters": _plain(event.request_parameters),
               "responseElements": _plain(event.response_elements), "requestID": event.request_id,
               "eventID": event.event_id, "readOnly": event.read_only, "eventType": "AwsApiCall",
               "managementEvent": True, "recipientAccountId": event.account_id, "eventCategory": "Management"}
    arns = [(name, kind) for name, kind in zip(event.resources, event.resource_types or [None] * len(event.resources),
                                               strict=True) if name.startswith("arn:")]
    if arns:
        record["resources"] = [{"ARN": arn, "accountId": event.account_id, "type": kind} for arn, kind in arns]
    return record


def _identity_of(principal: str) -> dict[str, Any]:
    """The userIdentity an event recorded before revision 0028 can show: its caller's ARN."""
    if not principal.startswith("arn:"):
        return {"type": "AWSAccount", "principalId": "", "accountId": principal}
    return {"arn": principal, "accountId": principal.split(":")[4]}


class AuditRepository:
    """Append-only storage of AuditEvents in a hash chain; `signatures` holds the chain's signed heads, `trails`
    CloudTrail's trails that deliver the events as log files."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.signatures = AuditSignatures(db)
        self.trails = TrailRepository(db)

    def append(self, events: Sequence[AuditEvent]) -> None:
        """Store all the events in one transaction, each at the next place of the chain, or none if it raises."""
        with self._db.write(lock=CHAIN_LOCK) as session:
            head = _head(session)
            if head is None:  # the chain begins: the rows recorded before it (revision 0028) come first
                head = _chain_legacy_rows(session)
            sequence, previous = head
            for event in events:
                sequence += 1
                previous = chain_hash(previous, sequence, event)
                session.add(_row(event, sequence, previous))

    def head(self) -> tuple[int, str] | None:
        """The last place of the chain and its hash; None while it is empty."""
        with self._db.read() as session:
            return _head(session)

    def find(self, since: datetime | None = None, until: datetime | None = None, principal: str | None = None,
             service: str | None = None, operation: str | None = None, region: str | None = None,
             failed: bool = False, limit: int = 100) -> list[AuditEvent]:
        """Up to `limit` events newest first, with since <= event_time < until and the given fields equal;
        only the failed calls (an outcome other than SUCCESS) with `failed`.

        Events with the same time come newest-appended first.
        """
        query = select(AuditEventRow).order_by(AuditEventRow.event_time.desc(), AuditEventRow.id.desc())
        query = query.where(*_time_bounds(since, until))
        for column, wanted in ((AuditEventRow.principal, principal), (AuditEventRow.service, service),
                               (AuditEventRow.operation, operation), (AuditEventRow.region, region)):
            if wanted is not None:
                query = query.where(column == wanted)
        if failed:
            query = query.where(AuditEventRow.outcome != SUCCESS)
        with self._db.read() as session:
            return [_event(row) for row in session.scalars(query.limit(limit))]

    def lookup(self, query: EventQuery, before: int | None, limit: int) -> tuple[list[AuditEvent], int | None]:
        """Up to `limit` chained events answering `query`, latest place first, from the place `before` down
        (from the head if None); and the place to continue before, None when no event is left."""
        conditions = [AuditEventRow.sequence.is_not(None), *_time_bounds(query.since, query.until)]
        if query.region is not None:
            conditions.append(AuditEventRow.region == query.region)
        column_condition, matches = _attribute_filter(query.attribute, query.value)
        conditions += column_condition
        found: list[AuditEvent] = []
        with self._db.read() as session:
            while True:
                page = conditions if before is None else [*conditions, AuditEventRow.sequence < before]
                rows = session.scalars(select(AuditEventRow).where(*page)
                                       .order_by(AuditEventRow.sequence.desc()).limit(_SCAN_BATCH)).all()
                for row in rows:
                    before = row.sequence
                    if matches(row):
                        found.append(_event(row))
                        if len(found) == limit:
                            return found, before
                if len(rows) < _SCAN_BATCH:
                    return found, None

    def after(self, sequence: int, limit: int) -> list[ChainedEvent]:
        """Up to `limit` chained events past place `sequence`, in the chain's order."""
        with self._db.read() as session:
            rows = session.scalars(select(AuditEventRow).where(AuditEventRow.sequence > sequence)
                                   .order_by(AuditEventRow.sequence).limit(limit))
            return [_chained(row) for row in rows]

    def places(self, since: datetime | None, until: datetime | None) -> tuple[int, int] | None:
        """The first and last places of the chained events with since <= event_time < until; None if none."""
        with self._db.read() as session:
            first, last = session.execute(select(func.min(AuditEventRow.sequence), func.max(AuditEventRow.sequence))
                                          .where(*_time_bounds(since, until))).one()
            return None if first is None or last is None else (first, last)

    def chain(self, first: int, last: int) -> Iterator[ChainedEvent]:
        """The chained events from place `first` to `last` in order, read in batches (a place may be absent)."""
        position = first - 1
        while position < last:
            batch = self.after(position, _SCAN_BATCH)
            yield from (chained for chained in batch if chained.sequence is not None and chained.sequence <= last)
            if len(batch) < _SCAN_BATCH:
                return
            position = batch[-1].sequence or last

    def unchained(self, limit: int) -> list[ChainedEvent]:
        """Up to `limit` rows outside the chain: inserted other than by append (or recorded before the chain began
        and not yet chained by a first append)."""
        with self._db.read() as session:
            rows = session.scalars(select(AuditEventRow).where(AuditEventRow.sequence.is_(None))
                                   .order_by(AuditEventRow.id).limit(limit))
            return [_chained(row) for row in rows]


def _head(session: Session) -> tuple[int, str] | None:
    found = session.execute(select(AuditEventRow.sequence, AuditEventRow.chain_hash)
                            .where(AuditEventRow.sequence.is_not(None))
                            .order_by(AuditEventRow.sequence.desc()).limit(1)).first()
    return None if found is None else (found[0] or 0, found[1] or "")


def _chain_legacy_rows(session: Session) -> tuple[int, str]:
    """Give the rows recorded before revision 0028 their places and hashes, in the order they were written; the
    chain's head after them. Only while the chain is empty: a row outside it later was put there by someone else."""
    sequence, previous = 0, GENESIS_HASH
    for row in session.scalars(select(AuditEventRow).where(AuditEventRow.sequence.is_(None))
                               .order_by(AuditEventRow.id)):
        sequence += 1
        row.event_id = row.event_id or row.request_id
        previous = chain_hash(previous, sequence, _event(row))
        row.sequence, row.chain_hash = sequence, previous
    session.flush()
    return sequence, previous


def _time_bounds(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    bounds = []
    if since is not None:
        bounds.append(AuditEventRow.event_time >= since)
    if until is not None:
        bounds.append(AuditEventRow.event_time < until)
    return bounds


_LOOKUP_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "EventId": AuditEventRow.event_id, "EventName": AuditEventRow.operation, "Username": AuditEventRow.username,
    "EventSource": AuditEventRow.event_source, "AccessKeyId": AuditEventRow.access_key_id}


def _attribute_filter(attribute: str | None, value: str | None) -> tuple[list[ColumnElement[bool]],
                                                                         Callable[[AuditEventRow], bool]]:
    """The SQL condition of a lookup attribute, and the test of each row read (resources are JSON: tested here)."""
    if attribute is None or value is None:
        return [], lambda row: True
    if attribute in _LOOKUP_COLUMNS:
        return [_LOOKUP_COLUMNS[attribute] == value], lambda row: True
    if attribute == "ReadOnly":
        return [AuditEventRow.read_only.is_(true() if value.lower() == "true" else false())], lambda row: True
    if attribute == "ResourceName":
        return [], lambda row: value in row.resources
    if attribute == "ResourceType":
        return [], lambda row: value in (row.resource_types or [])
    raise ValueError(f"not a lookup attribute: {attribute!r}")


def _json_value(value: object) -> object:
    """What json.dumps cannot write itself: the tuples and mappings of an AuditEvent's fields."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"an audit event holds only JSON values, not {type(value).__name__}")


def _row(event: AuditEvent, sequence: int, hashed: str) -> AuditEventRow:
    return AuditEventRow(
        event_time=event.event_time, request_id=event.request_id, principal=event.principal, service=event.service,
        operation=event.operation, resources=list(event.resources), outcome=event.outcome,
        status_code=event.status_code, source_ip=event.source_ip, error_message=event.error_message,
        region=event.region, event_id=event.event_id, event_source=event.event_source,
        user_identity=_plain(event.user_identity), username=event.username, access_key_id=event.access_key_id,
        account_id=event.account_id, user_agent=event.user_agent, read_only=event.read_only,
        request_parameters=_plain(event.request_parameters), response_elements=_plain(event.response_elements),
        resource_types=list(event.resource_types), sequence=sequence, chain_hash=hashed)


def _plain(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else dict(value)


def _event(row: AuditEventRow) -> AuditEvent:
    """The event a row holds; a row recorded before revision 0028 has its request id as its event id."""
    return AuditEvent(
        event_time=row.event_time, request_id=row.request_id, principal=row.principal, service=row.service,
        operation=row.operation, resources=tuple(row.resources), outcome=row.outcome, status_code=row.status_code,
        source_ip=row.source_ip, error_message=row.error_message, region=row.region,
        event_id=row.event_id or row.request_id, event_source=row.event_source, user_identity=row.user_identity,
        username=row.username, access_key_id=row.access_key_id, account_id=row.account_id,
        user_agent=row.user_agent, read_only=row.read_only, request_parameters=row.request_parameters,
        response_elements=row.response_elements, resource_types=tuple(row.resource_types or ()))


def _chained(row: AuditEventRow) -> ChainedEvent:
    return ChainedEvent(row.sequence, row.chain_hash, _event(row), row.id)
