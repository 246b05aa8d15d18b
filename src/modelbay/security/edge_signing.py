"""The key edge packages are signed with: an Ed25519 key derived from the master key, so every server on the same
master key signs alike and nothing more is kept secret.

An edge packaging job signs the exact bytes of its package's `edge-package.json` (which lists every file's SHA-256);
the edge agent verifies that signature with the public key before it loads a model. The public key is served to
signed callers at `GET /_modelbay/v1/edge/packaging-key` (api/native.py).
"""

from __future__ import annotations

import base64

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from modelbay.security.master_key import MasterKey

# The master key's MAC under this purpose (a key derived by HKDF for it alone) of a fixed message is the seed: the
# master key itself never signs, and a MAC made for another purpose tells nothing of this key.
_PURPOSE = b"edge packaging key"
_SEED_MESSAGE = b"Ed25519 seed, version 1"


class EdgeSigner:
    """Signs edge package manifests with the packaging key of one master key."""

    def __init__(self, master_key: MasterKey) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(master_key.mac(_SEED_MESSAGE, _PURPOSE))

    def __repr__(self) -> str:
        return "EdgeSigner(…)"  # never the key

    def sign(self, manifest: bytes) -> str:
        """The base64 Ed25519 signature of `manifest` (edge-package.sig, Describe's ModelSignature)."""
        return base64.b64encode(self._key.sign(manifest)).decode()

    def public_key_pem(self) -> str:
        """The public key, as PEM (SubjectPublicKeyInfo), for agents to verify packages with."""
        return self._key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def is_signed(manifest: bytes, signature: str, public_key_pem: str) -> bool:
    """Whether `signature` (base64) is the packaging key's signature of `manifest` under `public_key_pem`."""
    key = load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    try:
        key.verify(base64.b64decode(signature, validate=True), manifest)
    except (InvalidSignature, ValueError):
        return False
    return True
