"""A key ring for object-store tests: data keys wrapped with AES-GCM under a master key per KMS key (a stand-in for
security/kms_keys.KeyRing, which needs a metadata store)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ARN = "arn:aws:kms:us-east-1:000000000000:key/"


class KeyDisabled(Exception):
    """What the fake key ring raises for a disabled key (the real one raises KMS's DisabledException)."""


@dataclass(frozen=True)
class FakeDataKey:
    plaintext: bytes
    ciphertext_blob: bytes
    key_arn: str


class FakeKeyRing:
    """Data keys wrapped with AES-GCM under a master key per KMS key, bound to their encryption context."""

    def __init__(self) -> None:
        self._masters = {"k1": AESGCM.generate_key(256), "k2": AESGCM.generate_key(256),
                         "aws-s3": AESGCM.generate_key(256)}
        self.disabled: set[str] = set()
        self.decrypted = 0

    def generate_data_key(self, key_id: str, context: Mapping[str, str] | None = None) -> FakeDataKey:
        name = "aws-s3" if key_id == "alias/aws/s3" else key_id.removeprefix(ARN)
        plaintext, nonce = os.urandom(32), os.urandom(12)
        blob = name.encode() + b"|" + nonce + self._aead(name).encrypt(nonce, plaintext, _aad(context))
        return FakeDataKey(plaintext, blob, ARN + name)

    def decrypt_data_key(self, ciphertext_blob: bytes, context: Mapping[str, str] | None = None) -> FakeDataKey:
        name, _, rest = ciphertext_blob.partition(b"|")
        self.decrypted += 1
        plaintext = self._aead(name.decode()).decrypt(rest[:12], rest[12:], _aad(context))
        return FakeDataKey(plaintext, ciphertext_blob, ARN + name.decode())

    def _aead(self, name: str) -> AESGCM:
        if name in self.disabled:
            raise KeyDisabled(f"{ARN}{name} is disabled.")
        return AESGCM(self._masters[name])


def _aad(context: Mapping[str, str] | None) -> bytes:
    return json.dumps(dict(context or {}), sort_keys=True).encode()
