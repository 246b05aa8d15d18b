"""The ObjectStore interface: buckets of objects, close to S3's own model.

Every backend keeps these promises:
- put() and complete_multipart() are atomic: a reader sees the old object or the new one, never
  part of one, and a write that fails (an exception from the data stream included) leaves no trace.
- Data streams through: no call holds a whole object in memory.
- Keys are listed in the order of their UTF-8 bytes, as S3 lists them.
- ETags are S3's: the MD5 of the body in hex, quoted; for a multipart object the MD5 of the
  parts' binary MD5s, then '-<number of parts>'.
- Every object written records its server-side encryption, as S3 does since January 2023: the
  one its writer asked for, else its bucket's default (SSE-S3, AES256, unless
  set_bucket_encryption said otherwise); a copy never takes its source's.
- An SSE-KMS object (aws:kms, aws:kms:dsse) is stored encrypted under a data key of its own, which the
  `keys` (DataKeys) given to the write generates under the KMS key it names (the account's `alias/aws/s3`
  when it names none) and records as that key's ARN; reading it takes `keys` that decrypt the data key.
  Its bytes at rest are sealing.py's; its size and ranges are its plaintext's. A write or read of one
  without `keys` raises KeysRequired, and the errors of `keys` (KMS's) propagate untouched. SSE-S3
  is recorded only: the disk under the store is the operator's to encrypt.
"""

from __future__ import annotations

import abc
import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import pairwise
from typing import BinaryIO, Protocol


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


class NotSupported(ObjectStoreError):
    """What this backend cannot do (its docstring says what)."""

    code = "NotImplemented"


class KeysRequired(ObjectStoreError):
    """An SSE-KMS object was to be written or read without the DataKeys that reach its KMS key."""


class DataKey(Protocol):
    """A KMS data key: 32 bytes to encrypt with, the same as KMS wrapped them, and the ARN of the KMS key."""

    @property
    def plaintext(self) -> bytes: ...

    @property
    def ciphertext_blob(self) -> bytes: ...

    @property
    def key_arn(self) -> str: ...


class DataKeys(Protocol):
    """What the store asks of KMS for SSE-KMS objects: the region's key ring is one; a service passes one that
    also checks its caller's permissions. `context` is KMS's encryption context (see encryption_context)."""

    def generate_data_key(self, key_id: str, context: Mapping[str, str] | None = None) -> DataKey: ...

    def decrypt_data_key(self, ciphertext_blob: bytes, context: Mapping[str, str] | None = None) -> DataKey: ...


MANAGED_KEY = "alias/aws/s3"  # the account's AWS managed key for S3: SSE-KMS that names no key uses it
_KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")


def is_kms(encryption: Mapping[str, str]) -> bool:
    """Whether the server-side encryption members name SSE-KMS (whose objects the store encrypts)."""
    return encryption.get("ServerSideEncryption") in _KMS_ALGORITHMS


def encryption_context(bucket: str, key: str) -> dict[str, str]:
    """The encryption context S3 binds an object's data key to (its ARN), so a data key opens only its object."""
    return {"aws:s3:arn": f"arn:aws:s3:::{bucket}/{key}"}


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


def resolve_range(byte_range: tuple[int | None, int | None], size: int) -> tuple[int, int]:
    """The inclusive (first, last) bytes an HTTP-style range selects; raise InvalidRange if none."""
    first, last = byte_range
    if first is None:
        if last is None or last <= 0:
            raise InvalidRange("The requested range is not satisfiable")
        first, last = max(size - last, 0), size - 1
    elif last is None or last >= size:
        last = size - 1
    if not 0 <= first <= last:
        raise InvalidRange(f"The requested range is not satisfiable: the object has {size} bytes")
    return first, last


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


SSE_MEMBERS = ("ServerSideEncryption", "SSEKMSKeyId")  # an object's encryption, among ObjectMeta.headers


def encryption_of(headers: Mapping[str, str]) -> dict[str, str]:
    """The server-side encryption members among S3 headers (an ObjectMeta's, an S3 response's)."""
    return {name: headers[name] for name in SSE_MEMBERS if headers.get(name)}


def encrypted(meta: ObjectMeta, encryption: Mapping[str, str]) -> ObjectMeta:
    """`meta` with its server-side encryption members replaced by `encryption`'s (none: removed)."""
    others = {name: value for name, value in meta.headers.items() if name not in SSE_MEMBERS}
    return replace(meta, headers={**others, **encryption_of(encryption)})


@dataclass(frozen=True)
class BucketEncryption:
    """A bucket's default encryption, the one rule of S3's ServerSideEncryptionConfiguration. A bucket
    nobody configured has SSE-S3, as every S3 bucket has since January 2023."""

    algorithm: str = "AES256"  # SSEAlgorithm: AES256, aws:kms or aws:kms:dsse
    kms_key_id: str | None = None  # KMSMasterKeyID, with aws:kms or aws:kms:dsse only
    bucket_key_enabled: bool = False

    def object_encryption(self) -> dict[str, str]:
        """The server-side encryption members a new object gets from this default."""
        return encryption_of({"ServerSideEncryption": self.algorithm, "SSEKMSKeyId": self.kms_key_id or ""})


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
    encryption: Mapping[str, str] = field(default_factory=dict)  # the upload's, as UploadPart answers it


