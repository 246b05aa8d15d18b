"""Writing what a job produced to where its request says, an `s3://` or `file://` URI (training, processing)."""

from __future__ import annotations

import os
import shutil
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


def _copy_atomically(source: BinaryIO, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with open(partial, "wb") as out:
        shutil.copyfileobj(source, out)
    os.replace(partial, target)
