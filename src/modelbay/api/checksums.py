"""Payload checksums as S3 takes them: Content-MD5 and the flexible x-amz-checksum-* algorithms.

A client declares a checksum in a header before the payload, or announces it in `x-amz-trailer`
and sends it in an aws-chunked trailer after the payload; `x-amz-sdk-checksum-algorithm` asks
for one without declaring a value (S3 computes and keeps it). A value is the base64 of the
big-endian digest. Digests are updated per piece as the payload streams through (zlib,
hashlib and awscrt release the GIL on large buffers), and compared once it has ended.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from awscrt import checksums as crt

from modelbay.api.s3_errors import BadDigest, InvalidDigest, InvalidRequest, MalformedTrailer

_CHECKSUM_PREFIX = "x-amz-checksum-"


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _XXHash:
    """An awscrt XXHash with hashlib's interface."""

    def __init__(self, new: Callable[[], crt.XXHash]) -> None:
        self._hash = new()

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return bytes(self._hash.finalize())


class _Crc:
    """A running CRC with hashlib's interface."""

    def __init__(self, function: Callable[[bytes, int], int], size: int) -> None:
        self._function, self._size, self._value = function, size, 0

    def update(self, data: bytes) -> None:
        self._value = self._function(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._size, "big")


@dataclass(frozen=True, eq=False)
class Algorithm:
    """One checksum algorithm, named as S3 names it (CRC32, SHA256)."""

    label: str
    size: int  # bytes of digest
    new: Callable[[], _Digest]

    @property
    def header(self) -> str:
        """Its header and trailer name: x-amz-checksum-crc32."""
        return _CHECKSUM_PREFIX + self.label.lower()

    @property
    def member(self) -> str:
        """Its member in S3's shapes: ChecksumCRC32."""
        return "Checksum" + self.label


ALGORITHMS: dict[str, Algorithm] = {algorithm.label: algorithm for algorithm in (
    Algorithm("CRC32", 4, lambda: _Crc(zlib.crc32, 4)),  # zlib's is faster than awscrt's here
    Algorithm("CRC32C", 4, lambda: _Crc(crt.crc32c, 4)),
    Algorithm("CRC64NVME", 8, lambda: _Crc(crt.crc64nvme, 8)),
    Algorithm("SHA1", 20, hashlib.sha1),
    Algorithm("SHA256", 32, hashlib.sha256),
    Algorithm("SHA512", 64, hashlib.sha512),
    Algorithm("MD5", 16, hashlib.md5),
    Algorithm("XXHASH64", 8, lambda: _XXHash(crt.XXHash.new_xxhash64)),
    Algorithm("XXHASH3", 8, lambda: _XXHash(crt.XXHash.new_xxhash3_64)),
    Algorithm("XXHASH128", 16, lambda: _XXHash(crt.XXHash.new_xxhash3_128)),
)}
_CONTENT_MD5 = Algorithm("Content-MD5", 16, hashlib.md5)  # the old header, not a flexible checksum


class PayloadChecksums:
    """The digests a request's headers ask for, fed the payload piece by piece, then verified.

    Raise InvalidDigest (Content-MD5) or InvalidRequest (x-amz-checksum-*, x-amz-trailer) at once
    for a declared value or trailer that cannot be one of its algorithm.
    """

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._declared = _declared(headers)
        self._trailed = _announced(headers.get("x-amz-trailer", ""))
        wanted = set(self._declared) | set(self._trailed.values())
        requested = ALGORITHMS.get(headers.get("x-amz-sdk-checksum-algorithm", "").upper())
        if requested is not None:
            wanted.add(requested)
        self._digests = {algorithm: algorithm.new() for algorithm in wanted}
        self._values: dict[Algorithm, str] = {}

    def update(self, data: bytes) -> None:
        for digest in self._digests.values():
            digest.update(data)

    def verify(self, trailers: Mapping[str, str]) -> None:
        """Compare the digests with the declared values and the trailers' (lower-case names).
        Raise MalformedTrailer for an announced checksum trailer that did not come or one that
        was not announced, BadDigest for a mismatch."""
        declared = dict(self._declared)
        for name in trailers:
            if name.startswith(_CHECKSUM_PREFIX) and name not in self._trailed:
                raise MalformedTrailer(f"The trailer {name} was not announced in x-amz-trailer")
        for name, algorithm in self._trailed.items():
            if name not in trailers:
                raise MalformedTrailer(f"The trailer {name} announced in x-amz-trailer was not sent")
            declared[algorithm] = trailers[name]
        self._values = {algorithm: base64.b64encode(digest.digest()).decode("ascii")
                        for algorithm, digest in self._digests.items()}
        for algorithm, value in declared.items():
            if value.strip() != self._values[algorithm]:
                raise BadDigest(_mismatch(algorithm))

    @property
    def checksums(self) -> dict[str, str]:
        """The flexible checksums computed (by S3 member name: {"ChecksumCRC32": base64}) once
        verify() has run, whether or not it passed; empty before."""
        return {algorithm.member: value for algorithm, value in self._values.items() if algorithm is not _CONTENT_MD5}


def _declared(headers: Mapping[str, str]) -> dict[Algorithm, str]:
    declared: dict[Algorithm, str] = {}
    md5 = headers.get("content-md5")
    if md5 is not None:
        if not _is_digest(md5, _CONTENT_MD5.size):
            raise InvalidDigest("The Content-MD5 you specified was invalid.")
        declared[_CONTENT_MD5] = md5
    for algorithm in ALGORITHMS.values():
        value = headers.get(algorithm.header)
        if value is not None:
            if not _is_digest(value, algorithm.size):
                raise InvalidRequest(f"Value for {algorithm.header} header is invalid.")
            declared[algorithm] = value
    return declared


def _announced(header: str) -> dict[str, Algorithm]:
    """The checksum trailers an x-amz-trailer header announces, by trailer name."""
    by_header = {algorithm.header: algorithm for algorithm in ALGORITHMS.values()}
    announced: dict[str, Algorithm] = {}
    for name in filter(None, (part.strip().lower() for part in header.split(","))):
        if name not in by_header:
            raise InvalidRequest(f"The value specified in the x-amz-trailer header is not supported: {name}")
        announced[name] = by_header[name]
    return announced


def _is_digest(value: str, size: int) -> bool:
    try:
        return len(base64.b64decode(value.strip(), validate=True)) == size
    except (binascii.Error, ValueError):
        return False


def _mismatch(algorithm: Algorithm) -> str:
    if algorithm is _CONTENT_MD5:
        return "The Content-MD5 you specified did not match what we received."
    return f"The {algorithm.label} you specified did not match the calculated checksum."
