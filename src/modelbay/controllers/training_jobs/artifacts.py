"""Training outputs: a host's `/opt/ml/model` and `/opt/ml/output/data`, packed as `.tar.gz` into storage."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

from modelbay.store.objects.base import ObjectMeta, ObjectStore
from modelbay.store.objects.uris import FileLocation, parse_uri


def artifact_uri(output_path: str, job_name: str, file_name: str) -> str:
    """`<S3OutputPath>/<job>/output/<file_name>`, as SageMaker places a job's outputs."""
    return f"{output_path.rstrip('/')}/{job_name}/output/{file_name}"


def upload_directory(objects: ObjectStore, directory: Path, uri: str, scratch: Path) -> None:
    """Pack `directory`'s contents (names relative to it) as a gzipped tar at `uri` (s3:// or file://).

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
        location = parse_uri(uri)
        if isinstance(location, FileLocation):
            _copy_atomically(tmp, location.path)
        else:
            objects.put(location.bucket, location.key, tmp, ObjectMeta(content_type="application/x-tar"))


def _copy_atomically(source: BinaryIO, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with open(partial, "wb") as out:
        shutil.copyfileobj(source, out)
    os.replace(partial, target)
