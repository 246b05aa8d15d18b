"""The account root's key file: made once, private, kept when the operator gave one."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelbay.security.root_key import AccessKey, ensure_root_key, new_access_key, read_root_key, write_root_key


def test_the_first_start_makes_a_private_key_that_later_starts_keep(tmp_path: Path) -> None:
    path = tmp_path / "root-access-key.json"
    made = ensure_root_key(path)
    assert made.access_key_id.startswith("AKIA") and len(made.access_key_id) == 20
    assert len(made.secret_access_key) == 40
    assert path.stat().st_mode & 0o777 == 0o600
    assert ensure_root_key(path) == made


def test_an_operator_key_written_before_the_first_start_is_the_root_key(tmp_path: Path) -> None:
    path = tmp_path / "root-access-key.json"
    assert write_root_key(path, AccessKey("AKIDTEST", "secret"))
    assert not write_root_key(path, AccessKey("AKIDOTHER", "other"))
    assert ensure_root_key(path) == AccessKey("AKIDTEST", "secret")


def test_a_file_that_is_not_a_key_is_refused_with_what_it_should_hold(tmp_path: Path) -> None:
    path = tmp_path / "root-access-key.json"
    path.write_text("[]")
    path.chmod(0o600)
    with pytest.raises(ValueError, match="AccessKeyId"):
        read_root_key(path)


def test_the_secret_never_shows_in_a_repr() -> None:
    key = new_access_key("ASIA")
    assert key.secret_access_key not in repr(key)
    assert key.access_key_id.startswith("ASIA")
