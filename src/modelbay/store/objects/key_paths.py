"""Where keys live in a LocalObjectStore's bucket folder, and walking them in S3's order.

Each '/'-separated segment of a key is percent-encoded; directories are named `<segment>%2F` and
object files `=<segment>`. Percent-encoding never leaves a '=' or a '%2F' inside a segment, so a
directory and an object file never share a name, and sorting a directory's entries by their
decoded names (a directory's ending in '/') walks the keys in S3's order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from modelbay.store.objects.base import KeyTooLong

_MAX_KEY_BYTES = 1024
_MAX_NAME_BYTES = 255
_DIR_SUFFIX = "%2F"
_FILE_PREFIX = "="


def object_path(bucket_dir: Path, key: str) -> Path:
    """The file of a key; raise KeyTooLong if the key or one of its encoded segments is too long."""
    if len(key.encode()) > _MAX_KEY_BYTES:
        raise KeyTooLong(f"Your key is too long: {len(key.encode())} bytes; the maximum is {_MAX_KEY_BYTES}")
    *dirs, last = key.split("/")
    directory, name = dir_path(bucket_dir, dirs), _FILE_PREFIX + quote(last, safe="")
    if directory is None or len(name) > _MAX_NAME_BYTES:
        raise KeyTooLong(f"A segment of key {key!r} is longer than {_MAX_NAME_BYTES} bytes once encoded")
    return directory / name


def dir_path(bucket_dir: Path, segments: list[str]) -> Path | None:
    """The directory of keys that start with '/'.join(segments) + '/'; None if it cannot exist."""
    names = [quote(segment, safe="") + _DIR_SUFFIX for segment in segments]
    if any(len(name) > _MAX_NAME_BYTES for name in names):
        return None
    return bucket_dir.joinpath(*names)


def _entries(directory: Path) -> list[tuple[str, str, bool]]:
    """(segment, file name, is a directory) of what a directory holds, in order of the segments
    (a directory's ends with '/'). Empty if the directory is gone."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = [(unquote(name[1:]), name, False) for name in names if name.startswith(_FILE_PREFIX)]
    found += [(unquote(name[:-3]) + "/", name, True) for name in names if name.endswith(_DIR_SUFFIX)]
    return sorted(found, key=lambda entry: entry[0])


def holds_object(directory: Path) -> bool:
    """Whether a directory holds an object at any depth (a crash can leave empty ones behind)."""
    pending = [directory]  # not recursion: keys can nest 512 deep
    while pending:
        current = pending.pop()
        for _, name, is_dir in _entries(current):
            if not is_dir:
                return True
            pending.append(current / name)
    return False


def prune(directory: Path, bucket_dir: Path) -> None:
    """Remove empty directories from `directory` up to the bucket's (the caller holds the lock)."""
    while directory != bucket_dir:
        try:
            directory.rmdir()
        except OSError:  # not empty
            return
        directory = directory.parent


@dataclass(frozen=True)
class _Scope:
    """What a listing walks: keys under `prefix` after `after` ("" for no bound)."""

    prefix: str
    after: str
    rolls_up: bool  # delimiter '/': each directory is one common prefix, never walked into

    def skips(self, key: str, is_dir: bool) -> bool:
        """Whether a file, or a whole directory (key ending in '/'), has nothing to list."""
        if not key.startswith(self.prefix):  # the walk starts in the prefix's directory: never above it
            return True
        if not self.after or key > self.after:
            return False
        return not is_dir or self.rolls_up or not self.after.startswith(key)


def listed(bucket_dir: Path, prefix: str, delimiter: str, start_after: str) -> Iterator[tuple[str, Path | None]]:
    """Keys with their files, and common prefixes with None, in order and after start_after."""
    base = prefix[: prefix.rfind("/") + 1]
    directory = dir_path(bucket_dir, base.split("/")[:-1])
    if directory is None:
        return
    last_common = None
    for key, path in _walk(directory, base, _Scope(prefix, start_after, delimiter == "/")):
        cut = key.find(delimiter, len(prefix)) if delimiter and path is not None else -1
        if cut < 0:
            yield key, path
            continue
        common = key[: cut + len(delimiter)]
        if common != last_common and common > start_after:
            yield common, None
        last_common = common


def _walk(directory: Path, base: str, scope: _Scope) -> Iterator[tuple[str, Path | None]]:
    """Depth first, in key order: (key, file) of the objects in `directory`, whose keys begin
    with `base`; with scope.rolls_up, (common prefix, None) for each subdirectory holding objects."""
    pending = [_children(directory, base, scope)]  # not recursion: keys can nest 512 deep
    while pending:
        entry = next(pending[-1], None)
        if entry is None:
            pending.pop()
            continue
        key, path, is_dir = entry
        if not is_dir:
            yield key, path
        elif not scope.rolls_up:
            pending.append(_children(path, key, scope))
        elif holds_object(path):
            yield key, None


def _children(directory: Path, base: str, scope: _Scope) -> Iterator[tuple[str, Path, bool]]:
    """(key, path, is a directory) of what `directory` holds within the scope, in order."""
    for segment, name, is_dir in _entries(directory):
        key = base + segment
        if not scope.skips(key, is_dir):
            yield key, directory / name, is_dir