@dataclass(frozen=True)
class UploadInfo:
    bucket: str
    key: str
    upload_id: str
    initiated: datetime
    meta: ObjectMeta = field(default_factory=ObjectMeta)
    wrapped_key: bytes | None = None  # SSE-KMS: the data key, as KMS wrapped it, that every part is sealed under


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
    """Buckets of objects. Methods raise the ObjectStoreError subclasses above.

    `default_keys` reach KMS for the calls that pass no `keys` of their own: the server's own reads and
    writes (a job's inputs and outputs, captured data), whose caller is the service itself; a call made
    for a user passes keys that check the user's permissions.
    """

    default_keys: DataKeys | None = None

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

    @abc.abstractmethod
    def get_bucket_encryption(self, bucket: str) -> BucketEncryption:
        """The default encryption of new objects (BucketEncryption() unless set). Raise NoSuchBucket."""

    @abc.abstractmethod
    def set_bucket_encryption(self, bucket: str, encryption: BucketEncryption) -> None:
        """Raise NoSuchBucket."""

    # -- objects ---------------------------------------------------------------------------
    @abc.abstractmethod
    def put(self, bucket: str, key: str, data: BinaryIO, meta: ObjectMeta, keys: DataKeys | None = None) -> ObjectInfo:
        """Store data read to its end, atomically, encrypted as meta says or else as the bucket's
        default; raise NoSuchBucket, KeyTooLong, KeysRequired."""

    @abc.abstractmethod
    def open(self, bucket: str, key: str, byte_range: tuple[int | None, int | None] | None = None,
             keys: DataKeys | None = None) -> ObjectReader:
        """Open an object, or the bytes of an HTTP-style range (first, last inclusive; None=open end,
        (None, n) = the last n bytes). Raise NoSuchBucket, NoSuchKey, InvalidRange, KeysRequired; an
        SSE-KMS object's data key is decrypted before this returns, and a read of bytes that fail their
        authentication raises sealing.TamperedObject."""

    @abc.abstractmethod
    def head(self, bucket: str, key: str) -> ObjectInfo:
        """Raise NoSuchBucket, NoSuchKey."""

    @abc.abstractmethod
    def delete(self, bucket: str, key: str) -> None:
        """Remove an object; a missing key is not an error (as in S3). Raise NoSuchBucket."""

    @abc.abstractmethod
    def copy(self, src_bucket: str, src_key: str, bucket: str, key: str, meta: ObjectMeta | None,
             encryption: Mapping[str, str] | None = None, keys: DataKeys | None = None) -> ObjectInfo:
        """Copy atomically; meta None keeps the source's, but for its encryption: the copy's is
        `encryption` (SSE_MEMBERS) if given, else meta's, else the bucket's default, never the
        source's (as S3), the copy encrypted anew. Raise NoSuchBucket, NoSuchKey, KeysRequired."""

    # -- multipart uploads -----------------------------------------------------------------
    @abc.abstractmethod
    def create_multipart(self, bucket: str, key: str, meta: ObjectMeta, keys: DataKeys | None = None) -> UploadInfo:
        """The upload's encryption is fixed now, as put's is (see put): an SSE-KMS upload's data key too, every
        part sealed under it. Raise NoSuchBucket, KeysRequired."""

    @abc.abstractmethod
    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: BinaryIO,
                    keys: DataKeys | None = None) -> PartInfo:
        """Store one part (1..10000, else InvalidArgument), replacing an earlier one of the same number.
        Raise NoSuchUpload (also when the upload is another key's), KeysRequired (an SSE-KMS upload's
        part needs `keys` to decrypt the upload's data key)."""

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

    def _encrypted(self, bucket: str, meta: ObjectMeta, encryption: Mapping[str, str] | None = None) -> ObjectMeta:
        """meta encrypted as `encryption` says, else as it says itself, else as the bucket's default."""
        chosen = encryption_of(encryption or {}) or encryption_of(meta.headers)
        return encrypted(meta, chosen or self.get_bucket_encryption(bucket).object_encryption())

    def _new_data_key(self, bucket: str, key: str, meta: ObjectMeta,
                      keys: DataKeys | None) -> tuple[ObjectMeta, DataKey | None]:
        """For an SSE-KMS meta, a new data key and meta naming its KMS key by ARN; else meta and None."""
        if not is_kms(meta.headers):
            return meta, None
        keys = keys or self.default_keys
        if keys is None:
            raise KeysRequired(f"s3://{bucket}/{key} is to be encrypted with SSE-KMS: writing it needs its KMS key")
        data_key = keys.generate_data_key(meta.headers.get("SSEKMSKeyId") or MANAGED_KEY,
                                          encryption_context(bucket, key))
        return encrypted(meta, {**meta.headers, "SSEKMSKeyId": data_key.key_arn}), data_key

    def _data_key(self, keys: DataKeys | None, wrapped: bytes, bucket: str, key: str) -> bytes:
        """The plaintext of an SSE-KMS object's (or upload's) data key; raise KeysRequired without keys."""
        keys = keys or self.default_keys
        if keys is None:
            raise KeysRequired(f"s3://{bucket}/{key} is encrypted with SSE-KMS: reading it needs its KMS key")
        return keys.decrypt_data_key(wrapped, encryption_context(bucket, key)).plaintext

    # -- listing (last: below it, `list` in annotations would name this method) ---------------
    @abc.abstractmethod
    def list(self, bucket: str, prefix: str = "", delimiter: str = "", start_after: str = "",
             max_keys: int = 1000) -> Listing:
        """Keys after start_after that begin with prefix, in order; with a delimiter, keys that hold it
        past the prefix are rolled up into common prefixes (each counts once against max_keys)."""
