"""Writing what a job produced to where its request says, an `s3://` or `file://` URI (training, processing,
compilation): a stream, or a directory packed as a gzipped tar."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

from modelbay.store.objects.base import DataKeys, ObjectMeta, ObjectStore
from modelbay.store.objects.uris import FileLocation, parse_uri


def put_stream(objects: ObjectStore, source: BinaryIO, uri: str, content_type: str, kms_key_id: str | None = None,
               keys: DataKeys | None = None) -> None:
    """Store `source`'s bytes at `uri` (s3:// or file://); the write is atomic at the destination. An object is
    written SSE-KMS under `kms_key_id` (a job's KmsKeyId) if given, else as its bucket's default; `keys` reach
    KMS (the store's default keys when None)."""
    location = parse_uri(uri)
    if isinstance(location, FileLocation):
        _copy_atomically(source, location.path)
    else:
        sse = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id} if kms_key_id else {}
        objects.put(location.bucket, location.key, source, ObjectMeta(content_type=content_type, headers=sse), keys)


def upload_directory(objects: ObjectStore, directory: Path, uri: str, scratch: Path, kms_key_id: str | None = None,
                     keys: DataKeys | None = None) -> None:
    """Pack `directory`'s contents (names relative to it) as a gzipped tar at `uri` (s3:// or file://), written
    SSE-KMS under `kms_key_id` if given (see put_stream).

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


def _copy_atomically(source: BinaryIO, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with open(partial, "wb") as out:
        shutil.copyfileobj(source, out)
    os.replace(partial, target)
