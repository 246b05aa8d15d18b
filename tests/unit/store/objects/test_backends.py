"""One suite for every ObjectStore backend (the `object_store` fixture runs it on each)."""

from __future__ import annotations

import base64
import hashlib
import io
import random
import zlib
from collections.abc import Callable
from typing import BinaryIO, cast

import pytest

from modelbay.store.objects import (
    BucketAlreadyOwnedByYou,
    BucketEncryption,
    BucketNotEmpty,
    EntityTooSmall,
    InvalidBucketName,
    InvalidPart,
    InvalidPartOrder,
    InvalidRange,
    Listing,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    ObjectInfo,
    ObjectMeta,
    ObjectStore,
)
from modelbay.store.objects.base import NotSupported
from modelbay.store.objects.s3 import S3ObjectStore

MiB = 1024 * 1024
DATA = bytes(range(100))
SSE_S3 = {"ServerSideEncryption": "AES256"}  # what every object records unless told otherwise
SSE_KMS = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "arn:aws:kms:us-east-1:000000000000:key/k1"}
META = ObjectMeta("text/csv", {"owner": "ana", "note": "two words"}, {
    "CacheControl": "no-cache", "ContentDisposition": 'attachment; filename="x.csv"',
    "ContentEncoding": "identity", "ContentLanguage": "en", **SSE_S3})
KEYS = ["a", "a/b", "a/b/c", "a/c", "ab", "b/x/y", "b/z", "c", "d/", "d//e", "e-f", "e/f", "e0"]


class GeneratedStream:
    """`size` pseudo-random bytes made as they are read, so that nothing holds them all (the same
    bytes whatever the sizes of the reads); with
    `fail_after`, read() raises once that many bytes were read (as a body failing its checksum)."""

    def __init__(self, size: int, seed: int = 0, fail_after: int | None = None) -> None:
        self._rng, self._left, self._fail_after = random.Random(seed), size, fail_after
        self._buffer, self.position = b"", 0

    def read(self, size: int = -1) -> bytes:
        if self._fail_after is not None and self.position >= self._fail_after:
            raise OSError("the body does not match its checksum")
        size = self._left + len(self._buffer) if size < 0 else size
        while len(self._buffer) < size and self._left:
            self._buffer += self._rng.randbytes(min(64 * 1024, self._left))
            self._left -= min(64 * 1024, self._left)
        chunk, self._buffer = self._buffer[:size], self._buffer[size:]
        self.position += len(chunk)
        return chunk

    def as_binary(self) -> BinaryIO:
        return cast(BinaryIO, self)  # the stores only call read(), as on a request body


