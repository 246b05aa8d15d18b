"""An SSE-KMS object's bytes at rest: AES-256-GCM in segments, under the object's own data key.

The plaintext is cut into 64 KiB segments, each stored as prefix (8 bytes) ‖ ciphertext ‖ tag (16 bytes). An
object is one run (a put) or several (a multipart upload: one per part, every part under the upload's data key).
A run seals its segments with a random 8-byte prefix plus the segment's counter as the 96-bit nonce, and with the
run's number (0 for a put, the part number for a part) and whether the segment ends the run as additional data:
- a segment moved within its run fails to open (its counter is in the nonce), moved into another run too (the
  run's number is in the AAD), and into another object (another data key);
- a run cut short fails at its new end (that segment was not sealed as the last); an empty run is one sealed
  empty segment, so an object is never stored as nothing;
- the prefix is stored with every segment rather than once per run, so a segment opens from its position alone
  and a ranged read reads only the segments it needs.
Stored sizes follow from plaintext sizes (`sealed_size`), so an object's layout is its runs' numbers and sizes.
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from modelbay.store.objects.base import ObjectInfo, ObjectReader, ObjectStoreError

SEGMENT = 64 * 1024
_PREFIX = 8
_TAG = 16
OVERHEAD = _PREFIX + _TAG  # stored bytes a segment adds to its plaintext
_MAX_SEGMENTS = 2**32  # the counter's 4 bytes: 256 TiB a run
_AAD = struct.Struct(">I?")  # run number, last segment of its run


class TamperedObject(ObjectStoreError):
    """An encrypted object's stored bytes are not what was written (changed, cut short, moved or reordered)."""


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class Run:
    """A stretch of an object sealed as one: `number` (0 for a put, else the part number) and plaintext `size`."""

    number: int
    size: int


@dataclass(frozen=True)
class Envelope:
    """What opens an encrypted object besides KMS: its data key as KMS wrapped it, and its runs (none yet: an
    upload's)."""

    wrapped_key: bytes
    runs: tuple[Run, ...] = ()

    @property
    def size(self) -> int:
        """The object's plaintext bytes."""
        return sum(run.size for run in self.runs)

    def encode(self) -> str:
        """As text, for an object's record: '<wrapped key, base64> <number>:<size>,...'."""
        runs = ",".join(f"{run.number}:{run.size}" for run in self.runs)
        return f"{base64.b64encode(self.wrapped_key).decode()} {runs}"

    @classmethod
    def decode(cls, text: str) -> Envelope:
        wrapped, _, runs = text.partition(" ")
        pairs = (run.split(":") for run in runs.split(",") if run)
        return cls(base64.b64decode(wrapped), tuple(Run(int(number), int(size)) for number, size in pairs))


def sealed_size(size: int) -> int:
    """The stored bytes of a run of `size` plaintext bytes."""
    return size + _segment_count(size) * OVERHEAD


class SealingStream:
    """A readable stream of `source`'s bytes sealed as run `number` under `key` (32 bytes); `size` counts the
    plaintext read from the source so far."""

    def __init__(self, source: Readable, key: bytes, number: int = 0) -> None:
        self._source, self._aead, self._number = source, AESGCM(key), number
        self._prefix = os.urandom(_PREFIX)
        self._counter = 0
        self._ahead = _read_up_to(source, SEGMENT)  # a segment is its run's last when nothing follows it
        self._ended = False
        self._out = bytearray()
        self.size = 0

    def read(self, size: int = -1, /) -> bytes:
        while not self._ended and (size < 0 or len(self._out) < size):
            self._out += self._seal_next()
        taken = len(self._out) if size < 0 else min(size, len(self._out))
        chunk = bytes(self._out[:taken])
        del self._out[:taken]
        return chunk

    def _seal_next(self) -> bytes:
        if self._counter >= _MAX_SEGMENTS:
            raise ObjectStoreError("An encrypted object's part holds at most 256 TiB")
        plaintext = self._ahead
        self._ahead = _read_up_to(self._source, SEGMENT) if len(plaintext) == SEGMENT else b""
        self._ended = not self._ahead
        nonce = self._prefix + self._counter.to_bytes(4, "big")
        sealed = self._aead.encrypt(nonce, plaintext, _AAD.pack(self._number, self._ended))
        self._counter += 1
        self.size += len(plaintext)
        return self._prefix + sealed


