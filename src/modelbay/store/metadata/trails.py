"""CloudTrail's trails: where each delivers the audit events, how far it has delivered, and the log and digest files
it has delivered (controllers/trail_delivery.py writes them; security/audit_verification.py checks them).

A trail's `delivered_sequence` is the chain's place (store/metadata/audit.py) up to which its log files hold the
events; `digest_start_time` is where its next digest file's period starts. Delivery advances both only by
compare-and-set (record_log_files, record_digest), so two servers delivering at once never deliver an event twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.records import Clock, RecordExists, RecordNotFound, utc_now
from modelbay.store.metadata.tables import Base, BigSerial, UtcDateTime

LOG = "log"
DIGEST = "digest"
GLOBAL_SERVICES = frozenset({"iam", "sts"})  # their events are CloudTrail's global service events
_LOCK = "cloudtrail trails"  # the read-check-writes of delivery and logging, one at a time


class TrailRow(Base):
    __tablename__ = "cloudtrail_trails"

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    arn: Mapped[str] = mapped_column(String(256), unique=True)
    home_region: Mapped[str] = mapped_column(String(32))
    bucket: Mapped[str] = mapped_column(String(63))
    key_prefix: Mapped[str | None] = mapped_column(Text)
    is_multi_region: Mapped[bool] = mapped_column(Boolean)
    include_global_events: Mapped[bool] = mapped_column(Boolean)
    log_file_validation: Mapped[bool] = mapped_column(Boolean)
    is_logging: Mapped[bool] = mapped_column(Boolean)
    tags: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)
    start_logging_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stop_logging_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    latest_delivery_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    latest_delivery_attempt_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    latest_delivery_error: Mapped[str | None] = mapped_column(Text)
    latest_digest_delivery_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    delivered_sequence: Mapped[int] = mapped_column(BigInteger)
    digest_start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TrailFileRow(Base):
    """A log or digest file a trail delivered: where, the SHA-256 of its uncompressed content, its events' times;
    a log file whether a digest lists it yet, a digest file its signature (hex)."""

    __tablename__ = "cloudtrail_files"
    __table_args__ = (Index(None, "trail_id", "kind", "region", "delivered_at"),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    trail_id: Mapped[int] = mapped_column(ForeignKey("cloudtrail_trails.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    region: Mapped[str] = mapped_column(String(32))
    bucket: Mapped[str] = mapped_column(String(63))
    key: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    delivered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    oldest_event_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    newest_event_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    is_digested: Mapped[bool] = mapped_column(Boolean)
    signature: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True)
class Trail:
    name: str
    arn: str
    home_region: str
    bucket: str
    key_prefix: str | None
    is_multi_region: bool
    include_global_events: bool
    log_file_validation: bool
    is_logging: bool
    tags: list[dict[str, str]]
    creation_time: datetime
    start_logging_time: datetime | None
    stop_logging_time: datetime | None
    latest_delivery_time: datetime | None
    latest_delivery_attempt_time: datetime | None
    latest_delivery_error: str | None
    latest_digest_delivery_time: datetime | None
    delivered_sequence: int
    digest_start_time: datetime | None

    def delivers(self, region: str | None, service: str) -> bool:
        """Whether the trail delivers the events of `service` in `region`."""
        if service in GLOBAL_SERVICES:
            return self.include_global_events
        return self.is_multi_region or region == self.home_region


@dataclass(frozen=True)
class TrailFile:
    kind: str  # LOG or DIGEST
    region: str
    bucket: str
    key: str
    sha256: str  # of the uncompressed content, hex
    delivered_at: datetime
    oldest_event_time: datetime | None = None
    newest_event_time: datetime | None = None
    signature: str | None = None  # a digest file's, hex


# What the service may set (CreateTrail, UpdateTrail); the rest is delivery's.
SETTINGS = ("bucket", "key_prefix", "is_multi_region", "include_global_events", "log_file_validation")


class TrailRepository:
    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    def create(self, name: str, arn: str, home_region: str, tags: list[dict[str, str]], **settings: Any) -> Trail:
        """A new trail, not logging; `settings` are SETTINGS' members. Raise RecordExists."""
        row = TrailRow(name=name, arn=arn, home_region=home_region, tags=tags, is_logging=False,
                       creation_time=self._clock(), delivered_sequence=0, **settings)
        try:
            with self._db.write() as session:
                session.add(row)
        except IntegrityError:
            raise RecordExists(arn) from None
        return _trail(row)

    def get(self, name_or_arn: str) -> Trail | None:
        with self._db.read() as session:
            row = _find(session, name_or_arn)
            return None if row is None else _trail(row)

    def update(self, name_or_arn: str, **settings: Any) -> Trail:
        """Change SETTINGS' members; raise RecordNotFound."""
        with self._db.write() as session:
            row = _found(session, name_or_arn)
            for setting, value in settings.items():
                if setting not in SETTINGS:
                    raise ValueError(f"not a trail setting: {setting}")
                setattr(row, setting, value)
            return _trail(row)

    def delete(self, name_or_arn: str) -> None:
        """Raise RecordNotFound. The files it delivered stay in their bucket; their records go."""
        with self._db.write() as session:
            session.delete(_found(session, name_or_arn))

    def start_logging(self, name_or_arn: str, head_sequence: int) -> Trail:
        """Deliver the events after place `head_sequence` from now on (the events of a stop are never delivered);
        starting a trail that logs changes nothing. Raise RecordNotFound."""
        with self._db.write(lock=_LOCK) as session:
            row = _found(session, name_or_arn)
            if not row.is_logging:
                now = self._clock()
                row.is_logging, row.start_logging_time = True, now
                row.delivered_sequence = max(row.delivered_sequence, head_sequence)
                row.digest_start_time = row.digest_start_time or now
            return _trail(row)

    def stop_logging(self, name_or_arn: str) -> Trail:
        """Raise RecordNotFound."""
        with self._db.write(lock=_LOCK) as session:
            row = _found(session, name_or_arn)
            if row.is_logging:
                row.is_logging, row.stop_logging_time = False, self._clock()
            return _trail(row)

    def logging(self) -> list[Trail]:
        """The trails that log, by name."""
        with self._db.read() as session:
            return [_trail(row) for row in session.scalars(select(TrailRow).where(TrailRow.is_logging.is_(True))
                                                           .order_by(TrailRow.name))]

    def record_log_files(self, name: str, since_sequence: int, through_sequence: int, files: Sequence[TrailFile],
                         now: datetime) -> bool:
        """Record `files` as delivered, holding the events after `since_sequence` through `through_sequence`;
        False (and nothing recorded) if the trail is gone or another delivery moved it past `since_sequence`."""
        with self._db.write(lock=_LOCK) as session:
            row = _find(session, name)
            if row is None or row.delivered_sequence != since_sequence:
                return False
            row.delivered_sequence = through_sequence
            row.latest_delivery_attempt_time = now
            if files:
                row.latest_delivery_time, row.latest_delivery_error = now, None
            session.add_all(_file_row(row.id, file) for file in files)
            return True

    def record_delivery_error(self, name: str, error: str, now: datetime) -> None:
        with self._db.write(lock=_LOCK) as session:
            row = _find(session, name)
            if row is not None:
                row.latest_delivery_attempt_time, row.latest_delivery_error = now, error

    def undigested(self, name: str) -> list[TrailFile]:
        """The log files no digest lists yet, in the order they were delivered."""
        with self._db.read() as session:
            return [_file(row) for row in session.scalars(
                _files_of(name).where(TrailFileRow.kind == LOG, TrailFileRow.is_digested.is_(False)))]

    def files(self, name: str, kind: str) -> list[TrailFile]:
        """The trail's files of `kind` (LOG or DIGEST), in the order they were delivered."""
        with self._db.read() as session:
            return [_file(row) for row in session.scalars(_files_of(name).where(TrailFileRow.kind == kind))]

    def record_digest(self, name: str, period_start: datetime, digests: Sequence[TrailFile],
                      listed: Sequence[TrailFile], now: datetime) -> bool:
        """Record `digests` (one per region) as delivered, listing the log files `listed`, for the period from
        `period_start` to `now`; False (nothing recorded) if the trail is gone or its period moved on."""
        with self._db.write(lock=_LOCK) as session:
            row = _find(session, name)
            if row is None or row.digest_start_time != period_start:
                return False
            row.digest_start_time, row.latest_digest_delivery_time = now, now
            session.add_all(_file_row(row.id, digest) for digest in digests)
            keys = {file.key for file in listed}
            for file_row in session.scalars(select(TrailFileRow).where(TrailFileRow.trail_id == row.id,
                                                                       TrailFileRow.kind == LOG)):
                if file_row.key in keys:
                    file_row.is_digested = True
            return True


    # last: below it, `list` in annotations would name this method
    def list(self) -> list[Trail]:
        """Every trail, by name."""
        with self._db.read() as session:
            return [_trail(row) for row in session.scalars(select(TrailRow).order_by(TrailRow.name))]


def _find(session: Session, name_or_arn: str) -> TrailRow | None:
    column = TrailRow.arn if name_or_arn.startswith("arn:") else TrailRow.name
    return session.scalars(select(TrailRow).where(column == name_or_arn)).first()


def _found(session: Session, name_or_arn: str) -> TrailRow:
    row = _find(session, name_or_arn)
    if row is None:
        raise RecordNotFound(name_or_arn)
    return row


def _files_of(name: str) -> Any:
    return (select(TrailFileRow).join(TrailRow, TrailRow.id == TrailFileRow.trail_id)
            .where(TrailRow.name == name).order_by(TrailFileRow.id))


def _trail(row: TrailRow) -> Trail:
    return Trail(**{name: getattr(row, name) for name in Trail.__dataclass_fields__})


def _file(row: TrailFileRow) -> TrailFile:
    return TrailFile(**{name: getattr(row, name) for name in TrailFile.__dataclass_fields__})


def _file_row(trail_id: int, file: TrailFile) -> TrailFileRow:
    return TrailFileRow(trail_id=trail_id, is_digested=False,
                        **{name: getattr(file, name) for name in TrailFile.__dataclass_fields__})
