"""An edge package: a compiled model's files, the manifest listing each file's SHA-256, and the manifest's signature.

The package is a gzipped tar holding the compilation job's files as they were (with `neo-manifest.json`),
`edge-package.json` ({"ModelName", "ModelVersion", "CompilationJobName", "Files": {path: sha256 hex}}) and
`edge-package.sig` (the base64 Ed25519 signature of the exact bytes of edge-package.json). An agent that checks the
signature and then every file's hash runs only what a packaging job of this platform packaged.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

from modelbay.security.edge_signing import EdgeSigner

MANIFEST = "edge-package.json"
SIGNATURE = "edge-package.sig"
COMPILED_MANIFEST = "neo-manifest.json"  # container/compiled_models.MANIFEST: what makes a model a compiled one
_CHUNK = 1 << 20


class PackagingFailed(Exception):
    """The compiled model cannot be packaged; the message says why, for EdgePackagingJobStatusMessage."""


@dataclass(frozen=True)
class PackageIdentity:
    """What the manifest names the package's model by."""

    model_name: str
    model_version: str
    compilation_job_name: str


@dataclass(frozen=True)
class Package:
    """A package built: its bytes (read from the start), their SHA-1 (GetDeployments' Checksum), its signature."""

    data: BinaryIO  # a temporary file: close it when done
    sha1: str
    signature: str
    manifest: bytes


def build_package(compiled: BinaryIO, identity: PackageIdentity, signer: EdgeSigner) -> Package:
    """Package the compiled model read from `compiled` (the compilation job's model.tar.gz). Raises PackagingFailed
    for an archive that is not a gzipped tar of plain files with neo-manifest.json at its top."""
    out = tempfile.TemporaryFile()  # noqa: SIM115  # handed to the caller, who closes it
    try:
        with tarfile.open(fileobj=out, mode="w:gz") as package:
            files = dict(_copy_members(compiled, package))
            if COMPILED_MANIFEST not in files:
                raise PackagingFailed(f"The compilation job's model has no {COMPILED_MANIFEST}: it is not a compiled "
                                      "model.")
            manifest = json.dumps({"ModelName": identity.model_name, "ModelVersion": identity.model_version,
                                   "CompilationJobName": identity.compilation_job_name, "Files": files},
                                  indent=2, sort_keys=True).encode()
            signature = signer.sign(manifest)
            _add(package, MANIFEST, manifest)
            _add(package, SIGNATURE, signature.encode())
        out.seek(0)
        return Package(out, _sha1(out), signature, manifest)
    except BaseException:
        out.close()
        raise


def _copy_members(compiled: BinaryIO, package: tarfile.TarFile) -> Iterator[tuple[str, str]]:
    """Copy each file of the compiled archive into `package`, yielding its path and SHA-256."""
    try:
        with tarfile.open(fileobj=compiled, mode="r|gz") as source:
            for member in source:
                if member.isdir():
                    continue
                path = _member_path(member)
                data = source.extractfile(member)
                if data is None:
                    raise PackagingFailed(f"The compilation job's model holds {path}, which is not a plain file.")
                body = data.read()
                yield path, hashlib.sha256(body).hexdigest()
                _add(package, path, body)
    except (tarfile.TarError, EOFError, OSError) as err:
        raise PackagingFailed(f"The compilation job's model is not a gzipped tar archive: {err}") from err


def _member_path(member: tarfile.TarInfo) -> str:
    """The member's path, relative and normalised; one that is a link, absolute, or leaves the archive is refused."""
    path = PurePosixPath(member.name.removeprefix("./"))
    if not member.isfile() or path.is_absolute() or ".." in path.parts or not path.parts:
        raise PackagingFailed(f"The compilation job's model holds {member.name!r}, which is not a plain file within "
                              "the archive.")
    if str(path) in (MANIFEST, SIGNATURE):
        raise PackagingFailed(f"The compilation job's model holds {path}, a name the package's own files take.")
    return str(path)


def _add(package: tarfile.TarFile, path: str, body: bytes) -> None:
    info = tarfile.TarInfo(path)
    info.size, info.mode = len(body), 0o644
    package.addfile(info, io.BytesIO(body))


def _sha1(data: BinaryIO) -> str:
    digest = hashlib.sha1()  # noqa: S324  # GetDeployments' Checksum is SHA1 by the API's definition
    while chunk := data.read(_CHUNK):
        digest.update(chunk)
    data.seek(0)
    return digest.hexdigest()
