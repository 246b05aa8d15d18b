"""KMS as the database keeps it: keys, the versions of each key's material, aliases and grants.

Key material reaches the store only sealed (security/kms_keys.py seals it under the master key, with the key id and
the version as its context): a write that adds material takes a `seal` function and calls it with the version the
transaction gives, so the version and its sealed material are written together. A key's tags are the shared tags
table's, by key ARN. State changes are read-check-write transactions (`move`) serialised per key.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import JSON, Index, Integer, LargeBinary, Select, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.paging import Page, decode_token, encode_token
from modelbay.store.metadata.records import Clock, RecordExists, RecordNotFound, StatusConflict, delete_tags, utc_now
from modelbay.store.metadata.tables import Base, BigSerial, UtcDateTime

ENABLED, DISABLED, PENDING_DELETION = "Enabled", "Disabled", "PendingDeletion"
CUSTOMER, AWS = "CUSTOMER", "AWS"  # KeyManager: who manages the key
AUTOMATIC, ON_DEMAND = "AUTOMATIC", "ON_DEMAND"  # RotationType: what made a version after the first

Seal = Callable[[int], bytes]  # the key's new material sealed for the version given
R = TypeVar("R")


class KeyNotFound(RecordNotFound):
    """No KMS key has this id."""


class AliasNotFound(RecordNotFound):
    """No alias has this name."""


class KmsKeyRow(Base):
    __tablename__ = "kms_keys"
    __table_args__ = (Index(None, "state", "deletion_date"),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    arn: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str] = mapped_column(Text)
    policy: Mapped[str] = mapped_column(Text)
    key_manager: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(32))
    creation_date: Mapped[datetime] = mapped_column(UtcDateTime)
    deletion_date: Mapped[datetime | None] = mapped_column(UtcDateTime)
    pending_window_days: Mapped[int | None] = mapped_column(Integer)
    rotation_period_days: Mapped[int | None] = mapped_column(Integer)  # None: automatic rotation is off
    next_rotation: Mapped[datetime | None] = mapped_column(UtcDateTime)
    material_version: Mapped[int] = mapped_column(Integer)  # the current version: what encrypts


class KmsKeyMaterialRow(Base):
    """One version of a key's material, sealed; every version is kept, so older ciphertexts still decrypt."""

    __tablename__ = "kms_key_materials"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    rotation_date: Mapped[datetime] = mapped_column(UtcDateTime)
    rotation_type: Mapped[str | None] = mapped_column(String(16))  # None for the key's first material


