"""Checking an edge package before anything of it is used (the packaging job's `<ModelName>-<ModelVersion>.tar.gz`).

A package holds the compiled model's files, `edge-package.json` ({"ModelName", "ModelVersion",
"CompilationJobName", "Files": {relative path: sha256 hex}}) and `edge-package.sig`, the base64 Ed25519 signature
of edge-package.json's exact bytes by the platform's packaging key. A package is accepted only if the signature
verifies with the key the agent pinned, every listed file has its hash, and nothing else is in it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from modelbay.user_files import write_text

INDEX = "edge-package.json"
SIGNATURE = "edge-package.sig"
_VERSION = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9.])*")  # SageMaker's ModelVersion: also a safe folder name


class PackageRefused(Exception):
    """A package that is not what the platform signed; its str says why."""


@dataclass(frozen=True)
class Package:
    """A verified package, extracted: its model's name and version and the folder with its files."""

    model_name: str
    model_version: str
    path: Path


def pinned_key(path: Path, fetch: Callable[[], str]) -> Ed25519PublicKey:
    """The packaging public key pinned at `path`; the first time, `fetch()`ed (PEM) and pinned there."""
    if path.exists():
        pem = path.read_text()
    else:
        pem = fetch()
        _ed25519(pem)  # never pin what is not a key
        write_text(path, pem, mode=0o644)
    return _ed25519(pem)


def _ed25519(pem: str) -> Ed25519PublicKey:
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise PackageRefused("the packaging key is not an Ed25519 public key")
    return key


def extract(archive: Path, into: Path, key: Ed25519PublicKey) -> Package:
    """Verify the package `archive` and extract it as `into`/<ModelVersion> (replaced if present); raise
    PackageRefused."""
    into.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extracting-", dir=into))
    try:
        _unpack(archive, staging)
        index = verify(staging, key)
        destination = into / index["ModelVersion"]
        if destination.exists():
            shutil.rmtree(destination)
        staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Package(index["ModelName"], index["ModelVersion"], destination)


def _unpack(archive: Path, into: Path) -> None:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(into, filter="data")  # no links out, no absolute paths, no devices
    except (tarfile.TarError, OSError, EOFError) as err:
        raise PackageRefused(f"the package is not a readable .tar.gz: {err}") from err


def verify(folder: Path, key: Ed25519PublicKey) -> dict[str, Any]:
    """Check the extracted package in `folder`: the signature, then each file's hash; return the index."""
    try:
        signed = (folder / INDEX).read_bytes()
        signature = base64.b64decode((folder / SIGNATURE).read_bytes(), validate=True)
    except FileNotFoundError as err:
        raise PackageRefused(f"the package has no {Path(str(err.filename)).name}") from None
    except binascii.Error:
        raise PackageRefused(f"{SIGNATURE} is not base64") from None
    try:
        key.verify(signature, signed)
    except InvalidSignature:
        raise PackageRefused(f"the signature of {INDEX} does not verify with the packaging key") from None
    index = _index(signed)
    _check_files(folder, index["Files"])
    return index


def _index(signed: bytes) -> dict[str, Any]:
    try:
        index = json.loads(signed)
    except ValueError:
        raise PackageRefused(f"{INDEX} is not JSON") from None
    if not (isinstance(index, dict) and isinstance(index.get("Files"), dict)
            and isinstance(index.get("ModelName"), str) and _VERSION.fullmatch(str(index.get("ModelVersion")))):
        raise PackageRefused(f"{INDEX} lacks ModelName, a valid ModelVersion or Files")
    return index


def _check_files(folder: Path, files: dict[str, Any]) -> None:
    found = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if not path.is_dir()}
    extra = sorted(found - set(files) - {INDEX, SIGNATURE})
    if extra:
        raise PackageRefused(f"the package holds files its index does not list: {', '.join(extra[:5])}")
    for name, expected in sorted(files.items()):
        path = folder / name
        if name not in found:
            raise PackageRefused(f"the package lacks {name}, which its index lists")
        if _sha256(path) != str(expected).lower():
            raise PackageRefused(f"{name} does not have the hash its index gives")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
