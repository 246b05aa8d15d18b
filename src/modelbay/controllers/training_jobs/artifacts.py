"""Training outputs: a host's `/opt/ml/model` and `/opt/ml/output/data`, packed as `.tar.gz` into storage."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

from modelbay.controllers.uploads import put_stream
from modelbay.store.objects.base import DataKeys, ObjectStore


def artifact_uri(output_path: str, job_name: str, file_name: str) -> str:
    """`<S3OutputPath>/<job>/output/<file_name>`, as SageMaker places a job's outputs."""
    return f"{output_path.rstrip('/')}/{job_name}/output/{file_name}"


def upload_directory(objects: ObjectStore, directory: Path, uri: str, scratch: Path, kms_key_id: str | None = None,
                     keys: DataKeys | None = None) -> None:
    """Pack `directory`'s contents (names relative to it) as a gzipped tar at `uri` (s3:// or file://), written
    SSE-KMS under `kms_key_id` if given (see uploads.put_stream).

    The archive is built in a temporary file under `scratch` and streamed from there, so no
    whole archive is held in memory; the write is atomic at the destination.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=scratch, suffix=".tar.gz") as tmp:
        with tarfile.open(fileobj=tmp, mode="w:gz") as archive:
            for path in sorted(directory.iterdir()) if directory.is_dir() else []:
                archive.add(path, arcname=path.name)
        tmp.flush()
        tmp.seek(0)
        put_stream(objects, tmp, uri, "application/x-tar", kms_key_id, keys)
