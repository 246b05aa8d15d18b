"""What every controller that stages an instance's inputs shares: StagingError, and reading inputs from storage.

`input_sources` lists the objects an S3DataSource names (a training channel's, a processing or
transform job's input), each as a Source to open, and `download` copies them into a directory;
`unpack_archive` streams a (gzipped) tar into a directory (a training job's source dir, a model's
ModelDataUrl). What a training host's `/opt/ml` holds is staged by training_jobs/staging.py, a
processing host's by processing_jobs/staging.py, a model container's by model_staging.py.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from modelbay.store.objects.base import ObjectStore, ObjectStoreError
from modelbay.store.objects.uris import FileLocation, S3Location, parse_uri


class StagingError(Exception):
    """The job's inputs could not be staged; the message is the job's FailureReason."""


@dataclass(frozen=True)
class Source:
    """One input object: its name (relative to the prefix, or as the manifest lists it), where it is (for
    messages) and how to open it."""

    name: str
    uri: str
    open: Callable[[], AbstractContextManager[BinaryIO]]


def input_sources(objects: ObjectStore, s3: dict[str, Any]) -> Iterator[Source]:
    """The objects an S3DataSource names: every object under its S3Prefix (or file:// directory), or those
    its ManifestFile lists. Raise StagingError when they cannot be listed or the manifest read."""
    location = _location(s3["S3Uri"])
    if s3.get("S3DataType", "S3Prefix") == "ManifestFile":
        yield from _manifest_sources(objects, location)
    elif isinstance(location, FileLocation):
        yield from (Source(str(p.relative_to(location.path)), p.as_uri(), _file_opener(p))
                    for p in location.path.rglob("*") if p.is_file())
    else:
        yield from (Source(_name_under(location.key, key), f"s3://{location.bucket}/{key}",
                           _object_opener(objects, location.bucket, key))
                    for key in _keys(objects, location))


def download(sources: Iterable[Source], target: Path, what: str) -> None:
    """Copy each source to `target`/<its name>; StagingError names `what` (a channel, an input) and the object."""
    target.mkdir(parents=True, exist_ok=True)
    for source in sources:
        path = target / source.name
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with source.open() as raw, open(path, "wb") as out:
                shutil.copyfileobj(raw, out)
        except (ObjectStoreError, OSError) as err:
            raise StagingError(f"ClientError: Data download failed for {what}, "
                               f"{source.name}: {type(err).__name__}: {err}") from err


def _manifest_sources(objects: ObjectStore, location: S3Location | FileLocation) -> Iterator[Source]:
    try:
        with _opener(objects, location)() as raw:
            manifest = json.load(raw)
    except (ObjectStoreError, OSError, ValueError) as err:
        raise StagingError(f"ClientError: manifest {location} could not be read: {type(err).__name__}: {err}") from err
    prefix = _location(manifest[0]["prefix"])
    for relative in manifest[1:]:
        if isinstance(prefix, FileLocation):
            yield Source(relative, (prefix.path / relative).as_uri(), _file_opener(prefix.path / relative))
        else:
            yield Source(relative, f"s3://{prefix.bucket}/{prefix.key}{relative}",
                         _object_opener(objects, prefix.bucket, prefix.key + relative))


def _keys(objects: ObjectStore, location: S3Location) -> Iterator[str]:
    after = ""
    while True:
        try:
            page = objects.list(location.bucket, prefix=location.key, start_after=after)
        except ObjectStoreError as err:
            raise StagingError(f"ClientError: Data download failed: {location}: {type(err).__name__}") from err
        yield from (info.key for info in page.objects if not info.key.endswith("/"))
        if not page.is_truncated or not page.objects:
            return
        after = page.objects[-1].key


def _name_under(prefix: str, key: str) -> str:
    """The key's part after the prefix (a `/` separating them dropped); the base name for the prefix itself."""
    return key[len(prefix):].lstrip("/") or key.rsplit("/", 1)[-1]


def _location(uri: str) -> S3Location | FileLocation:
    try:
        return parse_uri(uri)
    except ValueError as err:
        raise StagingError(str(err)) from err


Opener = Callable[[], AbstractContextManager[BinaryIO]]


def _opener(objects: ObjectStore, location: S3Location | FileLocation) -> Opener:
    if isinstance(location, FileLocation):
        return _file_opener(location.path)
    return _object_opener(objects, location.bucket, location.key)


def _file_opener(path: Path) -> Opener:
    return lambda: open(path, "rb")


def _object_opener(objects: ObjectStore, bucket: str, key: str) -> Opener:
    return lambda: cast(AbstractContextManager[BinaryIO], objects.open(bucket, key))


def unpack_archive(objects: ObjectStore, uri: str, target: Path, what: str) -> None:
    """Stream the (gzipped) tar at `uri` (s3:// or file://) into `target`; `what` names it in errors."""
    try:
        with _opener(objects, _location(uri))() as raw, tarfile.open(fileobj=raw, mode="r|*") as archive:
            archive.extractall(target, filter="data")
    except (ObjectStoreError, tarfile.TarError, OSError) as err:
        raise StagingError(f"ClientError: {what} {uri} could not be unpacked: {type(err).__name__}: {err}") from err
