"""SSE-KMS objects encrypted at rest: sealing.py's segments, and every backend writing and reading through them."""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from modelbay.store.objects import LocalObjectStore, ObjectMeta, ObjectStore
from modelbay.store.objects.base import BucketEncryption, KeysRequired, NotSupported
from modelbay.store.objects.key_paths import object_path
from modelbay.store.objects.sealing import (
    SEGMENT,
    Run,
    SealingStream,
    TamperedObject,
    opened,
    plain_size,
    sealed_size,
    stored_span,
)
from tests.unit.store.objects.fake_keys import ARN, FakeKeyRing, KeyDisabled
from tests.unit.store.objects.test_backends import GeneratedStream, read

DATA = os.urandom(3 * SEGMENT + 1234)  # four segments, the last one short


def kms(key: str = "k1") -> ObjectMeta:
    return ObjectMeta("text/plain", {"owner": "ana"}, {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": ARN + key})


@pytest.fixture
def keys() -> FakeKeyRing:
    return FakeKeyRing()


StoredBytes = Callable[[ObjectStore, str, str], bytes]


@pytest.fixture
def stored_bytes(request: pytest.FixtureRequest) -> StoredBytes:
    """An object's bytes as the backend keeps them: its file's data, or the remote's object."""
    remote: list[Any] = []

    def stored(store: ObjectStore, bucket: str, key: str) -> bytes:
        if isinstance(store, LocalObjectStore):  # an object file: data, record as JSON, the JSON's length, magic
            raw = object_path(store.root / bucket, key).read_bytes()
            (record_length,) = struct.unpack(">I", raw[-12:-8])
            return raw[:len(raw) - 12 - record_length]
        if not remote:
            remote.append(boto3.client("s3", endpoint_url=request.getfixturevalue("moto_url"), region_name="us-east-1",
                                       aws_access_key_id="AKIDTEST", aws_secret_access_key="secret"))
        data: bytes = remote[0].get_object(Bucket=bucket, Key=key)["Body"].read()
        return data

    return stored


# -- the sealing format ----------------------------------------------------------------------------

def sealed(data: bytes, key: bytes, number: int = 0) -> bytes:
    return SealingStream(io.BytesIO(data), key, number).read()


def open_range(stored: bytes, key: bytes, runs: list[Run], first: int, last: int) -> bytes:
    start, end = stored_span(runs, first, last)
    return b"".join(opened(io.BytesIO(stored[start:end + 1]), key, runs, first, last))


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 1234])
def test_sizes_follow_from_the_plaintexts(size: int) -> None:
    stored = sealed(os.urandom(size), AESGCM.generate_key(256))
    assert len(stored) == sealed_size(size) and plain_size(len(stored)) == size


def test_any_range_opens_from_its_segments_alone() -> None:
    key = AESGCM.generate_key(256)
    stored, runs = sealed(DATA, key), [Run(0, len(DATA))]
    for first, last in [(0, len(DATA) - 1), (0, 0), (SEGMENT - 1, SEGMENT), (SEGMENT, 2 * SEGMENT - 1),
                        (len(DATA) - 1, len(DATA) - 1), (100, 3 * SEGMENT + 5)]:
        assert open_range(stored, key, runs, first, last) == DATA[first:last + 1]


def test_runs_of_several_parts_open_across_their_boundaries() -> None:
    key, parts = AESGCM.generate_key(256), [os.urandom(SEGMENT + 7), b"", os.urandom(10)]
    stored = b"".join(sealed(part, key, number) for number, part in enumerate(parts, start=3))
    runs, whole = [Run(n, len(p)) for n, p in enumerate(parts, start=3)], b"".join(parts)
    assert open_range(stored, key, runs, 0, len(whole) - 1) == whole
    assert open_range(stored, key, runs, SEGMENT, SEGMENT + 9) == whole[SEGMENT:SEGMENT + 10]


def test_changed_cut_reordered_or_spliced_bytes_fail_to_open() -> None:
    key = AESGCM.generate_key(256)
    stored, runs = sealed(DATA, key), [Run(0, len(DATA))]
    block = SEGMENT + sealed_size(0)  # a full segment as stored
    flipped = bytearray(stored)
    flipped[block + 100] ^= 1
    swapped = stored[block:2 * block] + stored[:block] + stored[2 * block:]
    cut = stored[:3 * block]  # whole segments, but the last one no longer ends the run
    other_run = sealed(DATA, key, number=1)
    spliced = other_run[:block] + stored[block:]
    for bad, size in [(bytes(flipped), len(DATA)), (swapped, len(DATA)), (cut, 3 * SEGMENT), (spliced, len(DATA))]:
        with pytest.raises(TamperedObject):
            open_range(bad, key, [Run(0, size)], 0, size - 1)
    with pytest.raises(TamperedObject):
        open_range(stored, AESGCM.generate_key(256), runs, 0, 10)  # another object's key


