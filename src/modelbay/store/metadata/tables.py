"""The metadata store's declarative base, the columns every resource table shares, and the tables no family owns.

A family's own table (TrainingJobRow, EndpointRow, ...) lives in its module beside its repository;
the store imports every such module, so Base.metadata knows all tables. Every change to a table
here or there comes with a migration in migrations/versions/ (a test compares the two).
Constraint names follow NAMING_CONVENTION so migrations can refer to them on every backend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Dialect, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigSerial = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored as UTC; naive values are refused (they are bugs)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given where a timezone-aware one is needed")
        value = value.astimezone(UTC)
        # SQLite keeps text: naive UTC everywhere keeps comparisons between stored values right.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ResourceRow(Base):
    """The columns of every named SageMaker resource's table (abstract: each kind has its own table): `id` in
    creation order, a unique `name` and `arn`, and `creation_time`, indexed for List* operations."""

    __abstract__ = True

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (Index(None, "creation_time"),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    arn: Mapped[str] = mapped_column(String(256), unique=True)
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)


class StatusRow(ResourceRow):
    """A resource with a status that changes (abstract): the status, why it failed, and when it last changed."""

    __abstract__ = True

    status: Mapped[str] = mapped_column(String(32))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    last_modified_time: Mapped[datetime] = mapped_column(UtcDateTime)


class TagRow(Base):
    """One tag of one resource; `position` keeps the order in which keys were first added."""

    __tablename__ = "tags"
    __table_args__ = (Index(None, "resource_arn", "position", unique=True),)

    resource_arn: Mapped[str] = mapped_column(String(256), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    position: Mapped[int] = mapped_column(Integer)


class AuditEventRow(Base):
    """One API call as the audit trail saw it (see AuditEvent for the meaning of each column)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index(None, "event_time"), Index(None, "principal", "event_time"), Index(None, "event_id"),
                      Index(None, "sequence", unique=True))

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    event_time: Mapped[datetime] = mapped_column(UtcDateTime)
    request_id: Mapped[str] = mapped_column(Text)
    principal: Mapped[str] = mapped_column(Text)
    service: Mapped[str] = mapped_column(Text)
    operation: Mapped[str] = mapped_column(Text)
    resources: Mapped[list[str]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int] = mapped_column(Integer)
    source_ip: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    region: Mapped[str | None] = mapped_column(Text)
    # CloudTrail's fields of the record (None in the rows recorded before revision 0028)
    event_id: Mapped[str | None] = mapped_column(String(64))
    event_source: Mapped[str | None] = mapped_column(Text)
    user_identity: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    username: Mapped[str | None] = mapped_column(Text)
    access_key_id: Mapped[str | None] = mapped_column(String(128))
    account_id: Mapped[str | None] = mapped_column(String(32))
    user_agent: Mapped[str | None] = mapped_column(Text)
    read_only: Mapped[bool | None] = mapped_column(Boolean)
    request_parameters: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    response_elements: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    resource_types: Mapped[list[str] | None] = mapped_column(JSON)
    # The chain: the row's place in the one total order of events (1, 2, ...), and the SHA-256 over its record, its
    # place and the previous row's chain_hash (store/metadata/audit.py: chain_hash)
    sequence: Mapped[int | None] = mapped_column(BigInteger)
    chain_hash: Mapped[str | None] = mapped_column(String(64))