@dataclass(frozen=True)
class _Segment:
    run: int
    index: int
    is_last: bool
    plain_at: int  # where its plaintext starts in the object's
    stored_at: int  # where it starts in the stored bytes
    size: int  # its plaintext bytes


def stored_span(runs: Sequence[Run], first: int, last: int) -> tuple[int, int]:
    """The stored bytes (first, last inclusive) holding the plaintext bytes first..last (a non-empty range)."""
    segments = list(_segments(runs, first, last))
    return segments[0].stored_at, segments[-1].stored_at + segments[-1].size + OVERHEAD - 1


def opened(stored: Readable, key: bytes, runs: Sequence[Run], first: int, last: int) -> Iterator[bytes]:
    """The plaintext bytes first..last (inclusive) of an object laid out as `runs`, read from `stored`, its stored
    bytes from `stored_span(runs, first, last)[0]` on. Raise TamperedObject when a segment fails to open."""
    aead = AESGCM(key)
    position: int | None = None
    for segment in _segments(runs, first, last):
        if position is not None:
            _read_exactly(stored, segment.stored_at - position)  # an empty run between: not needed
        block = _read_exactly(stored, segment.size + OVERHEAD)
        position = segment.stored_at + len(block)
        nonce = block[:_PREFIX] + segment.index.to_bytes(4, "big")
        try:
            plaintext = aead.decrypt(nonce, block[_PREFIX:], _AAD.pack(segment.run, segment.is_last))
        except InvalidTag:
            raise TamperedObject("An encrypted object's stored bytes fail their authentication") from None
        yield plaintext[max(first - segment.plain_at, 0):last - segment.plain_at + 1]


def _segments(runs: Sequence[Run], first: int, last: int) -> Iterator[_Segment]:
    """The segments holding plaintext first..last, in order (skipping over whole runs and segments by arithmetic)."""
    plain_at = stored_at = 0
    for run in runs:
        count = _segment_count(run.size)
        for index in range(max(first - plain_at, 0) // SEGMENT, count):
            segment_at = plain_at + index * SEGMENT
            size = min(SEGMENT, run.size - index * SEGMENT)
            if segment_at > last:
                return
            if segment_at + size > first:
                yield _Segment(run.number, index, index == count - 1, segment_at,
                               stored_at + index * (SEGMENT + OVERHEAD), size)
        plain_at += run.size
        stored_at += sealed_size(run.size)


class SealedReader(ObjectReader):
    """The plaintext of an encrypted object (or of a range of it), opened segment by segment from its stored bytes."""

    def __init__(self, info: ObjectInfo, byte_range: tuple[int, int] | None, chunks: Iterator[bytes],
                 close: Callable[[], None]) -> None:
        self.info, self.range = info, byte_range
        self._chunks, self._close = chunks, close
        self._buffer = bytearray()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        taken = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        data = bytes(self._buffer[:taken])
        del self._buffer[:taken]
        return data

    def close(self) -> None:
        self._close()


def plain_size(stored: int) -> int:
    """The plaintext bytes of a run stored in `stored` bytes (sealed_size's inverse)."""
    if stored < OVERHEAD:
        raise TamperedObject("An encrypted object's stored bytes are shorter than one segment")
    return stored - -(-stored // (SEGMENT + OVERHEAD)) * OVERHEAD


def _segment_count(size: int) -> int:
    return max(1, -(-size // SEGMENT))


def _read_up_to(source: Readable, size: int) -> bytes:
    """Read `size` bytes, fewer only at the end of the stream (a read may return less)."""
    chunks, left = [], size
    while left > 0 and (chunk := source.read(left)):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_exactly(source: Readable, size: int) -> bytes:
    data = _read_up_to(source, size)
    if len(data) < size:
        raise TamperedObject("An encrypted object's stored bytes are shorter than its layout says")
    return data
