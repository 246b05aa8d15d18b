"""A user's code as the SageMaker SDK ships it: sourcedir.tar.gz in S3, and the entry point's name within it."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

from modelbay.sdk.session import Session


def program(entry_point: str, source_dir: str | None) -> str:
    """The entry point as the toolkits find it in the unpacked source dir: relative to `source_dir`, else the
    file's name (SAGEMAKER_PROGRAM, the `sagemaker_program` hyperparameter)."""
    return entry_point if source_dir else Path(entry_point).name


def upload_source(session: Session, entry_point: str, source_dir: str | None, key_prefix: str) -> str:
    """Upload sourcedir.tar.gz to `<default bucket>/<key_prefix>/` and return its S3 URI."""
    bucket, key = session.default_bucket(), f"{key_prefix}/sourcedir.tar.gz"
    with tempfile.TemporaryDirectory(prefix="modelbay-source-") as scratch:
        archive = pack_source(entry_point, source_dir, Path(scratch) / "sourcedir.tar.gz")
        session.s3.upload_file(str(archive), bucket, key)
    return f"s3://{bucket}/{key}"


def pack_source(entry_point: str, source_dir: str | None, archive: Path) -> Path:
    """Write `source_dir`'s contents (or, without one, the entry point file alone) at the root of a
    gzipped tar at `archive`; return `archive`. ValueError if the entry point is not a file."""
    script = Path(source_dir, entry_point) if source_dir else Path(entry_point)
    if not script.is_file():
        raise ValueError(f"entry_point {entry_point!r} is not a file" + (f" in {source_dir}" if source_dir else ""))
    members = sorted(Path(source_dir).iterdir()) if source_dir else [script]
    with tarfile.open(archive, "w:gz") as tar:
        for member in members:
            tar.add(member, arcname=member.name)
    return archive
