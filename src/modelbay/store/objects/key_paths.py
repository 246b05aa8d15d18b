"""Where keys live in a LocalObjectStore's bucket folder, and walking them in S3's order.

Each '/'-separated segment of a key is percent-encoded; directories are named `<segment>%2F` and
object files `=<segment>`. Percent-encoding never leaves a '=', a bare '+' or a '%2F' inside a
segment, so a directory and an object file never share a name. A segment too long for one file
name (255 bytes once encoded: a 43-character segment of 'é' already is) is cut into pieces of
whole characters: each piece but the last is a continuation directory `<piece>+`, inside which the
segment goes on. A directory's entries are its files and directories with the continuations
followed, each named by its whole decoded segment (a directory's ending in '/'); sorting them
walks the keys in S3's order, whatever the lengths of their segments.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from modelbay.store.objects.base import KeyTooLong

_MAX_KEY_BYTES = 1024
_MAX_PATH_BYTES = 4096  # PATH_MAX: the longest path a system call takes
_PIECE_BYTES = 240  # an encoded piece of a segment, leaving room for its prefix or suffix in 255 bytes
_DIR_SUFFIX = "%2F"
_FILE_PREFIX = "="
_CONTINUATION_SUFFIX = "+"


def object_path(bucket_dir: Path, key: str) -> Path:
    """The file of a key; raise KeyTooLong if the key is longer than S3 allows."""
    if len(key.encode()) > _MAX_KEY_BYTES:
        raise KeyTooLong(f"Your key is too long: {len(key.encode())} bytes; the maximum is {_MAX_KEY_BYTES}")
    *dirs, last = key.split("/")
    *continuations, piece = _pieces(last)
    path = dir_path(bucket_dir, dirs).joinpath(*continuations, _FILE_PREFIX + piece)
    if len(os.fsencode(path)) >= _MAX_PATH_BYTES:  # only keys of almost nothing but '/' come this far
        raise KeyTooLong(f"Your key is too long: its {key.count('/')} '/' make a path longer than the file system "
                         f"allows ({_MAX_PATH_BYTES} bytes)")
    return path


def dir_path(bucket_dir: Path, segments: list[str]) -> Path:
    """The directory of keys that start with '/'.join(segments) + '/'."""
    names: list[str] = []
    for segment in segments:
        *continuations, piece = _pieces(segment)
        names += [*continuations, piece + _DIR_SUFFIX]
    return bucket_dir.joinpath(*names)


def _pieces(segment: str) -> list[str]:
    """The encoded segment cut at whole characters into pieces of at most _PIECE_BYTES, the
    pieces before the last named as continuation directories."""
    pieces, piece = [], ""
    for character in segment:
        encoded = quote(character, safe="")
        if len(piece) + len(encoded) > _PIECE_BYTES:
            pieces.append(piece + _CONTINUATION_SUFFIX)
            piece = ""
        piece += encoded
    return [*pieces, piece]


def _entries(directory: Path, head: str = "") -> list[tuple[str, Path, bool]]:
    """(segment, path, is a directory) of what a directory holds, continuations followed (`head` is
    the beginning of the segments a continuation holds), in order of the segments (a directory's
    ends with '/'). Empty if the directory is gone."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = [(head + unquote(name[1:]), directory / name, False) for name in names if name.startswith(_FILE_PREFIX)]
    found += [(head + unquote(name[:-3]) + "/", directory / name, True)
              for name in names if name.endswith(_DIR_SUFFIX)]
    for name in names:
        if name.endswith(_CONTINUATION_SUFFIX):
            found += _entries(directory / name, head + unquote(name[:-1]))
    return sorted(found, key=lambda entry: entry[0])


def holds_object(directory: Path) -> bool:
    """Whether a directory holds an object at any depth (a crash can leave empty ones behind)."""
    pending = [directory]  # not recursion: keys can nest 512 deep
    while pending:
        current = pending.pop()
        for _, path, is_dir in _entries(current):
            if not is_dir:
                return True
            pending.append(path)
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
    for segment, path, is_dir in _entries(directory):
        key = base + segment
        if not scope.skips(key, is_dir):
            yield key, path, is_dir
