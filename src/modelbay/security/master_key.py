"""The master key: what every secret modelbay keeps at rest is sealed under (KMS keys' material, IAM secret keys).

The operator provides it, as 32 random bytes in base64, in MODELBAY_MASTER_KEY or in the file that
MODELBAY_MASTER_KEY_FILE names; without either, the server makes one on first start in `master.key` in its data
directory (mode 0600), which suits one machine: whoever can read that file can read every secret, so keep the
data directory's backups as safe as the key, or give the key from elsewhere.

Sealing is AES-256-GCM (`cryptography`) with a fresh 96-bit nonce per seal and the caller's `context` as
associated data, so a sealed value moved to another record (another key id, another user) fails to unseal.
A sealed value is `version (1 byte) | nonce (12) | ciphertext and tag`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from modelbay.security.private_files import create_private, read_private

KEY_BYTES = 32
_VERSION = b"\x01"
_NONCE_BYTES = 12
FILE_NAME = "master.key"


class SealBroken(ValueError):
    """A sealed value that does not unseal: another master key's, another context's, or altered."""


class MasterKey:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the master key must be {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        self._key = key  # for the keys `mac` derives

    def __repr__(self) -> str:
        return "MasterKey(…)"  # never the key

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context)

    def mac(self, message: bytes, purpose: bytes) -> bytes:
        """HMAC-SHA256 of `message` under a key derived (HKDF) from the master key for `purpose` alone: a MAC made
        for one purpose proves nothing for another, and the master key itself never signs."""
        derived = HKDF(hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"modelbay mac: " + purpose).derive(self._key)
        return hmac.digest(derived, message, "sha256")

    def unseal(self, sealed: bytes, context: bytes) -> bytes:
        if sealed[:1] != _VERSION or len(sealed) < 1 + _NONCE_BYTES + 16:
            raise SealBroken("not a value sealed by a modelbay master key")
        try:
            return self._aead.decrypt(sealed[1:1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES:], context)
        except InvalidTag:
            raise SealBroken("the value was sealed under another master key or context, or altered") from None


def load_master_key(given: str | None, key_file: Path | None, data_dir: Path) -> MasterKey:
    """The operator's key (`given`, base64, else `key_file`), else the data directory's own, made on first use."""
    if given:
        return MasterKey(_decode(given, "MODELBAY_MASTER_KEY"))
    if key_file is not None:
        return MasterKey(_decode(key_file.read_text(), str(key_file)))
    own = data_dir / FILE_NAME
    create_private(own, base64.b64encode(os.urandom(KEY_BYTES)).decode() + "\n")
    return MasterKey(_decode(read_private(own), str(own)))


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raise ValueError(f"the master key in {where} is not base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"the master key in {where} must be {KEY_BYTES} bytes in base64, not {len(key)} bytes")
    return key
