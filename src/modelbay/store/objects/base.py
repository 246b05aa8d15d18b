"""The ObjectStore interface: buckets of objects, close to S3's own model.

Every backend keeps these promises:
- put() and complete_multipart() are atomic: a reader sees the old object or the new one, never
  part of one, and a write that fails (an exception from the data stream included) leaves no trace.
- Data streams through: no call holds a whole object in memory.
- Keys are listed in the order of their UTF-8 bytes, as S3 lists them.
- ETags are S3's: the MD5 of the body in hex, quoted; for a multipart object the MD5 of the
  parts' binary MD5s, then '-<number of parts>'.
"""

from __future__ import annotations

import abc
import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import BinaryIO


class ObjectStoreError(Exception):
    """Base of the store's errors; `code` is the S3 error code it corresponds to."""

    code = "InternalError"


class StoreUnavailable(ObjectStoreError):
    """The backend cannot be reached or failed (an S3-compatible service down, say)."""

    code = "ServiceUnavailable"


class NoSuchBucket(ObjectStoreError):
    code = "NoSuchBucket"


class NoSuchKey(ObjectStoreError):
    code = "NoSuchKey"


class BucketNotEmpty(ObjectStoreError):
    code = "BucketNotEmpty"


class BucketAlreadyOwnedByYou(ObjectStoreError):
    code = "BucketAlreadyOwnedByYou"


class InvalidRange(ObjectStoreError):
    code = "InvalidRange"


class NoSuchUpload(ObjectStoreError):
    code = "NoSuchUpload"


class InvalidPart(ObjectStoreError):
    code = "InvalidPart"


class InvalidPartOrder(ObjectStoreError):
    code = "InvalidPartOrder"


class EntityTooSmall(ObjectStoreError):
    code = "EntityTooSmall"


class KeyTooLong(ObjectStoreError):
    code = "KeyTooLongError"


class InvalidBucketName(ObjectStoreError):
    code = "InvalidBucketName"


class InvalidArgument(ObjectStoreError):
    code = "InvalidArgument"


