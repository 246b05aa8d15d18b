from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from modelbay.edge.packages import PackageRefused, extract, pinned_key
from tests.unit.edge.packaging import MODEL_FILE, package, public_pem

KEY = Ed25519PrivateKey.generate()


def _archive(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "package.tar.gz"
    path.write_bytes(data)
    return path


def test_a_signed_package_is_extracted_under_its_version(tmp_path: Path) -> None:
    found = extract(_archive(tmp_path, package(KEY, version="2", model={"scale": 3})), tmp_path / "models",
                    KEY.public_key())
    assert (found.model_name, found.model_version, found.path) == ("forest", "2", tmp_path / "models" / "2")
    assert json.loads((found.path / MODEL_FILE).read_text()) == {"scale": 3}


@pytest.mark.parametrize(("made", "reason"), [
    (package(Ed25519PrivateKey.generate()), "does not verify"),  # signed by another key
    (package(KEY, actual={MODEL_FILE: b'{"scale": 666}'}), "does not have the hash"),  # a file changed
    (package(KEY, actual={MODEL_FILE: b"{}", "extra.so": b"x"}), "does not list: extra.so"),
    (package(KEY, actual={}), "lacks model.json"),
    (package(KEY, version="../up"), "valid ModelVersion"),
    (b"not a tar", "not a readable .tar.gz"),
])
def test_a_package_that_is_not_what_was_signed_is_refused_and_nothing_is_left(
        tmp_path: Path, made: bytes, reason: str) -> None:
    with pytest.raises(PackageRefused, match=reason):
        extract(_archive(tmp_path, made), tmp_path / "models", KEY.public_key())
    assert list((tmp_path / "models").iterdir()) == []


def test_a_package_without_its_signature_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive, \
            tarfile.open(fileobj=io.BytesIO(package(KEY)), mode="r:gz") as signed:
        for member in signed.getmembers():
            if member.name != "edge-package.sig":
                archive.addfile(member, signed.extractfile(member))
    with pytest.raises(PackageRefused, match="no edge-package.sig"):
        extract(_archive(tmp_path, buffer.getvalue()), tmp_path / "models", KEY.public_key())


def test_the_key_is_fetched_once_and_pinned(tmp_path: Path) -> None:
    fetched: list[int] = []

    def fetch() -> str:
        fetched.append(1)
        return public_pem(KEY)

    first = pinned_key(tmp_path / "key.pem", fetch)
    again = pinned_key(tmp_path / "key.pem", lambda: public_pem(Ed25519PrivateKey.generate()))
    assert len(fetched) == 1
    signature = KEY.sign(b"index")
    first.verify(signature, b"index")
    again.verify(signature, b"index")  # the pinned key, not the one offered later