# -- the backends ----------------------------------------------------------------------------------

def test_an_sse_kms_object_is_ciphertext_at_rest_and_reads_back(object_store: ObjectStore, bucket: str,
                                                                keys: FakeKeyRing, stored_bytes: StoredBytes) -> None:
    info = object_store.put(bucket, "data.csv", io.BytesIO(DATA), kms(), keys)
    assert (info.size, info.meta.headers) == (len(DATA), {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": ARN + "k1"})
    at_rest = stored_bytes(object_store, bucket, "data.csv")
    assert DATA[:64] not in at_rest and DATA[-64:] not in at_rest
    head = object_store.head(bucket, "data.csv")
    assert (head.size, head.meta.metadata, head.meta.headers) == (len(DATA), {"owner": "ana"}, info.meta.headers)
    assert read_with(object_store, bucket, "data.csv", keys) == DATA
    ranges: dict[tuple[int | None, int | None], bytes] = {
        (0, 9): DATA[:10], (SEGMENT - 5, SEGMENT + 5): DATA[SEGMENT - 5:SEGMENT + 6], (None, 7): DATA[-7:],
        (2 * SEGMENT, None): DATA[2 * SEGMENT:]}
    for byte_range, expected in ranges.items():
        assert read_with(object_store, bucket, "data.csv", keys, byte_range) == expected


def test_a_large_sse_kms_object_streams_through(object_store: ObjectStore, bucket: str, keys: FakeKeyRing) -> None:
    size = 9 * 1024 * 1024 + 5  # past the S3 backend's part size: it goes up as the remote's multipart upload
    object_store.put(bucket, "big", GeneratedStream(size, seed=3).as_binary(), kms(), keys)
    assert object_store.head(bucket, "big").size == size
    assert read_with(object_store, bucket, "big", keys) == GeneratedStream(size, seed=3).read()


def test_the_managed_key_and_the_buckets_default(object_store: ObjectStore, bucket: str, keys: FakeKeyRing,
                                                 stored_bytes: StoredBytes) -> None:
    managed = ObjectMeta(headers={"ServerSideEncryption": "aws:kms"})
    assert object_store.put(bucket, "m", io.BytesIO(b"x"), managed, keys).meta.headers["SSEKMSKeyId"] == ARN + "aws-s3"
    object_store.set_bucket_encryption(bucket, BucketEncryption("aws:kms", ARN + "k2"))
    info = object_store.put(bucket, "d", io.BytesIO(b"by default"), ObjectMeta(), keys)
    assert info.meta.headers == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": ARN + "k2"}
    assert b"by default" not in stored_bytes(object_store, bucket, "d")
    assert read_with(object_store, bucket, "d", keys) == b"by default"


def test_empty_sse_kms_object(object_store: ObjectStore, bucket: str, keys: FakeKeyRing,
                              stored_bytes: StoredBytes) -> None:
    assert object_store.put(bucket, "empty", io.BytesIO(b""), kms(), keys).size == 0
    assert len(stored_bytes(object_store, bucket, "empty")) == sealed_size(0)
    assert read_with(object_store, bucket, "empty", keys) == b""


def test_without_keys_nothing_is_written_or_read(object_store: ObjectStore, bucket: str, keys: FakeKeyRing) -> None:
    object_store.default_keys = None
    with pytest.raises(KeysRequired):
        object_store.put(bucket, "k", io.BytesIO(b"x"), kms())
    object_store.put(bucket, "k", io.BytesIO(b"x"), kms(), keys)
    with pytest.raises(KeysRequired):
        object_store.open(bucket, "k")
    with pytest.raises(KeysRequired):
        object_store.copy(bucket, "k", bucket, "copy", None)


def test_a_disabled_key_fails_reads_with_kmss_error(object_store: ObjectStore, bucket: str,
                                                   keys: FakeKeyRing) -> None:
    object_store.put(bucket, "k", io.BytesIO(DATA), kms("k2"), keys)
    keys.disabled.add("k2")
    with pytest.raises(KeyDisabled):
        object_store.open(bucket, "k", keys=keys)
    with pytest.raises(KeyDisabled):
        object_store.open(bucket, "k", (0, 10), keys=keys)
    keys.disabled.clear()
    assert read_with(object_store, bucket, "k", keys) == DATA


def test_a_copy_is_encrypted_anew_as_its_target_says(object_store: ObjectStore, bucket: str,
                                                     keys: FakeKeyRing, stored_bytes: StoredBytes) -> None:
    object_store.put(bucket, "src", io.BytesIO(DATA), kms("k1"), keys)
    plain = object_store.copy(bucket, "src", bucket, "plain", None, {"ServerSideEncryption": "AES256"}, keys)
    assert (plain.size, plain.meta.headers) == (len(DATA), {"ServerSideEncryption": "AES256"})
    assert stored_bytes(object_store, bucket, "plain") == DATA
    again = object_store.copy(bucket, "plain", bucket, "again", None, kms("k2").headers, keys)
    assert again.meta.headers["SSEKMSKeyId"] == ARN + "k2" and DATA[:64] not in stored_bytes(object_store, bucket,
                                                                                            "again")
    keys.disabled.add("k1")  # the copy has a data key of its own, under k2
    assert read_with(object_store, bucket, "again", keys) == DATA


def test_an_sse_kms_multipart_upload_seals_each_part(tmp_path: Path, keys: FakeKeyRing,
                                                     stored_bytes: StoredBytes) -> None:
    store = LocalObjectStore(tmp_path)
    store.create_bucket("bkt", "us-east-1")
    upload = store.create_multipart("bkt", "mp", kms(), keys)
    bodies = {1: os.urandom(5 * 1024 * 1024), 2: b"tail"}
    with pytest.raises(KeysRequired):
        store.upload_part("bkt", "mp", upload.upload_id, 1, io.BytesIO(bodies[1]))
    parts = [(n, store.upload_part("bkt", "mp", upload.upload_id, n, io.BytesIO(body), keys)) for n, body in
             bodies.items()]
    assert [p.size for p in store.list_parts("bkt", "mp", upload.upload_id)] == [len(b) for b in bodies.values()]
    info = store.complete_multipart("bkt", "mp", upload.upload_id, [(n, part.etag) for n, part in parts])
    whole = bodies[1] + bodies[2]
    assert (info.size, info.meta.headers["SSEKMSKeyId"]) == (len(whole), ARN + "k1")
    assert bodies[2] not in stored_bytes(store, "bkt", "mp")
    assert read_with(store, "bkt", "mp", keys) == whole
    assert read_with(store, "bkt", "mp", keys, (len(whole) - 10, None)) == whole[-10:]


def test_an_objects_data_key_opens_only_that_object(tmp_path: Path, keys: FakeKeyRing) -> None:
    store = LocalObjectStore(tmp_path)
    store.create_bucket("bkt", "us-east-1")
    store.put("bkt", "a", io.BytesIO(b"secret"), kms(), keys)
    os.replace(object_path(tmp_path / "bkt", "a"), object_path(tmp_path / "bkt", "b"))  # moved on disk
    with pytest.raises(InvalidTag):  # the fake key ring's refusal: the data key was bound to s3://bkt/a
        store.open("bkt", "b", keys=keys)


def test_the_s3_backend_refuses_sse_kms_multipart_uploads(s3_object_store: ObjectStore, unique: str,
                                                          keys: FakeKeyRing) -> None:
    s3_object_store.create_bucket(unique, "us-east-1")
    with pytest.raises(NotSupported):
        s3_object_store.create_multipart(unique, "mp", kms(), keys)
    assert s3_object_store.list_multipart_uploads(unique) == []


def read_with(store: ObjectStore, bucket: str, key: str, keys: FakeKeyRing,
              byte_range: tuple[int | None, int | None] | None = None) -> bytes:
    with store.open(bucket, key, byte_range, keys) as reader:
        return b"".join(reader)


def test_plain_objects_read_as_before(object_store: ObjectStore, bucket: str, keys: FakeKeyRing,
                                      stored_bytes: StoredBytes) -> None:
    object_store.put(bucket, "plain", io.BytesIO(DATA), ObjectMeta())
    assert stored_bytes(object_store, bucket, "plain") == DATA and read(object_store, bucket, "plain") == DATA
    assert keys.decrypted == 0


def test_default_keys_serve_the_calls_that_pass_none(tmp_path: Path, keys: FakeKeyRing) -> None:
    store = LocalObjectStore(tmp_path)
    store.create_bucket("bkt", "us-east-1")
    store.default_keys = keys  # as the server sets them for its own reads and writes
    store.put("bkt", "k", io.BytesIO(DATA), kms())
    assert read(store, "bkt", "k") == DATA and keys.decrypted == 1
