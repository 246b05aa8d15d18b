"""CheckpointConfig: a host's checkpoint directory restored from S3 before its program starts, and kept in step
with S3 while it runs and once it has ended, as SageMaker does for every job that names one (spot or not).

Restoring copies every object under S3Uri into the directory. A sync uploads the files that are new or changed
since the last one (by size and modification time, as a manifest beside the host's directory records them) and
deletes the objects of files deleted from the directory meanwhile, as SageMaker mirrors deletions; objects put
under S3Uri by others after the start are neither copied in nor deleted. LocalPath lies under /opt/ml (the service
refuses others): it is that part of the instance's directory, whatever runs the instance.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from modelbay.controllers.staging import download, input_sources
from modelbay.controllers.uploads import put_stream
from modelbay.store.metadata.training_jobs import Checkpoint
from modelbay.store.objects.base import ObjectStore
from modelbay.store.objects.uris import S3Location, parse_uri

OPT_ML = PurePosixPath("/opt/ml")
SYNC_INTERVAL_S = 5.0  # between two syncs of a running job's checkpoints

Snapshot = dict[str, list[int]]  # a file's name under the directory: its size and modification time (ns)


def checkpoint_dir(opt_ml: Path, checkpoint: Checkpoint) -> Path:
    """Where the instance whose directory is `opt_ml` sees LocalPath."""
    return opt_ml / PurePosixPath(checkpoint.local_path).relative_to(OPT_ML)


def restore(objects: ObjectStore, checkpoint: Checkpoint, opt_ml: Path, manifest: Path) -> None:
    """Copy the checkpoints under S3Uri into the host's directory (raise StagingError); they count as synced."""
    directory = checkpoint_dir(opt_ml, checkpoint)
    download(input_sources(objects, {"S3Uri": _prefix(checkpoint)}), directory, "checkpoints")
    manifest.write_text(json.dumps(_snapshot(directory)))


def sync(objects: ObjectStore, checkpoint: Checkpoint, opt_ml: Path, manifest: Path) -> None:
    """Upload the host's new and changed checkpoints, delete those it deleted, since the last sync."""
    directory = checkpoint_dir(opt_ml, checkpoint)
    synced: Snapshot = json.loads(manifest.read_text()) if manifest.is_file() else {}
    now = _snapshot(directory)
    for name, stat in list(now.items()):
        if synced.get(name) != stat:
            try:
                with open(directory / name, "rb") as source:
                    put_stream(objects, source, _prefix(checkpoint) + name, "application/octet-stream")
            except FileNotFoundError:  # deleted since the snapshot: as it was, so the next sync deletes its object
                if name in synced:
                    now[name] = synced[name]
                else:
                    del now[name]
    for name in synced.keys() - now.keys():
        location = parse_uri(_prefix(checkpoint) + name)
        if isinstance(location, S3Location):
            objects.delete(location.bucket, location.key)
    manifest.write_text(json.dumps(now))


def _prefix(checkpoint: Checkpoint) -> str:
    return checkpoint.s3_uri.rstrip("/") + "/"


def _snapshot(directory: Path) -> Snapshot:
    """Every file under `directory` (none if it is missing), as the manifest records it."""
    snapshot: Snapshot = {}
    for path in directory.rglob("*") if directory.is_dir() else ():
        try:
            stat = path.stat()
        except FileNotFoundError:  # deleted while listed
            continue
        if path.is_file():
            snapshot[path.relative_to(directory).as_posix()] = [stat.st_size, stat.st_mtime_ns]
    return snapshot
