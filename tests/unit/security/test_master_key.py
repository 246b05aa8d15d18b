"""The master key: sealing binds a value to its context, and the key comes from the operator or the data dir."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from modelbay.security.master_key import FILE_NAME, MasterKey, SealBroken, load_master_key


def test_a_sealed_value_unseals_only_with_its_key_and_context() -> None:
    key = MasterKey(os.urandom(32))
    sealed = key.seal(b"secret", b"AKIA1")
    assert b"secret" not in sealed
    assert key.unseal(sealed, b"AKIA1") == b"secret"
    with pytest.raises(SealBroken):
        key.unseal(sealed, b"AKIA2")
    with pytest.raises(SealBroken):
        MasterKey(os.urandom(32)).unseal(sealed, b"AKIA1")
    altered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SealBroken):
        key.unseal(altered, b"AKIA1")


def test_two_seals_of_one_value_differ() -> None:
    key = MasterKey(os.urandom(32))
    assert key.seal(b"v", b"c") != key.seal(b"v", b"c")


def test_without_an_operator_key_the_data_directory_gets_one_readable_by_its_user_alone(tmp_path: Path) -> None:
    first = load_master_key(None, None, tmp_path)
    sealed = first.seal(b"v", b"c")
    assert (tmp_path / FILE_NAME).stat().st_mode & 0o777 == 0o600
    assert load_master_key(None, None, tmp_path).unseal(sealed, b"c") == b"v"  # the same key on the next start


def test_an_operator_key_is_taken_from_the_environment_or_a_file(tmp_path: Path) -> None:
    raw = os.urandom(32)
    given = base64.b64encode(raw).decode()
    (tmp_path / "key").write_text(given + "\n")
    sealed = MasterKey(raw).seal(b"v", b"c")
    assert load_master_key(given, None, tmp_path / "data").unseal(sealed, b"c") == b"v"
    assert load_master_key(None, tmp_path / "key", tmp_path / "data").unseal(sealed, b"c") == b"v"
    assert not (tmp_path / "data" / FILE_NAME).exists()


def test_a_key_of_the_wrong_size_or_not_base64_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        load_master_key(base64.b64encode(b"short").decode(), None, tmp_path)
    with pytest.raises(ValueError, match="not base64"):
        load_master_key("not base64!", None, tmp_path)


def test_a_data_directory_key_others_may_read_is_refused(tmp_path: Path) -> None:
    load_master_key(None, None, tmp_path)
    (tmp_path / FILE_NAME).chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_master_key(None, None, tmp_path)
