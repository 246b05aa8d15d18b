"""The telemetry SageMaker Edge Manager's devices send over MQTT (heartbeat, metrics, samples).

Telemetry is each MQTT message once: (fleet, device, seq) identifies it, so a message the broker delivers again is
ignored. The server's subscriber stores what arrived together in one transaction (append_many): the messages stored
already are found by one query for the whole batch, the others inserted by one statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ColumnElement, String, UniqueConstraint, and_, insert, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.engine import serialize
from modelbay.store.metadata.records import Clock, utc_now
from modelbay.store.metadata.tables import Base, BigSerial, UtcDateTime


class TelemetryRow(Base):
    """One MQTT message of a device: its per-device sequence number, kind (heartbeat, metrics, samples), the time
    the agent gave it and its body."""

    __tablename__ = "edge_telemetry"
    __table_args__ = (UniqueConstraint("fleet", "device", "seq"),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    fleet: Mapped[str] = mapped_column(String(63))
    device: Mapped[str] = mapped_column(String(63))
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))
    time: Mapped[datetime] = mapped_column(UtcDateTime)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_time: Mapped[datetime] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class Telemetry:
    """A message to store: whose it is, its seq, kind and time, and its body."""

    fleet: str
    device: str
    seq: int
    kind: str
    time: datetime
    body: Mapping[str, Any]


@dataclass(frozen=True)
class TelemetryRecord:
    seq: int
    kind: str
    time: datetime
    body: dict[str, Any]


class TelemetryRepository:
    """The messages devices sent, once each, by (fleet, device, seq)."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    def append(self, fleet: str, device: str, seq: int, kind: str, time: datetime, body: Mapping[str, Any]) -> bool:
        """Store the message; False (storing nothing) if the device's message `seq` is stored already."""
        return self.append_many([Telemetry(fleet, device, seq, kind, time, body)])[0]

    def append_many(self, messages: Sequence[Telemetry]) -> list[bool]:
        """Store the messages in one transaction; for each, whether it was stored now (False: its (fleet, device,
        seq) was stored already, or comes earlier in `messages`). The devices' locks, taken in order, keep another
        writer from storing the same seqs between the query for them and the insert."""
        if not messages:
            return []
        devices = sorted({(message.fleet, message.device) for message in messages})
        with self._db.write() as session:
            for fleet, device in devices:
                serialize(session.connection(), f"edge_telemetry {fleet} {device}")
            seen = _stored(session, messages)
            fresh = []
            for message in messages:
                key = (message.fleet, message.device, message.seq)
                fresh.append(key not in seen)
                seen.add(key)
            received = self._clock()
            rows = [{"fleet": message.fleet, "device": message.device, "seq": message.seq, "kind": message.kind,
                     "time": message.time, "body": dict(message.body), "received_time": received}
                    for message, new in zip(messages, fresh, strict=True) if new]
            if rows:
                session.execute(insert(TelemetryRow), rows)
        return fresh

    def list(self, fleet: str, device: str) -> list[TelemetryRecord]:
        """The device's messages in seq order."""
        with self._db.read() as session:
            rows = session.scalars(select(TelemetryRow).where(
                TelemetryRow.fleet == fleet, TelemetryRow.device == device).order_by(TelemetryRow.seq))
            return [TelemetryRecord(row.seq, row.kind, row.time, row.body) for row in rows]


def _stored(session: Session, messages: Sequence[Telemetry]) -> set[tuple[str, str, int]]:
    """The (fleet, device, seq) of those messages stored already: one query, by the unique key's index."""
    seqs: dict[tuple[str, str], set[int]] = {}
    for message in messages:
        seqs.setdefault((message.fleet, message.device), set()).add(message.seq)
    conditions: list[ColumnElement[bool]] = [
        and_(TelemetryRow.fleet == fleet, TelemetryRow.device == device, TelemetryRow.seq.in_(sorted(numbers)))
        for (fleet, device), numbers in seqs.items()]
    found = session.execute(select(TelemetryRow.fleet, TelemetryRow.device, TelemetryRow.seq).where(or_(*conditions)))
    return {(fleet, device, seq) for fleet, device, seq in found}
