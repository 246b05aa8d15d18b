"""Virtual MFA devices: their TOTP seeds (sealed), whom each is assigned to, and the last time step accepted.

A device is created unassigned, then enabled for an owner: an IAM user, named by its unique id (AIDA…, which a
rename keeps), or the account root, named by the account id (as Principal.unique_id names them). Deactivating
unassigns it; only an unassigned device may be deleted.

A one-time code may be used once: `accept_step` records the TOTP time step of each code accepted, and accepts a
step only if it is later than the last one, in one conditional UPDATE, so two requests racing with the same code
cannot both pass. Deactivating keeps that step, so codes used before cannot be used again on re-enabling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    CursorResult,
    Index,
    Integer,
    LargeBinary,
    String,
    Update,
    delete,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.records import Clock, RecordExists, RecordNotFound, utc_now
from modelbay.store.metadata.tables import Base, BigSerial, UtcDateTime

__all__ = ["MAX_DEVICES_PER_OWNER", "DeviceAssigned", "MfaDevice", "MfaDeviceRepository", "MfaDeviceRow",
           "TooManyDevices"]

MAX_DEVICES_PER_OWNER = 8  # IAM's quota of MFA devices per user (and for the root)
Assignment = Literal["Assigned", "Unassigned", "Any"]  # ListVirtualMFADevices' AssignmentStatus


class DeviceAssigned(Exception):
    """The device is enabled for someone: it cannot be enabled again, nor deleted."""


class TooManyDevices(Exception):
    """The owner has MAX_DEVICES_PER_OWNER devices already."""


class MfaDeviceRow(Base):
    __tablename__ = "mfa_devices"
    __table_args__ = (Index(None, "owner_id"),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)  # creation order
    serial_number: Mapped[str] = mapped_column(String(256), unique=True)
    sealed_seed: Mapped[bytes] = mapped_column(LargeBinary)
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)
    owner_id: Mapped[str | None] = mapped_column(String(32))  # None: unassigned
    enable_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_step: Mapped[int | None] = mapped_column(BigInteger)  # the TOTP time step of the last code accepted
    drift_steps: Mapped[int] = mapped_column(Integer)  # the device's clock offset, in steps (ResyncMFADevice)
    tags: Mapped[list[list[str]]] = mapped_column(JSON)  # [key, value] pairs in the order given


@dataclass(frozen=True)
class MfaDevice:
    serial_number: str
    sealed_seed: bytes = field(repr=False)
    creation_time: datetime
    owner_id: str | None = None
    enable_date: datetime | None = None
    last_step: int | None = None
    drift_steps: int = 0
    tags: tuple[tuple[str, str], ...] = ()


class MfaDeviceRepository:
    """MFA devices by serial number (their ARN). Thread-safe; each method is one transaction. `clock` is the
    store's: the time one-time codes are checked at."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self.clock = clock

    def create(self, serial_number: str, sealed_seed: bytes, tags: tuple[tuple[str, str], ...] = ()) -> MfaDevice:
        """A new unassigned device; RecordExists if the serial number is taken."""
        with self._db.write(lock=f"mfa device {serial_number}") as session:
            if session.scalar(select(MfaDeviceRow.id).where(MfaDeviceRow.serial_number == serial_number)):
                raise RecordExists(serial_number)
            row = MfaDeviceRow(serial_number=serial_number, sealed_seed=sealed_seed, creation_time=self.clock(),
                               drift_steps=0, tags=[list(tag) for tag in tags])
            session.add(row)
        return _device(row)

    def get(self, serial_number: str) -> MfaDevice | None:
        with self._db.read() as session:
            row = session.scalar(select(MfaDeviceRow).where(MfaDeviceRow.serial_number == serial_number))
        return None if row is None else _device(row)

    def enable(self, serial_number: str, owner_id: str, step: int, drift_steps: int) -> bool:
        """Assign an unassigned device to `owner_id`, accepting its codes of time steps after `step` from now on;
        False if `step` is not later than a step accepted before (the codes were used already).

        Raises RecordNotFound for an unknown device, DeviceAssigned if it is assigned already, TooManyDevices if
        the owner has its quota.
        """
        with self._db.write(lock=f"mfa devices of {owner_id}") as session:  # one owner's enables in turn: the quota
            row = session.scalar(select(MfaDeviceRow).where(MfaDeviceRow.serial_number == serial_number))
            if row is None:
                raise RecordNotFound(serial_number)
            held = session.scalar(select(func.count()).where(MfaDeviceRow.owner_id == owner_id)) or 0
            if held >= MAX_DEVICES_PER_OWNER:
                raise TooManyDevices(owner_id)
            if _updated(session, update(MfaDeviceRow)  # conditional: another owner's enable may race this one
                        .where(MfaDeviceRow.id == row.id, MfaDeviceRow.owner_id.is_(None), _before(step))
                        .values(owner_id=owner_id, enable_date=self.clock(), last_step=step, drift_steps=drift_steps)):
                return True
            session.refresh(row)
            if row.owner_id is not None:
                raise DeviceAssigned(serial_number)
            return False

    def accept_step(self, serial_number: str, step: int, drift_steps: int | None = None) -> bool:
        """Record that a code of time step `step` was used, if the device is assigned and `step` is later than every
        step accepted before; return whether it was (False: a code replayed, or one older than the last).
        `drift_steps`, if given, becomes the device's clock offset (a resync)."""
        values: dict[str, int] = {"last_step": step} | ({} if drift_steps is None else {"drift_steps": drift_steps})
        with self._db.write() as session:
            return _updated(session, update(MfaDeviceRow).where(
                MfaDeviceRow.serial_number == serial_number, MfaDeviceRow.owner_id.is_not(None), _before(step))
                .values(**values))

    def deactivate(self, serial_number: str, owner_id: str) -> bool:
        """Unassign the device from `owner_id`; False if it is not assigned to that owner."""
        with self._db.write() as session:
            return _updated(session, update(MfaDeviceRow).where(
                MfaDeviceRow.serial_number == serial_number, MfaDeviceRow.owner_id == owner_id)
                .values(owner_id=None, enable_date=None, drift_steps=0))

    def delete(self, serial_number: str) -> bool:
        """Delete an unassigned device; False if there is none, DeviceAssigned if it is assigned."""
        with self._db.write() as session:
            result = cast(CursorResult[Any], session.execute(delete(MfaDeviceRow).where(  # conditional: enable races
                MfaDeviceRow.serial_number == serial_number, MfaDeviceRow.owner_id.is_(None))))
            if result.rowcount == 1:
                return True
            if session.scalar(select(MfaDeviceRow.id).where(MfaDeviceRow.serial_number == serial_number)) is None:
                return False
        raise DeviceAssigned(serial_number)

    def owned_by(self, owner_id: str) -> list[MfaDevice]:
        """The devices assigned to `owner_id` (at most MAX_DEVICES_PER_OWNER), in creation order."""
        return self._devices(MfaDeviceRow.owner_id == owner_id)

    def by_assignment(self, assignment: Assignment = "Any") -> list[MfaDevice]:
        """The account's devices, those assigned or unassigned only if asked, in creation order."""
        condition = {"Assigned": MfaDeviceRow.owner_id.is_not(None), "Unassigned": MfaDeviceRow.owner_id.is_(None),
                     "Any": true()}[assignment]
        return self._devices(condition)

    def _devices(self, condition: ColumnElement[bool]) -> list[MfaDevice]:
        with self._db.read() as session:
            return [_device(row) for row in session.scalars(select(MfaDeviceRow).where(condition)
                                                             .order_by(MfaDeviceRow.id))]


def _updated(session: Session, statement: Update) -> bool:
    """Run an UPDATE of one row; whether it matched (its conditions held)."""
    result = cast(CursorResult[Any], session.execute(statement))
    return result.rowcount == 1


def _before(step: int) -> ColumnElement[bool]:
    """The device's last accepted step is earlier than `step` (or there is none)."""
    return or_(MfaDeviceRow.last_step.is_(None), MfaDeviceRow.last_step < step)


def _device(row: MfaDeviceRow) -> MfaDevice:
    return MfaDevice(serial_number=row.serial_number, sealed_seed=row.sealed_seed, creation_time=row.creation_time,
                     owner_id=row.owner_id, enable_date=row.enable_date, last_step=row.last_step,
                     drift_steps=row.drift_steps, tags=tuple((key, value) for key, value in row.tags))
