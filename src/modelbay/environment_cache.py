"""The cache of framework environments as it lies on disk: what it holds, how big, what is in use.

The process runtime (runtime/environments.py) builds environments here and layers instances over
them; `modelbay images environments` and `modelbay images prune` read and prune the cache directly,
as the CLI never imports the runtime. So the layout both rely on lives here, below both. In a root:

    <framework>[-<version>]-py<NN>-<hash>/   an environment, complete once it holds BUILT_MARKER
    <that name>.lock                         its lock (flock), held while it is built or removed
    toolkit-<hash>/                          a copy of the in-instance toolkit that layers import

Lock files are never removed: a process may hold one open, and a new file under the same name
would let a second builder in beside it.

An instance runs in a layer of its own (a venv in its server's data directory) whose LAYER_MARKER
names what of the cache it uses. A running process whose command line runs a layer's python marks
those in use, whichever server (or none, once it has stopped) started it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BUILT_MARKER = "modelbay-environment.json"
LAYER_MARKER = "modelbay-layer.json"
TOOLKIT_PREFIX = "toolkit-"
_ENVIRONMENT = re.compile(r"(?P<framework>[a-z]+)(?:-(?P<version>[0-9][A-Za-z0-9.-]*?))?-py[0-9]+-[0-9a-f]{10}")
_TOOLKIT = re.compile(re.escape(TOOLKIT_PREFIX) + r"[0-9a-f]+")


def environment_name(framework: str, version: str, python: str, requirements: Sequence[str]) -> str:
    """`sklearn-1.2-1-py311-<hash>`: the hash covers the pinned requirements, so a changed recipe builds anew."""
    digest = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:10]
    return f"{framework}{f'-{version}' if version else ''}-{python}-{digest}"


@contextlib.contextmanager
def environment_lock(environment: Path, wait: bool = True) -> Iterator[bool]:
    """Hold the environment's lock, shared by every process and server using the cache; yield whether it is
    held (with `wait`, always, once any other holder is done)."""
    environment.parent.mkdir(parents=True, exist_ok=True)
    with open(_lock_file(environment), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True  # closing the file releases the lock


def mark_layer(layer: Path, uses: Sequence[Path]) -> None:
    """Record in `layer` what of the cache it uses, so the cache is never pruned under a running instance."""
    (layer / LAYER_MARKER).write_text(json.dumps({"uses": [str(path.resolve()) for path in uses]}) + "\n")


@dataclass(frozen=True)
class CacheEntry:
    """One environment or toolkit copy in the cache."""

    path: Path
    image: str  # the framework image it realises (modelbay/sklearn:1.2-1), or "" for a toolkit copy
    state: str  # Built, Building (its lock is held) or Incomplete (a build that did not finish)
    size_bytes: int
    modified: datetime  # when it was built (or last written, if it is not built)
    in_use: bool  # a running instance uses it

    @property
    def name(self) -> str:
        return self.path.name


def cache_entries(root: Path) -> list[CacheEntry]:
    """What the cache at `root` holds, by name; anything else in the directory is left out (and alone)."""
    if not root.is_dir():
        return []
    used = paths_in_use()
    return [_entry(path, used) for path in sorted(root.iterdir())
            if path.is_dir() and not path.is_symlink() and (_ENVIRONMENT.fullmatch(path.name)
                                                            or _TOOLKIT.fullmatch(path.name))]


def remove(entry: CacheEntry) -> bool:
    """Delete the entry, unless it is an environment being built (False). Its complete-marker goes first, so a
    server never takes a half-removed environment for a built one."""
    if _TOOLKIT.fullmatch(entry.name):
        shutil.rmtree(entry.path, ignore_errors=True)
        return True
    with environment_lock(entry.path, wait=False) as held:
        if held:
            (entry.path / BUILT_MARKER).unlink(missing_ok=True)
            shutil.rmtree(entry.path, ignore_errors=True)
        return held


def paths_in_use() -> set[Path]:
    """What running instances' layers use: for every process running a layer's python, its LAYER_MARKER's list."""
    layers: set[Path] = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):  # ended meanwhile, or not ours to read
            for arg in cmdline.read_bytes().split(b"\0"):
                program = Path(os.fsdecode(arg))
                if program.is_absolute() and program.parent.name == "bin":
                    layers.add(program.parent.parent)
    used: set[Path] = set()
    for layer in layers:
        with contextlib.suppress(OSError, ValueError, KeyError):  # no marker: not a layer
            used.update(Path(path) for path in json.loads((layer / LAYER_MARKER).read_text())["uses"])
    return used


def _entry(path: Path, used: set[Path]) -> CacheEntry:
    marker = path / BUILT_MARKER
    environment = _ENVIRONMENT.fullmatch(path.name)
    if environment is None:
        image, state, modified = "", "Built", path.stat().st_mtime
    else:
        image = f"modelbay/{environment['framework']}" + (f":{environment['version']}" if environment["version"]
                                                          else "")
        built = marker.is_file()
        state = "Built" if built else "Incomplete" if _is_unlocked(path) else "Building"
        modified = (marker if built else path).stat().st_mtime
    return CacheEntry(path, image, state, _disk_usage(path), datetime.fromtimestamp(modified, UTC),
                      path.resolve() in used)


def _disk_usage(path: Path) -> int:
    """Bytes `path` takes on disk as `du` counts them: allocated blocks, each inode once, symlinks not followed."""
    inside = (os.path.join(directory, name) for directory, dirs, files in os.walk(path) for name in (*dirs, *files))
    seen: set[tuple[int, int]] = set()
    total = 0
    for each in itertools.chain([str(path)], inside):
        with contextlib.suppress(FileNotFoundError):  # removed while we walk
            stat = os.lstat(each)
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_blocks * 512
    return total


def _is_unlocked(environment: Path) -> bool:
    if not _lock_file(environment).exists():  # never locked, and looking creates no lock file
        return True
    with environment_lock(environment, wait=False) as held:
        return held


def _lock_file(environment: Path) -> Path:
    return environment.with_name(f"{environment.name}.lock")