class KmsAliasRow(Base):
    __tablename__ = "kms_aliases"
    __table_args__ = (Index(None, "key_id"),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    key_id: Mapped[str] = mapped_column(String(64))
    creation_date: Mapped[datetime] = mapped_column(UtcDateTime)
    last_updated: Mapped[datetime] = mapped_column(UtcDateTime)


class KmsGrantRow(Base):
    __tablename__ = "kms_grants"
    __table_args__ = (Index(None, "key_id"),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    grant_id: Mapped[str] = mapped_column(String(64), unique=True)
    token: Mapped[str] = mapped_column(String(128), unique=True)
    key_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(256))
    grantee: Mapped[str] = mapped_column(String(256))
    retiring: Mapped[str | None] = mapped_column(String(256))
    operations: Mapped[list[str]] = mapped_column(JSON)
    constraints: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    issuing_account: Mapped[str] = mapped_column(String(32))
    creation_date: Mapped[datetime] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class KmsKey:
    key_id: str
    arn: str
    description: str
    policy: str
    key_manager: str
    state: str
    creation_date: datetime
    deletion_date: datetime | None
    pending_window_days: int | None
    rotation_period_days: int | None
    next_rotation: datetime | None
    material_version: int


@dataclass(frozen=True)
class KeyMaterial:
    key_id: str
    version: int
    sealed: bytes
    rotation_date: datetime
    rotation_type: str | None


@dataclass(frozen=True)
class Alias:
    name: str
    key_id: str
    creation_date: datetime
    last_updated: datetime


@dataclass(frozen=True)
class Grant:
    grant_id: str
    token: str
    key_id: str
    name: str | None
    grantee: str
    retiring: str | None
    operations: list[str]
    constraints: dict[str, Any] | None
    issuing_account: str
    creation_date: datetime


@dataclass(frozen=True)
class NewKey:
    """What creating a key records besides its first material."""

    key_id: str
    arn: str
    description: str
    policy: str
    key_manager: str = CUSTOMER
    rotation_period_days: int | None = None  # automatic rotation from the start (AWS managed keys)


class KmsRepository:
    """Keys by id, their material versions, aliases by name and grants. Thread-safe; each method is one transaction;
    times come from `clock`, which the key ring reads too."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self.db = db
        self.clock = clock

    def create_key(self, new: NewKey, seal: Seal, alias: str | None = None) -> KmsKey:
        """The key, Enabled, with material version 1, and `alias` naming it if given (RecordExists if it is taken:
        then nothing is written)."""
        now = self.clock()
        with self.db.write(lock=None if alias is None else _alias_lock(alias)) as session:
            if alias is not None and _alias_row(session, alias) is not None:
                raise RecordExists(alias)
            period = new.rotation_period_days
            row = KmsKeyRow(key_id=new.key_id, arn=new.arn, description=new.description, policy=new.policy,
                            key_manager=new.key_manager, state=ENABLED, creation_date=now,
                            rotation_period_days=period,
                            next_rotation=None if period is None else now + timedelta(days=period),
                            material_version=1)
            session.add(row)
            session.add(KmsKeyMaterialRow(key_id=new.key_id, version=1, sealed=seal(1), rotation_date=now))
            if alias is not None:
                session.add(KmsAliasRow(name=alias, key_id=new.key_id, creation_date=now, last_updated=now))
            session.flush()
            return _key(row)

    def get_key(self, key_id: str) -> KmsKey | None:
        with self.db.read() as session:
            row = _key_row(session, key_id)
            return None if row is None else _key(row)

    def keys(self, after_token: str | None = None, limit: int = 100) -> Page[KmsKey]:
        """A page of keys in creation order. Raises InvalidToken for a token no page gave."""
        return self._page(select(KmsKeyRow), KmsKeyRow.id, "kms keys", after_token, limit, _key)

    def move(self, key_id: str, state: str, allowed_from: Collection[str], *, deletion_date: datetime | None = None,
             pending_window_days: int | None = None) -> KmsKey:
        """Put the key in `state` (with the deletion date and window of PendingDeletion, cleared otherwise) if its
        state is one of `allowed_from`; raise StatusConflict with its state if not, KeyNotFound if it is gone."""
        with self.db.write(lock=_key_lock(key_id)) as session:
            row = _existing_key(session, key_id)
            if row.state not in allowed_from:
                raise StatusConflict(key_id, row.state)
            row.state, row.deletion_date, row.pending_window_days = state, deletion_date, pending_window_days
            return _key(row)

    def set_description(self, key_id: str, description: str) -> KmsKey:
        return self._update(key_id, description=description)

    def set_policy(self, key_id: str, policy: str) -> KmsKey:
        return self._update(key_id, policy=policy)

    def set_rotation(self, key_id: str, period_days: int | None) -> KmsKey:
        """Turn automatic rotation on, every `period_days` from now, or off (None)."""
        next_rotation = None if period_days is None else self.clock() + timedelta(days=period_days)
        return self._update(key_id, rotation_period_days=period_days, next_rotation=next_rotation)

    def rotate_on_demand(self, key_id: str, seal: Seal) -> KeyMaterial:
        """A new current version of the key's material; the automatic schedule is unchanged."""
        with self.db.write(lock=_key_lock(key_id)) as session:
            return _add_material(session, _existing_key(session, key_id), seal, ON_DEMAND, self.clock())

    def rotate_if_due(self, key_id: str, seal: Seal) -> bool:
        """Rotate the key automatically if its next rotation has come (checked in the transaction, so concurrent
        callers rotate it once), the next one a period from now; answer whether it rotated."""
        now = self.clock()
        with self.db.write(lock=_key_lock(key_id)) as session:
            row = _existing_key(session, key_id)
            if row.next_rotation is None or row.rotation_period_days is None or row.next_rotation > now:
                return False
            _add_material(session, row, seal, AUTOMATIC, now)
            row.next_rotation = now + timedelta(days=row.rotation_period_days)
            return True

    def material(self, key_id: str, version: int) -> KeyMaterial | None:
        with self.db.read() as session:
            row = session.get(KmsKeyMaterialRow, (key_id, version))
            return None if row is None else _material(row)

    def materials(self, key_id: str, after_token: str | None = None, limit: int = 100,
                  from_version: int = 1) -> Page[KeyMaterial]:
        """A page of the key's material versions from `from_version` on (2: its rotations), oldest first."""
        query = select(KmsKeyMaterialRow).where(KmsKeyMaterialRow.key_id == key_id,
                                                KmsKeyMaterialRow.version >= from_version)
        scope = f"kms materials {key_id} {from_version}"
        return self._page(query, KmsKeyMaterialRow.version, scope, after_token, limit, _material)

    def delete_due(self) -> list[str]:
        """Delete the keys whose deletion date has come, with their material, aliases, grants and tags; answer
        their ids."""
        now = self.clock()
        with self.db.write() as session:
            due = list(session.scalars(select(KmsKeyRow).where(KmsKeyRow.state == PENDING_DELETION,
                                                               KmsKeyRow.deletion_date <= now)))
            for row in due:
                for table in (KmsKeyMaterialRow, KmsAliasRow, KmsGrantRow):
                    session.execute(delete(table).where(table.key_id == row.key_id))
                delete_tags(session, row.arn)
                session.delete(row)
            return [row.key_id for row in due]

    def create_alias(self, name: str, key_id: str) -> Alias:
        """Raises RecordExists if the name is taken."""
        now = self.clock()
        with self.db.write(lock=_alias_lock(name)) as session:
            if _alias_row(session, name) is not None:
                raise RecordExists(name)
            row = KmsAliasRow(name=name, key_id=key_id, creation_date=now, last_updated=now)
            session.add(row)
            return _alias(row)

    def retarget_alias(self, name: str, key_id: str) -> Alias:
        """Point the alias at another key; AliasNotFound if there is no such alias."""
        with self.db.write(lock=_alias_lock(name)) as session:
            row = _alias_row(session, name)
            if row is None:
                raise AliasNotFound(name)
            row.key_id, row.last_updated = key_id, self.clock()
            return _alias(row)

    def delete_alias(self, name: str) -> None:
        """AliasNotFound if there is no such alias."""
        with self.db.write(lock=_alias_lock(name)) as session:
            row = _alias_row(session, name)
            if row is None:
                raise AliasNotFound(name)
            session.delete(row)

    def alias(self, name: str) -> Alias | None:
        with self.db.read() as session:
            row = _alias_row(session, name)
            return None if row is None else _alias(row)

    def aliases(self, key_id: str | None = None, after_token: str | None = None, limit: int = 100) -> Page[Alias]:
        """A page of the aliases (of one key, if given) in creation order."""
        query = select(KmsAliasRow)
        if key_id is not None:
            query = query.where(KmsAliasRow.key_id == key_id)
        return self._page(query, KmsAliasRow.id, f"kms aliases {key_id}", after_token, limit, _alias)

    def create_grant(self, key_id: str, grantee: str, operations: Sequence[str], *, name: str | None = None,
                     retiring: str | None = None, constraints: Mapping[str, Any] | None = None,
                     issuing_account: str) -> Grant:
        """A grant with a new id and token."""
        row = KmsGrantRow(grant_id=secrets.token_hex(32), token=secrets.token_urlsafe(64), key_id=key_id, name=name,
                          grantee=grantee, retiring=retiring, operations=list(operations),
                          constraints=None if constraints is None else dict(constraints),
                          issuing_account=issuing_account, creation_date=self.clock())
        with self.db.write() as session:
            session.add(row)
            return _grant(row)

    def grants(self, key_id: str, *, grant_id: str | None = None, grantee: str | None = None,
               after_token: str | None = None, limit: int = 50) -> Page[Grant]:
        """A page of the key's grants in creation order, narrowed to one grant id or grantee if given."""
        query = select(KmsGrantRow).where(KmsGrantRow.key_id == key_id)
        if grant_id is not None:
            query = query.where(KmsGrantRow.grant_id == grant_id)
        if grantee is not None:
            query = query.where(KmsGrantRow.grantee == grantee)
        return self._page(query, KmsGrantRow.id, f"kms grants {key_id}", after_token, limit, _grant)

    def grant_by_token(self, token: str) -> Grant | None:
        with self.db.read() as session:
            row = session.scalar(select(KmsGrantRow).where(KmsGrantRow.token == token))
            return None if row is None else _grant(row)

    def delete_grant(self, key_id: str, grant_id: str) -> bool:
        """Delete the key's grant; answer whether there was one."""
        with self.db.write() as session:
            deleted = session.execute(delete(KmsGrantRow).where(KmsGrantRow.key_id == key_id,
                                                                KmsGrantRow.grant_id == grant_id))
            return bool(deleted.rowcount)  # type: ignore[attr-defined]  # a CursorResult's

    def _update(self, key_id: str, **values: Any) -> KmsKey:
        with self.db.write(lock=_key_lock(key_id)) as session:
            row = _existing_key(session, key_id)
            for column, value in values.items():
                setattr(row, column, value)
            return _key(row)

    def _page(self, query: Select[Any], position: Any, scope: str, after_token: str | None, limit: int,
              record: Callable[[Any], R]) -> Page[R]:
        """A page of `query`'s rows ordered by the integer column `position`, with KMS's Marker as the token."""
        after = 0 if after_token is None else decode_token(scope, after_token)
        with self.db.read() as session:
            rows = list(session.scalars(query.where(position > after).order_by(position).limit(limit + 1)))
        page = rows[:limit]
        next_token = encode_token(scope, getattr(page[-1], position.key)) if len(rows) > limit else None
        return Page([record(row) for row in page], next_token)


def _key_lock(key_id: str) -> str:
    return f"kms key {key_id}"


def _alias_lock(name: str) -> str:
    return f"kms alias {name}"


def _key_row(session: Session, key_id: str) -> KmsKeyRow | None:
    return session.scalar(select(KmsKeyRow).where(KmsKeyRow.key_id == key_id))


def _existing_key(session: Session, key_id: str) -> KmsKeyRow:
    row = _key_row(session, key_id)
    if row is None:
        raise KeyNotFound(key_id)
    return row


def _alias_row(session: Session, name: str) -> KmsAliasRow | None:
    return session.scalar(select(KmsAliasRow).where(KmsAliasRow.name == name))


def _add_material(session: Session, row: KmsKeyRow, seal: Seal, rotation_type: str, now: datetime) -> KeyMaterial:
    version = row.material_version + 1
    material = KmsKeyMaterialRow(key_id=row.key_id, version=version, sealed=seal(version), rotation_date=now,
                                 rotation_type=rotation_type)
    session.add(material)
    row.material_version = version
    return _material(material)


def _key(row: KmsKeyRow) -> KmsKey:
    return KmsKey(row.key_id, row.arn, row.description, row.policy, row.key_manager, row.state, row.creation_date,
                  row.deletion_date, row.pending_window_days, row.rotation_period_days, row.next_rotation,
                  row.material_version)


def _material(row: KmsKeyMaterialRow) -> KeyMaterial:
    return KeyMaterial(row.key_id, row.version, row.sealed, row.rotation_date, row.rotation_type)


def _alias(row: KmsAliasRow) -> Alias:
    return Alias(row.name, row.key_id, row.creation_date, row.last_updated)


def _grant(row: KmsGrantRow) -> Grant:
    return Grant(row.grant_id, row.token, row.key_id, row.name, row.grantee, row.retiring, list(row.operations),
                 row.constraints, row.issuing_account, row.creation_date)
