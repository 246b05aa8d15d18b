"""The edge packaging key: derived from the master key, the same for the same key, verifiable by its public key."""

from __future__ import annotations

import os

from modelbay.security.edge_signing import EdgeSigner, is_signed
from modelbay.security.master_key import MasterKey


def test_a_signature_verifies_under_the_public_key_and_fails_for_other_bytes() -> None:
    signer = EdgeSigner(MasterKey(os.urandom(32)))
    signature = signer.sign(b'{"Files": {}}')
    assert is_signed(b'{"Files": {}}', signature, signer.public_key_pem())
    assert not is_signed(b'{"Files": {"x": "0"}}', signature, signer.public_key_pem())
    assert not is_signed(b'{"Files": {}}', "not base64!", signer.public_key_pem())


def test_the_key_is_the_master_keys_own() -> None:
    key = os.urandom(32)
    same, other = EdgeSigner(MasterKey(key)), EdgeSigner(MasterKey(os.urandom(32)))
    assert same.public_key_pem() == EdgeSigner(MasterKey(key)).public_key_pem()
    assert same.public_key_pem().startswith("-----BEGIN PUBLIC KEY-----")
    assert not is_signed(b"m", other.sign(b"m"), same.public_key_pem())
    assert "PRIVATE" not in repr(same)
