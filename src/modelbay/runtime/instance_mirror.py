"""An instance's directory (its opt_ml) carried through the object store between the server and a cluster node.

Both ways, under one prefix per instance in the object store's own bucket, which the S3 API hides from users
(store/objects/internal.py):
- `start/<name>`: the directory as the server staged it, uploaded before the instance starts; the node downloads
  it into the directory it runs the instance in;
- `out/<name>`: the files the instance wrote, new or changed since a snapshot the server holds (by size and
  modification time, as checkpoint manifests tell them), input/ excepted; the node uploads them while the instance
  runs and once it has ended, the server downloads them into its own opt_ml, so what reads a host's opt_ml works
  unchanged.
Files the instance deletes are not deleted on the server's side. Every download is atomic (temp file + rename).
"""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from pathlib import Path, PurePosixPath

from modelbay.store.objects.base import BucketAlreadyOwnedByYou, NoSuchBucket, ObjectMeta, ObjectStore
from modelbay.store.objects.internal import INTERNAL_BUCKET

_PREFIX = "cluster/instances"
_START, _OUT = "start", "out"
_INPUT = "input"  # what the instance was given: never uploaded back
_LISTING_PAGE = 1000
_PARTIAL = ".mirror-"  # a download under way

Snapshot = dict[str, list[int]]  # a file's name under opt_ml: its size and modification time (ns)


class InstanceMirror:
    """The objects of one instance's directory; `instance_id` is the cluster runtime's id for it."""

    def __init__(self, objects: ObjectStore, instance_id: str, region: str) -> None:
        self.objects, self.region = objects, region
        self.prefix = f"{_PREFIX}/{instance_id}/"

    # -- the server's side ------------------------------------------------------------------
    def upload_start(self, opt_ml: Path) -> None:
        """Upload the whole staged directory, for the node to start the instance on."""
        with suppress(BucketAlreadyOwnedByYou):
            self.objects.create_bucket(INTERNAL_BUCKET, self.region)
        for name in snapshot(opt_ml):
            self._put(opt_ml / name, _START, name)

    def download_outputs(self, names: list[str], opt_ml: Path) -> None:
        """Copy the named files the node uploaded into the server's directory."""
        for name in names:
            self._get(_OUT, name, opt_ml)

    def delete(self) -> None:
        """Remove every object of the instance (once it is removed)."""
        try:
            for key in self._keys():
                self.objects.delete(INTERNAL_BUCKET, key)
        except NoSuchBucket:
            return

    # -- the node's side --------------------------------------------------------------------
    def download_start(self, opt_ml: Path) -> None:
        """Fill the node's directory with what the server staged."""
        start = self.prefix + _START + "/"
        for key in self._keys(start):
            self._get(_START, key[len(start):], opt_ml)

    def upload_outputs(self, opt_ml: Path, synced: Snapshot) -> tuple[list[str], Snapshot]:
        """Upload the files new or changed since `synced` (input/ excepted); return their names and the snapshot
        to pass next time."""
        now = output_snapshot(opt_ml)
        changed = []
        for name, stat in now.items():
            if synced.get(name) != stat:
                try:
                    self._put(opt_ml / name, _OUT, name)
                except FileNotFoundError:  # deleted since the snapshot
                    continue
                changed.append(name)
        return changed, {name: stat for name, stat in now.items() if name in changed or synced.get(name) == stat}

    # -- objects ----------------------------------------------------------------------------
    def _put(self, path: Path, part: str, name: str) -> None:
        with open(path, "rb") as source:
            self.objects.put(INTERNAL_BUCKET, f"{self.prefix}{part}/{name}", source, ObjectMeta())

    def _get(self, part: str, name: str, opt_ml: Path) -> None:
        target = opt_ml / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=_PARTIAL)
        key = f"{self.prefix}{part}/{name}"
        try:
            with os.fdopen(fd, "wb") as out, self.objects.open(INTERNAL_BUCKET, key) as reader:
                for chunk in reader:
                    out.write(chunk)
            os.replace(partial, target)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise

    def _keys(self, prefix: str | None = None) -> list[str]:
        keys: list[str] = []
        after = ""
        while True:
            page = self.objects.list(INTERNAL_BUCKET, prefix or self.prefix, start_after=after, max_keys=_LISTING_PAGE)
            keys.extend(info.key for info in page.objects)
            if not page.is_truncated or page.next_marker is None:
                return keys
            after = page.next_marker


def snapshot(directory: Path) -> Snapshot:
    """Every file under `directory` (none if it is missing), by size and modification time."""
    found: Snapshot = {}
    for path in directory.rglob("*") if directory.is_dir() else ():
        try:
            stat = path.stat()
        except FileNotFoundError:  # deleted while listed
            continue
        if path.is_file() and not path.name.startswith(_PARTIAL):
            found[path.relative_to(directory).as_posix()] = [stat.st_size, stat.st_mtime_ns]
    return found


def output_snapshot(opt_ml: Path) -> Snapshot:
    """The snapshot of the files under `opt_ml` an instance's outputs may be: all but input/."""
    return {name: stat for name, stat in snapshot(opt_ml).items() if PurePosixPath(name).parts[0] != _INPUT}