def quoted_md5(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def put(store: ObjectStore, bucket: str, key: str, data: bytes = b"", meta: ObjectMeta | None = None) -> ObjectInfo:
    return store.put(bucket, key, io.BytesIO(data), meta or ObjectMeta())


def read(store: ObjectStore, bucket: str, key: str, byte_range: tuple[int | None, int | None] | None = None) -> bytes:
    with store.open(bucket, key, byte_range) as reader:
        return b"".join(reader)


def expected_listing(keys: list[str], prefix: str = "", delimiter: str = "", start_after: str = "") -> list[str]:
    """What S3 lists, worked out the plain way: keys and common prefixes in UTF-8 byte order."""
    items = set()
    for key in keys:
        if key.startswith(prefix):
            cut = key.find(delimiter, len(prefix)) if delimiter else -1
            item = key if cut < 0 else key[: cut + len(delimiter)]
            if item.encode() > start_after.encode():
                items.add(item)
    return sorted(items, key=str.encode)


def listed(listing: Listing) -> list[str]:
    """A page's keys and common prefixes, in order (checking that each part is in order)."""
    keys = [info.key for info in listing.objects]
    assert keys == sorted(keys, key=str.encode)
    assert listing.common_prefixes == sorted(listing.common_prefixes, key=str.encode)
    return sorted(keys + listing.common_prefixes, key=str.encode)


def page_through(store: ObjectStore, bucket: str, max_keys: int, **query: str) -> list[str]:
    """All items of a listing, fetched max_keys at a time with start_after = the last page's marker."""
    items: list[str] = []
    marker = ""
    while True:
        page = store.list(bucket, start_after=marker, max_keys=max_keys, **query)
        items += listed(page)
        if not page.is_truncated:
            return items
        assert len(page.objects) + len(page.common_prefixes) == max_keys
        assert page.next_marker == items[-1] and page.next_marker.encode() > marker.encode()  # progress
        marker = page.next_marker


def five_mib(fill: int) -> bytes:
    return bytes([fill]) * (5 * MiB)


# -- buckets -----------------------------------------------------------------------------------
def test_bucket_lifecycle(object_store: ObjectStore, unique: str) -> None:
    info = object_store.create_bucket(unique, "us-east-1")
    assert (info.name, info.region) == (unique, "us-east-1") and info.created.tzinfo is not None
    assert object_store.head_bucket(unique) == info
    names = [b.name for b in object_store.list_buckets()]
    assert unique in names and names == sorted(names)
    with pytest.raises(BucketAlreadyOwnedByYou):
        object_store.create_bucket(unique, "us-east-1")

    put(object_store, unique, "k", b"x")
    with pytest.raises(BucketNotEmpty):
        object_store.delete_bucket(unique)
    object_store.delete(unique, "k")
    object_store.delete_bucket(unique)

    with pytest.raises(NoSuchBucket):
        object_store.head_bucket(unique)
    with pytest.raises(NoSuchBucket):
        object_store.delete_bucket(unique)
    assert unique not in [b.name for b in object_store.list_buckets()]


def test_bucket_with_an_upload_is_not_empty(object_store: ObjectStore, bucket: str) -> None:
    upload = object_store.create_multipart(bucket, "k", ObjectMeta())
    with pytest.raises(BucketNotEmpty):
        object_store.delete_bucket(bucket)
    object_store.abort_multipart(bucket, "k", upload.upload_id)
    object_store.delete_bucket(bucket)
    with pytest.raises(NoSuchBucket):
        object_store.head_bucket(bucket)


@pytest.mark.parametrize("name", ["ab", "a" * 64, "Upper", "under_score", "-start", "end-", "a..b",
                                  "192.168.1.1", "xn--abc", "abc-s3alias", ".dot", "sp ace", ""])
def test_invalid_bucket_names(object_store: ObjectStore, name: str) -> None:
    with pytest.raises(InvalidBucketName):
        object_store.create_bucket(name, "us-east-1")


@pytest.mark.parametrize("suffix", ["", ".a-b", "-" + "9" * 40])
def test_unusual_valid_bucket_names(object_store: ObjectStore, unique: str, suffix: str) -> None:
    name = unique + suffix
    object_store.create_bucket(name, "us-east-1")
    assert object_store.head_bucket(name).name == name
    object_store.delete_bucket(name)


def test_a_bucket_named_endpoints_is_ordinary(object_store: ObjectStore) -> None:
    object_store.create_bucket("endpoints", "us-east-1")
    put(object_store, "endpoints", "config", b"ok")
    assert read(object_store, "endpoints", "config") == b"ok"
    object_store.delete("endpoints", "config")
    object_store.delete_bucket("endpoints")


def test_missing_bucket(object_store: ObjectStore, unique: str) -> None:
    store = object_store
    calls: list[Callable[[], object]] = [
        lambda: put(store, unique, "k"), lambda: store.open(unique, "k"), lambda: store.head(unique, "k"),
        lambda: store.delete(unique, "k"), lambda: store.list(unique),
        lambda: store.create_multipart(unique, "k", ObjectMeta()), lambda: store.list_multipart_uploads(unique)]
    for call in calls:
        with pytest.raises(NoSuchBucket):
            call()


# -- objects -----------------------------------------------------------------------------------
def test_put_head_open_delete(object_store: ObjectStore, bucket: str) -> None:
    info = put(object_store, bucket, "dir/hello.txt", b"hello world")
    assert (info.bucket, info.key, info.size, info.etag) == (bucket, "dir/hello.txt", 11, quoted_md5(b"hello world"))
    assert info.last_modified.tzinfo is not None
    head = object_store.head(bucket, "dir/hello.txt")
    assert (head.size, head.etag, head.meta.content_type) == (11, info.etag, "binary/octet-stream")

    with object_store.open(bucket, "dir/hello.txt") as reader:
        assert (reader.info.size, reader.info.etag, reader.range) == (11, info.etag, None)
        assert reader.read(5) == b"hello"
        assert reader.read() == b" world"
        assert reader.read() == b""

    object_store.delete(bucket, "dir/hello.txt")
    with pytest.raises(NoSuchKey):
        object_store.head(bucket, "dir/hello.txt")
    with pytest.raises(NoSuchKey):
        object_store.open(bucket, "dir/hello.txt")
    object_store.delete(bucket, "dir/hello.txt")  # a missing key is not an error


def test_empty_object(object_store: ObjectStore, bucket: str) -> None:
    info = put(object_store, bucket, "empty")
    assert (info.size, info.etag) == (0, quoted_md5(b""))
    assert read(object_store, bucket, "empty") == b""


def test_meta_round_trip(object_store: ObjectStore, bucket: str) -> None:
    checksum = base64.b64encode(zlib.crc32(DATA).to_bytes(4, "big")).decode()
    meta = ObjectMeta(META.content_type, META.metadata, {**META.headers, "ChecksumCRC32": checksum})
    assert put(object_store, bucket, "k", DATA, meta).meta == meta
    assert object_store.head(bucket, "k").meta == meta
    with object_store.open(bucket, "k") as reader:
        assert reader.info.meta == meta


def test_overwrite_replaces_data_and_meta(object_store: ObjectStore, bucket: str) -> None:
    put(object_store, bucket, "k", b"old", META)
    put(object_store, bucket, "k", b"new!", ObjectMeta("text/plain"))
    info = object_store.head(bucket, "k")
    assert (info.size, info.etag, info.meta) == (4, quoted_md5(b"new!"), ObjectMeta("text/plain", headers=SSE_S3))
    assert read(object_store, bucket, "k") == b"new!"


@pytest.mark.parametrize(("byte_range", "first", "last"), [
    ((10, 19), 10, 19), ((0, 0), 0, 0), ((99, 99), 99, 99), ((90, None), 90, 99), ((95, 500), 95, 99),
    ((None, 5), 95, 99), ((None, 100), 0, 99), ((None, 500), 0, 99)])
def test_ranged_reads(object_store: ObjectStore, bucket: str, byte_range: tuple[int | None, int | None],
                      first: int, last: int) -> None:
    put(object_store, bucket, "k", DATA)
    with object_store.open(bucket, "k", byte_range) as reader:
        assert reader.range == (first, last)
        assert reader.info.size == 100
        assert b"".join(reader) == DATA[first: last + 1]


@pytest.mark.parametrize("byte_range", [(100, None), (100, 200), (150, 160), (5, 2), (None, 0)])
def test_unsatisfiable_ranges(object_store: ObjectStore, bucket: str,
                              byte_range: tuple[int | None, int | None]) -> None:
    put(object_store, bucket, "k", DATA)
    with pytest.raises(InvalidRange):
        object_store.open(bucket, "k", byte_range)


# -- listing -----------------------------------------------------------------------------------
def test_list_everything(object_store: ObjectStore, bucket: str) -> None:
    for key in KEYS:
        put(object_store, bucket, key, key.encode())
    listing = object_store.list(bucket)
    assert listed(listing) == sorted(KEYS, key=str.encode) and not listing.is_truncated
    assert [(o.size, o.etag) for o in listing.objects] == [(len(k), quoted_md5(k.encode())) for k in sorted(KEYS)]
    assert not object_store.list(bucket, prefix="zz").objects


def test_list_with_prefix_and_delimiter(object_store: ObjectStore, bucket: str) -> None:
    for key in KEYS:
        put(object_store, bucket, key)
    for delimiter in ["", "/", "-", "b", "//"]:
        for prefix in ["", "a", "a/", "a/b", "b/", "d/", "e", "x"]:
            listing = object_store.list(bucket, prefix=prefix, delimiter=delimiter)
            assert listed(listing) == expected_listing(KEYS, prefix, delimiter), (prefix, delimiter)
            assert not listing.is_truncated


def test_common_prefixes(object_store: ObjectStore, bucket: str) -> None:
    for key in KEYS:
        put(object_store, bucket, key)
    listing = object_store.list(bucket, delimiter="/")
    assert listing.common_prefixes == ["a/", "b/", "d/", "e/"]
    assert [o.key for o in listing.objects] == ["a", "ab", "c", "e-f", "e0"]
    assert object_store.list(bucket, prefix="b/", delimiter="/").common_prefixes == ["b/x/"]


def test_paging_with_start_after(object_store: ObjectStore, bucket: str) -> None:
    for key in KEYS:
        put(object_store, bucket, key)
    for max_keys in [1, 3]:
        for delimiter in ["", "/"]:
            items = page_through(object_store, bucket, max_keys, delimiter=delimiter)
            assert items == expected_listing(KEYS, "", delimiter), (max_keys, delimiter)
        assert page_through(object_store, bucket, max_keys, prefix="a") == expected_listing(KEYS, "a")


def test_start_after_skips_common_prefixes_up_to_it(object_store: ObjectStore, bucket: str) -> None:
    for key in KEYS:
        put(object_store, bucket, key)
    for start_after in ["a/", "a/b", "b/x/y", "d", "e/f"]:
        listing = object_store.list(bucket, delimiter="/", start_after=start_after)
        assert listed(listing) == expected_listing(KEYS, "", "/", start_after), start_after


# -- copy --------------------------------------------------------------------------------------
def test_copy_keeps_or_replaces_meta(object_store: ObjectStore, bucket: str) -> None:
    source = put(object_store, bucket, "src", DATA, META)
    kept = object_store.copy(bucket, "src", bucket, "dst/kept", None)
    assert (kept.key, kept.size, kept.etag, kept.meta) == ("dst/kept", 100, source.etag, META)
    assert read(object_store, bucket, "dst/kept") == DATA

    replaced = object_store.copy(bucket, "src", bucket, "src", ObjectMeta("text/plain", {"v": "2"}))
    assert replaced.meta == ObjectMeta("text/plain", {"v": "2"}, SSE_S3)
    assert object_store.head(bucket, "src").meta == replaced.meta
    assert read(object_store, bucket, "src") == DATA


def test_copy_errors(object_store: ObjectStore, bucket: str, unique: str) -> None:
    with pytest.raises(NoSuchKey):
        object_store.copy(bucket, "missing", bucket, "dst", None)
    put(object_store, bucket, "src", DATA)
    with pytest.raises(NoSuchBucket):
        object_store.copy(bucket, "src", unique + "-missing", "dst", None)


# -- multipart uploads -------------------------------------------------------------------------
def test_multipart_upload(object_store: ObjectStore, bucket: str) -> None:
    store = object_store
    upload = store.create_multipart(bucket, "model.tar.gz", ObjectMeta("application/gzip", {"job": "j1"}))
    assert (upload.bucket, upload.key) == (bucket, "model.tar.gz")
    assert upload.upload_id in [u.upload_id for u in store.list_multipart_uploads(bucket)]
    bodies = {1: five_mib(1), 2: five_mib(2), 3: b"tail"}
    store.upload_part(bucket, "model.tar.gz", upload.upload_id, 1, io.BytesIO(b"replaced later"))
    etags = {n: store.upload_part(bucket, "model.tar.gz", upload.upload_id, n, io.BytesIO(bodies[n])).etag
             for n in (3, 1, 2)}
    assert etags == {n: quoted_md5(body) for n, body in bodies.items()}

    parts = store.list_parts(bucket, "model.tar.gz", upload.upload_id)
    assert [(p.number, p.size, p.etag) for p in parts] == [(n, len(bodies[n]), etags[n]) for n in (1, 2, 3)]

    listed_etags = [(1, etags[1]), (2, etags[2].strip('"')), (3, etags[3])]  # quotes are optional
    info = store.complete_multipart(bucket, "model.tar.gz", upload.upload_id, listed_etags)
    binary_md5s = b"".join(hashlib.md5(bodies[n]).digest() for n in (1, 2, 3))
    assert info.etag == f'"{hashlib.md5(binary_md5s).hexdigest()}-3"'
    assert info.size == 10 * MiB + 4
    head = store.head(bucket, "model.tar.gz")
    assert (head.etag, head.meta.content_type, head.meta.metadata) == (info.etag, "application/gzip", {"job": "j1"})
    assert read(store, bucket, "model.tar.gz") == bodies[1] + bodies[2] + bodies[3]

    assert upload.upload_id not in [u.upload_id for u in store.list_multipart_uploads(bucket)]
    with pytest.raises(NoSuchUpload):
        store.list_parts(bucket, "model.tar.gz", upload.upload_id)


def test_abort_multipart(object_store: ObjectStore, bucket: str) -> None:
    store = object_store
    upload = store.create_multipart(bucket, "k", ObjectMeta())
    store.upload_part(bucket, "k", upload.upload_id, 1, io.BytesIO(b"part"))
    store.abort_multipart(bucket, "k", upload.upload_id)
    assert store.list_multipart_uploads(bucket) == []
    with pytest.raises(NoSuchUpload):
        store.list_parts(bucket, "k", upload.upload_id)
    with pytest.raises(NoSuchUpload):  # (uploading a part now is NoSuchUpload too, but moto answers 500)
        store.abort_multipart(bucket, "k", upload.upload_id)
    with pytest.raises(NoSuchKey):
        store.head(bucket, "k")


def test_list_multipart_uploads_by_key_then_time(object_store: ObjectStore, bucket: str) -> None:
    ids = [object_store.create_multipart(bucket, key, ObjectMeta()).upload_id for key in ["b/2", "a/1", "b/1", "b/1"]]
    uploads = object_store.list_multipart_uploads(bucket, prefix="b/")
    assert [u.key for u in uploads] == ["b/1", "b/1", "b/2"]
    assert {u.upload_id for u in uploads} == {ids[0], ids[2], ids[3]}
    assert uploads[0].initiated <= uploads[1].initiated
    assert [u.key for u in object_store.list_multipart_uploads(bucket)] == ["a/1", "b/1", "b/1", "b/2"]


def test_complete_rejects_bad_part_lists(object_store: ObjectStore, bucket: str) -> None:
    store = object_store
    upload = store.create_multipart(bucket, "k", ObjectMeta())
    bodies = {1: five_mib(1), 2: b"small", 3: b"small too"}
    etags = {n: store.upload_part(bucket, "k", upload.upload_id, n, io.BytesIO(body)).etag
             for n, body in bodies.items()}
    attempts: list[tuple[type[Exception], list[tuple[int, str]]]] = [
        (InvalidPart, [(1, etags[1]), (2, etags[3])]),  # ETag of another part
        (InvalidPart, [(1, etags[1]), (4, etags[3])]),  # never uploaded
        (InvalidPartOrder, [(2, etags[2]), (1, etags[1])]),
        (InvalidPartOrder, [(1, etags[1]), (1, etags[1])]),
        (InvalidPart, []),
        (EntityTooSmall, [(1, etags[1]), (2, etags[2]), (3, etags[3])]),  # part 2 is not the last
    ]
    for error, parts in attempts:
        with pytest.raises(error):
            store.complete_multipart(bucket, "k", upload.upload_id, parts)
    with pytest.raises(NoSuchKey):
        store.head(bucket, "k")
    info = store.complete_multipart(bucket, "k", upload.upload_id, [(1, etags[1]), (3, etags[3])])
    assert info.size == 5 * MiB + len(bodies[3])
    assert read(store, bucket, "k") == bodies[1] + bodies[3]


# -- large bodies ------------------------------------------------------------------------------
def test_large_object_streams_through(object_store: ObjectStore, bucket: str) -> None:
    size = 20 * MiB
    whole, parts = hashlib.md5(), []  # the S3 backend may upload 8 MiB parts
    expected = GeneratedStream(size, seed=7)
    while chunk := expected.read(8 * MiB):
        whole.update(chunk)
        parts.append(hashlib.md5(chunk).digest())
    multipart_etag = f'"{hashlib.md5(b"".join(parts)).hexdigest()}-{len(parts)}"'

    info = object_store.put(bucket, "large", GeneratedStream(size, seed=7).as_binary(), ObjectMeta())
    assert info.size == size and info.etag in (f'"{whole.hexdigest()}"', multipart_etag)
    got, received = hashlib.md5(), 0
    with object_store.open(bucket, "large") as reader:
        for chunk in reader:
            got.update(chunk)
            received += len(chunk)
    assert (received, got.hexdigest()) == (size, whole.hexdigest())


def test_new_objects_get_their_buckets_default_encryption(object_store: ObjectStore, bucket: str) -> None:
    assert object_store.get_bucket_encryption(bucket) == BucketEncryption()
    put(object_store, bucket, "before", DATA, ObjectMeta())
    kms_default = BucketEncryption("aws:kms", SSE_KMS["SSEKMSKeyId"], bucket_key_enabled=True)
    object_store.set_bucket_encryption(bucket, kms_default)
    assert object_store.get_bucket_encryption(bucket) == kms_default
    assert put(object_store, bucket, "after", DATA, ObjectMeta()).meta.headers == SSE_KMS
    assert put(object_store, bucket, "asked", DATA, ObjectMeta(headers=SSE_S3)).meta.headers == SSE_S3
    assert object_store.head(bucket, "after").meta.headers == SSE_KMS
    assert object_store.head(bucket, "before").meta.headers == SSE_S3  # written under the old default
    object_store.set_bucket_encryption(bucket, BucketEncryption())
    assert object_store.get_bucket_encryption(bucket) == BucketEncryption()
    assert object_store.head_bucket(bucket).name == bucket  # the bucket's other facts are kept


def test_bucket_encryption_of_a_missing_bucket(object_store: ObjectStore, unique: str) -> None:
    with pytest.raises(NoSuchBucket):
        object_store.get_bucket_encryption(unique)
    with pytest.raises(NoSuchBucket):
        object_store.set_bucket_encryption(unique, BucketEncryption())


def test_a_copy_is_encrypted_as_asked_or_as_its_bucket_never_as_its_source(object_store: ObjectStore,
                                                                          bucket: str) -> None:
    put(object_store, bucket, "src", DATA, ObjectMeta("text/csv", headers=SSE_KMS))
    plain = object_store.copy(bucket, "src", bucket, "plain", None)
    assert (plain.meta.content_type, plain.meta.headers) == ("text/csv", SSE_S3)
    assert object_store.copy(bucket, "src", bucket, "kms", None, SSE_KMS).meta.headers == SSE_KMS
    object_store.copy(bucket, "src", bucket, "src", None, SSE_S3)  # re-encrypted in place
    assert object_store.head(bucket, "src").meta.headers == SSE_S3
    assert read(object_store, bucket, "src") == DATA


def test_a_multipart_upload_is_encrypted_as_it_was_created(object_store: ObjectStore, bucket: str) -> None:
    if isinstance(object_store, S3ObjectStore):  # it has nowhere to keep an upload's data key: refused, said why
        with pytest.raises(NotSupported, match="in one request"):
            object_store.create_multipart(bucket, "mp", ObjectMeta(headers=SSE_KMS))
        return
    upload = object_store.create_multipart(bucket, "mp", ObjectMeta(headers=SSE_KMS))
    object_store.set_bucket_encryption(bucket, BucketEncryption())  # too late for this upload
    part = object_store.upload_part(bucket, "mp", upload.upload_id, 1, io.BytesIO(DATA))
    assert (upload.meta.headers, part.encryption) == (SSE_KMS, SSE_KMS)
    info = object_store.complete_multipart(bucket, "mp", upload.upload_id, [(1, part.etag)])
    assert info.meta.headers == SSE_KMS
