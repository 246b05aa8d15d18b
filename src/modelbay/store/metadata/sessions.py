"""STS sessions: the temporary credentials AssumeRole and GetSessionToken give out, found by their access key id.

A session keeps what the authenticator needs to turn its key back into a principal (services/sts.py makes them,
security/authentication.py reads them): its secret sealed by the master key, the SHA-256 of its session token
(the token itself is never stored), when it expires, and who it stands for. Sessions expired over PURGE_AFTER ago
are deleted as new ones are added, so nothing else needs to prune them; the authenticator refuses an expired one
itself (ExpiredToken), which is why they are kept a while after expiring rather than purged at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import JSON, Boolean, Index, LargeBinary, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.records import Clock, utc_now
from modelbay.store.metadata.tables import Base, UtcDateTime

__all__ = ["PURGE_AFTER", "SessionRecord", "SessionRepository", "SessionRow"]

PURGE_AFTER = timedelta(days=1)


class SessionRow(Base):
    __tablename__ = "sts_sessions"
    __table_args__ = (Index(None, "expires_at"),)

    access_key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    token_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(512))
    unique_id: Mapped[str | None] = mapped_column(String(32))
    session_name: Mapped[str | None] = mapped_column(String(64))
    mfa_authenticated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    tags: Mapped[dict[str, str]] = mapped_column(JSON)
    transitive_tag_keys: Mapped[list[str]] = mapped_column(JSON)
    session_policy: Mapped[str | None] = mapped_column(Text)
    policy_arns: Mapped[list[str]] = mapped_column(JSON)
    source_identity: Mapped[str | None] = mapped_column(String(256))
    chained: Mapped[bool] = mapped_column(Boolean)


@dataclass(frozen=True)
class SessionRecord:
    """One session's credentials and whom they stand for.

    `kind` is a principal kind (security/principal.py: IAMUser, AssumedRole or Root); `name` and `path` the user's or
    the role's (None and "/" for root), `unique_id` its AIDA…/AROA… id; `session_name` an assumed role's
    RoleSessionName. `mfa_authenticated_at` is when an MFA code was checked for it (aws:MultiFactorAuthAge), None
    without MFA. `tags` are the session's tags (aws:PrincipalTag/…), of which `transitive_tag_keys` pass on to a
    role the session assumes; `session_policy` and `policy_arns` narrow what the role allows; `chained` tells a role
    session made by another role session.
    """

    access_key_id: str
    sealed_secret: bytes = field(repr=False)
    token_sha256: str = field(repr=False)
    expires_at: datetime
    kind: str
    name: str | None = None
    path: str = "/"
    unique_id: str | None = None
    session_name: str | None = None
    mfa_authenticated_at: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict)
    transitive_tag_keys: tuple[str, ...] = ()
    session_policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    source_identity: str | None = None
    chained: bool = False


class SessionRepository:
    """Sessions by access key id. Thread-safe; each method is one transaction. `clock` is the store's."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self.clock = clock

    def add(self, record: SessionRecord) -> None:
        """Store a new session (its access key id must be new) and delete those expired over PURGE_AFTER ago."""
        now = self.clock()
        with self._db.write() as session:
            session.add(_row(record, now))
            session.execute(delete(SessionRow).where(SessionRow.expires_at < now - PURGE_AFTER))

    def find(self, access_key_id: str) -> SessionRecord | None:
        """The session of this key, expired or not (one primary-key lookup: the authenticator calls it)."""
        with self._db.read() as session:
            row = session.scalar(select(SessionRow).where(SessionRow.access_key_id == access_key_id))
        return None if row is None else _record(row)


def _row(record: SessionRecord, now: datetime) -> SessionRow:
    return SessionRow(
        access_key_id=record.access_key_id, sealed_secret=record.sealed_secret, token_sha256=record.token_sha256,
        created_at=now, expires_at=record.expires_at, kind=record.kind, name=record.name, path=record.path,
        unique_id=record.unique_id, session_name=record.session_name,
        mfa_authenticated_at=record.mfa_authenticated_at, tags=dict(record.tags),
        transitive_tag_keys=list(record.transitive_tag_keys), session_policy=record.session_policy,
        policy_arns=list(record.policy_arns), source_identity=record.source_identity, chained=record.chained)


def _record(row: SessionRow) -> SessionRecord:
    return SessionRecord(
        access_key_id=row.access_key_id, sealed_secret=row.sealed_secret, token_sha256=row.token_sha256,
        expires_at=row.expires_at, kind=row.kind, name=row.name, path=row.path, unique_id=row.unique_id,
        session_name=row.session_name, mfa_authenticated_at=row.mfa_authenticated_at, tags=dict(row.tags),
        transitive_tag_keys=tuple(row.transitive_tag_keys), session_policy=row.session_policy,
        policy_arns=tuple(row.policy_arns), source_identity=row.source_identity, chained=row.chained)
