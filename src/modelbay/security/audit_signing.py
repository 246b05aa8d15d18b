"""The audit trail's key pair and what it signs: the chain's heads (checkpoints) and CloudTrail's digest files.

One RSA 2048 key pair per database, made on first use; its private key is kept sealed with the master key, its
public key (PKCS #1 DER, as CloudTrail's ListPublicKeys gives it) in the clear. Signatures are SHA256withRSA
(PKCS #1 v1.5), CloudTrail's digest signature algorithm, so `aws cloudtrail validate-logs` could check them too.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import cached_property

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from modelbay.security.master_key import MasterKey
from modelbay.store.metadata.audit import AuditRepository
from modelbay.store.metadata.audit_signatures import AuditSignatures, Checkpoint, SigningKey

SIGNATURE_ALGORITHM = "SHA256withRSA"
_KEY_BITS = 2048


class AuditSigner:
    """Signs with the database's audit key pair (made, and its private key sealed, on first use)."""

    def __init__(self, signatures: AuditSignatures, master_key: MasterKey) -> None:
        self._signatures = signatures
        self._master_key = master_key

    @cached_property
    def key(self) -> SigningKey:
        return self._signatures.signing_key(lambda: _make_key(self._master_key))

    @cached_property
    def _private_key(self) -> rsa.RSAPrivateKey:
        der = self._master_key.unseal(self.key.sealed_private_key, _seal_context(self.key.fingerprint))
        private_key = serialization.load_der_private_key(der, password=None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError("the audit signing key is not an RSA key")
        return private_key

    def sign(self, data: bytes) -> bytes:
        return self._private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def checkpoint(self, audit: AuditRepository, now: datetime) -> Checkpoint | None:
        """Sign the chain's head unless it is signed already; the new checkpoint, else None."""
        head = audit.head()
        last = audit.signatures.last_checkpoint()
        if head is None or (last is not None and last.sequence >= head[0]):
            return None
        sequence, chain_hash = head
        checkpoint = Checkpoint(sequence, chain_hash, now, self.key.fingerprint,
                                self.sign(checkpoint_statement(sequence, chain_hash, now)))
        audit.signatures.add_checkpoint(checkpoint)
        return checkpoint


def checkpoint_statement(sequence: int, chain_hash: str, signed_at: datetime) -> bytes:
    """What a checkpoint's signature covers: the place, its hash, and when it was signed."""
    return f"modelbay-audit-checkpoint\n{sequence}\n{chain_hash}\n{signed_at.astimezone(UTC).isoformat()}".encode()


def is_signed(public_key: bytes, data: bytes, signature: bytes) -> bool:
    """Whether `signature` is the SHA256withRSA signature of `data` by the key whose PKCS #1 DER is `public_key`."""
    key = serialization.load_der_public_key(public_key)
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def fingerprint(public_key: bytes) -> str:
    """A public key's fingerprint (hex), as digest files name the key that signed them."""
    return hashlib.sha256(public_key).hexdigest()[:32]


def _make_key(master_key: MasterKey) -> SigningKey:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)
    public_der = private_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    private_der = private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption())
    found = fingerprint(public_der)
    return SigningKey(found, public_der, master_key.seal(private_der, _seal_context(found)), datetime.now(UTC))


def _seal_context(key_fingerprint: str) -> bytes:
    return f"modelbay audit signing key {key_fingerprint}".encode()
