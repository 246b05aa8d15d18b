"""What vouches for the audit chain: the key pair its heads and CloudTrail's digest files are signed with, and the
signed heads (checkpoints).

The store keeps bytes only: the public key, the private key as the master key sealed it, signatures. Making keys
and signing is security/audit_signing.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, LargeBinary, String, select
from sqlalchemy.orm import Mapped, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.tables import Base, UtcDateTime

_KEY_LOCK = "audit signing key"


class SigningKeyRow(Base):
    """A key pair of the audit trail: its public key (DER) by fingerprint, its private key sealed."""

    __tablename__ = "audit_signing_keys"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created: Mapped[datetime] = mapped_column(UtcDateTime)


class CheckpointRow(Base):
    """The chain's head at `sequence`, its hash as it was then, signed at `signed_at` by the key `fingerprint`."""

    __tablename__ = "audit_checkpoints"

    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    chain_hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    fingerprint: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True)
class SigningKey:
    fingerprint: str
    public_key: bytes  # DER, PKCS #1
    sealed_private_key: bytes
    created: datetime


@dataclass(frozen=True)
class Checkpoint:
    sequence: int
    chain_hash: str
    signed_at: datetime
    fingerprint: str
    signature: bytes


class AuditSignatures:
    def __init__(self, db: Database) -> None:
        self._db = db

    def signing_key(self, make: Callable[[], SigningKey]) -> SigningKey:
        """The key pair, made by `make` and kept on first use (once, even with several servers at once)."""
        found = self._first_key()
        if found is not None:
            return found
        with self._db.write(lock=_KEY_LOCK) as session:
            row = session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.created).limit(1)).first()
            if row is None:
                made = make()
                row = SigningKeyRow(fingerprint=made.fingerprint, public_key=made.public_key,
                                    sealed_private_key=made.sealed_private_key, created=made.created)
                session.add(row)
            return _key(row)

    def public_keys(self) -> list[SigningKey]:
        """Every key pair, oldest first."""
        with self._db.read() as session:
            return [_key(row) for row in session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.created))]

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Keep a signed head; one already kept for the same place is left as it is."""
        with self._db.write(lock=_KEY_LOCK) as session:
            if session.get(CheckpointRow, checkpoint.sequence) is None:
                session.add(CheckpointRow(sequence=checkpoint.sequence, chain_hash=checkpoint.chain_hash,
                                          signed_at=checkpoint.signed_at, fingerprint=checkpoint.fingerprint,
                                          signature=checkpoint.signature))

    def last_checkpoint(self) -> Checkpoint | None:
        with self._db.read() as session:
            row = session.scalars(select(CheckpointRow).order_by(CheckpointRow.sequence.desc()).limit(1)).first()
            return None if row is None else _checkpoint(row)

    def checkpoints(self, first: int, last: int | None = None) -> list[Checkpoint]:
        """The checkpoints from place `first` to `last` (to the end if None), in order."""
        query = select(CheckpointRow).where(CheckpointRow.sequence >= first).order_by(CheckpointRow.sequence)
        if last is not None:
            query = query.where(CheckpointRow.sequence <= last)
        with self._db.read() as session:
            return [_checkpoint(row) for row in session.scalars(query)]

    def _first_key(self) -> SigningKey | None:
        with self._db.read() as session:
            row = session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.created).limit(1)).first()
            return None if row is None else _key(row)


def _key(row: SigningKeyRow) -> SigningKey:
    return SigningKey(row.fingerprint, row.public_key, row.sealed_private_key, row.created)


def _checkpoint(row: CheckpointRow) -> Checkpoint:
    return Checkpoint(row.sequence, row.chain_hash, row.signed_at, row.fingerprint, row.signature)