_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_RESERVED_BUCKET_AFFIXES = (("xn--", "sthree-"), ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"))


def check_bucket_name(name: str) -> None:
    """Raise InvalidBucketName unless `name` follows S3's rules for general purpose buckets."""
    prefixes, suffixes = _RESERVED_BUCKET_AFFIXES
    if (not _BUCKET_NAME.fullmatch(name) or ".." in name or name.startswith(prefixes)
            or name.endswith(suffixes) or _is_ip_address(name)):
        raise InvalidBucketName(
            f"The specified bucket is not valid: {name!r}. Bucket names have 3 to 63 lowercase letters, "
            "digits, dots and hyphens, begin and end with a letter or digit, and are not IP addresses.")


def check_part_list(parts: list[tuple[int, str]]) -> None:
    """Raise InvalidPart for no parts, InvalidPartOrder unless part numbers strictly ascend (checked
    by every backend, as some S3-compatible servers do not)."""
    if not parts:
        raise InvalidPart("A multipart upload is completed with at least one part")
    if any(later <= earlier for (earlier, _), (later, _) in pairwise(parts)):
        raise InvalidPartOrder("The list of parts was not in ascending order")


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ObjectMeta:
    """What a writer says about an object besides its bytes.

    `headers` holds S3's other stored headers by their S3 member names
    (CacheControl, ContentDisposition, ContentEncoding, ContentLanguage, and checksums such as
    ChecksumCRC32), returned as they were given.
    """

    content_type: str = "binary/octet-stream"
    metadata: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # quoted, as S3 gives it: '"9b2cf535f27731c974343645a3985328"'
    last_modified: datetime  # timezone-aware UTC
    meta: ObjectMeta = field(default_factory=ObjectMeta)


@dataclass(frozen=True)
class BucketInfo:
    name: str
    created: datetime
    region: str


@dataclass(frozen=True)
class Listing:
    """One page of a listing. `next_marker` is the last key or common prefix of the page."""

    objects: list[ObjectInfo]
    common_prefixes: list[str]
    is_truncated: bool
    next_marker: str | None


@dataclass(frozen=True)
class PartInfo:
    number: int
    size: int
    etag: str
    last_modified: datetime


@dataclass(frozen=True)
class UploadInfo:
    bucket: str
    key: str
    upload_id: str
    initiated: datetime
    meta: ObjectMeta = field(default_factory=ObjectMeta)


class ObjectReader(abc.ABC):
    """A readable body of an object (or of a range of it); close it when done."""

    info: ObjectInfo
    range: tuple[int, int] | None  # inclusive first and last byte, or None for the whole object

    @abc.abstractmethod
    def read(self, size: int = -1) -> bytes: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(1024 * 1024):
            yield chunk

    def __enter__(self) -> ObjectReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ObjectStore(abc.ABC):
    """Buckets of objects. Methods raise the ObjectStoreError subclasses above."""

    # -- buckets ---------------------------------------------------------------------------
    @abc.abstractmethod
    def create_bucket(self, bucket: str, region: str) -> BucketInfo:
        """Raise InvalidBucketName (see check_bucket_name), BucketAlreadyOwnedByYou if it exists."""

    @abc.abstractmethod
    def delete_bucket(self, bucket: str) -> None:
        """Raise NoSuchBucket, or BucketNotEmpty while it holds objects or multipart uploads."""

    @abc.abstractmethod
    def head_bucket(self, bucket: str) -> BucketInfo:
        """Raise NoSuchBucket."""

    @abc.abstractmethod
    def list_buckets(self) -> list[BucketInfo]:
        """All buckets by name."""

    # -- objects ---------------------------------------------------------------------------
    @abc.abstractmethod
    def put(self, bucket: str, key: str, data: BinaryIO, meta: ObjectMeta) -> ObjectInfo:
        """Store data read to its end, atomically; raise NoSuchBucket, KeyTooLong."""

    @abc.abstractmethod
    def open(self, bucket: str, key: str, byte_range: tuple[int | None, int | None] | None = None) -> ObjectReader:
        """Open an object, or the bytes of an HTTP-style range (first, last inclusive; None=open end,
        (None, n) = the last n bytes). Raise NoSuchBucket, NoSuchKey, InvalidRange."""

    @abc.abstractmethod
    def head(self, bucket: str, key: str) -> ObjectInfo:
        """Raise NoSuchBucket, NoSuchKey."""

    @abc.abstractmethod
    def delete(self, bucket: str, key: str) -> None:
        """Remove an object; a missing key is not an error (as in S3). Raise NoSuchBucket."""

    @abc.abstractmethod
    def copy(self, src_bucket: str, src_key: str, bucket: str, key: str, meta: ObjectMeta | None) -> ObjectInfo:
        """Copy atomically; meta None keeps the source's. Raise NoSuchBucket, NoSuchKey."""

    # -- multipart uploads -----------------------------------------------------------------
    @abc.abstractmethod
    def create_multipart(self, bucket: str, key: str, meta: ObjectMeta) -> UploadInfo:
        """Raise NoSuchBucket."""

    @abc.abstractmethod
    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: BinaryIO) -> PartInfo:
        """Store one part (1..10000, else InvalidArgument), replacing an earlier one of the same number.
        Raise NoSuchUpload (also when the upload is another key's)."""

    @abc.abstractmethod
    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        """Parts uploaded so far, by number. Raise NoSuchUpload."""

    @abc.abstractmethod
    def complete_multipart(self, bucket: str, key: str, upload_id: str,
                           parts: list[tuple[int, str]]) -> ObjectInfo:
        """Assemble the listed (number, etag) parts, atomically. Raise NoSuchUpload, InvalidPart
        (no parts, a missing part or an ETag mismatch), InvalidPartOrder (see check_part_list),
        EntityTooSmall (a part but the last under 5 MiB)."""

    @abc.abstractmethod
    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        """Drop an upload and its parts. Raise NoSuchUpload."""

    @abc.abstractmethod
    def list_multipart_uploads(self, bucket: str, prefix: str = "") -> list[UploadInfo]:
        """Uploads in progress, by key then initiation time. Raise NoSuchBucket."""

    # -- listing (last: below it, `list` in annotations would name this method) ---------------
    @abc.abstractmethod
    def list(self, bucket: str, prefix: str = "", delimiter: str = "", start_after: str = "",
             max_keys: int = 1000) -> Listing:
        """Keys after start_after that begin with prefix, in order; with a delimiter, keys that hold it
        past the prefix are rolled up into common prefixes (each counts once against max_keys)."""
