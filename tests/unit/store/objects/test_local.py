"""What only the local backend promises about its folder: odd keys, atomicity, crash leftovers."""

from __future__ import annotations

import gc
import hashlib
import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modelbay.store.objects import (
    InvalidArgument,
    KeyTooLong,
    LocalObjectStore,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    ObjectMeta,
)
from tests.unit.store.objects.test_backends import GeneratedStream, expected_listing, listed, page_through, put, read

ODD_KEYS = ["a", "a/b", "a/", "a//b", "a/b/", "../x", "./y", "x/../y", ".", "..", "a b", "100%", "%2F", "=x",
            "é", "e\u0301", "\ue000", "\U0001f600", ".bucket", ".upload", ".tmp", "a/.bucket", "k=v/=", "/lead"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "objects"


@pytest.fixture
def store(root: Path) -> LocalObjectStore:
    store = LocalObjectStore(root)
    store.create_bucket("bkt", "us-east-1")
    return store


def temp_files(root: Path) -> list[Path]:
    """Files in .tmp other than the lock taken while a store opens."""
    return [path for path in (root / ".tmp").rglob("*") if path.is_file() and path.name != ".open"]


def test_odd_keys_coexist_and_list_in_utf8_byte_order(store: LocalObjectStore) -> None:
    for key in ODD_KEYS:
        put(store, "bkt", key, key.encode())
    for key in ODD_KEYS:
        assert read(store, "bkt", key) == key.encode()
    assert listed(store.list("bkt")) == sorted(ODD_KEYS, key=str.encode)


@pytest.mark.parametrize("delimiter", ["", "/", "//", "b", "=", "é"])
def test_odd_keys_list_like_s3(store: LocalObjectStore, delimiter: str) -> None:
    for key in ODD_KEYS:
        put(store, "bkt", key)
    prefixes = {key[:n] for key in ODD_KEYS for n in range(len(key) + 1)}
    for prefix in sorted(prefixes):
        listing = store.list("bkt", prefix=prefix, delimiter=delimiter)
        assert listed(listing) == expected_listing(ODD_KEYS, prefix, delimiter), prefix
    for start_after in [*ODD_KEYS, "a/b/c", "a0", "\uffff", "a/", "zzz"]:
        listing = store.list("bkt", delimiter=delimiter, start_after=start_after)
        assert listed(listing) == expected_listing(ODD_KEYS, "", delimiter, start_after), start_after
    assert page_through(store, "bkt", 2, delimiter=delimiter) == expected_listing(ODD_KEYS, "", delimiter)


# Segments longer than a file name once encoded, some sharing long beginnings with shorter ones.
LONG_KEYS = ["é" * 43, "é" * 100, "é" * 100 + "/x", "é" * 99 + "a", "é" * 99 + "/y", "é" * 512, "s" * 254,
             "s" * 255, "s" * 254 + "!", "s" * 240 + "/", "s" * 600 + "/" + "t" * 300, "d" * 253 + "/x",
             "\U0001f600" * 256, "x" * 239 + "é" + "z", "x" * 239 + "!", "x" * 239 + "/é" * 50, "a\nb", "\n"]


def test_key_length_limits(store: LocalObjectStore) -> None:
    deep = "a/" * 511 + "bc"  # 1024 bytes
    put(store, "bkt", deep, b"deep")
    assert read(store, "bkt", deep) == b"deep"
    for key in ["a/" * 512 + "b", "é" * 513, "/" * 1023 + "a"]:  # the last: a path longer than PATH_MAX
        with pytest.raises(KeyTooLong):
            put(store, "bkt", key)
    assert listed(store.list("bkt", delimiter="/")) == ["a/"]


@pytest.mark.parametrize("delimiter", ["", "/", "é", "!"])
def test_long_segments_are_stored_and_list_like_s3(store: LocalObjectStore, delimiter: str) -> None:
    for key in LONG_KEYS:
        put(store, "bkt", key, key.encode())
    for key in LONG_KEYS:
        assert read(store, "bkt", key) == key.encode()
    for prefix in ["", "é" * 99, "é" * 100, "s" * 250, "x" * 239, "x" * 239 + "/"]:
        assert listed(store.list("bkt", prefix=prefix, delimiter=delimiter)) == expected_listing(
            LONG_KEYS, prefix, delimiter), prefix
    for start_after in [*LONG_KEYS, "é" * 99, "s" * 254 + " "]:
        listing = store.list("bkt", delimiter=delimiter, start_after=start_after)
        assert listed(listing) == expected_listing(LONG_KEYS, "", delimiter, start_after), start_after
    assert page_through(store, "bkt", 3, delimiter=delimiter) == expected_listing(LONG_KEYS, "", delimiter)


def test_deleting_a_long_key_leaves_no_directory(store: LocalObjectStore, root: Path) -> None:
    put(store, "bkt", "é" * 200 + "/" + "é" * 200)
    store.delete("bkt", "é" * 200 + "/" + "é" * 200)
    assert [p.name for p in (root / "bkt").iterdir()] == [".bucket"]


def test_deleting_prunes_the_directories_left_empty(store: LocalObjectStore, root: Path) -> None:
    put(store, "bkt", "a/b/c")
    put(store, "bkt", "a/x")
    store.delete("bkt", "a/b/c")
    assert sorted(p.name for p in (root / "bkt").rglob("*")) == [".bucket", "=x", "a%2F"]
    store.delete("bkt", "a/x")
    assert [p.name for p in (root / "bkt").iterdir()] == [".bucket"]


def test_a_failing_stream_leaves_the_old_object_and_no_temp_file(store: LocalObjectStore, root: Path) -> None:
    put(store, "bkt", "k", b"old", ObjectMeta("text/plain"))
    for key in ["k", "new/key"]:
        with pytest.raises(OSError, match="checksum"):
            store.put("bkt", key, GeneratedStream(3_000_000, fail_after=2_000_000).as_binary(), ObjectMeta())
    assert read(store, "bkt", "k") == b"old"
    assert store.head("bkt", "k").meta.content_type == "text/plain"
    with pytest.raises(NoSuchKey):
        store.head("bkt", "new/key")
    assert sorted(p.name for p in (root / "bkt").iterdir()) == [".bucket", "=k"]
    assert temp_files(root) == []


def test_a_failing_part_is_not_stored(store: LocalObjectStore, root: Path) -> None:
    upload = store.create_multipart("bkt", "k", ObjectMeta())
    with pytest.raises(OSError, match="checksum"):
        store.upload_part("bkt", "k", upload.upload_id, 1, GeneratedStream(10, fail_after=0).as_binary())
    assert store.list_parts("bkt", "k", upload.upload_id) == []
    assert temp_files(root) == []


def test_leftovers_are_removed_when_a_store_opens(root: Path) -> None:
    store = LocalObjectStore(root)
    store.create_bucket("bkt", "us-east-1")
    put(store, "bkt", "k", b"kept")
    (root / ".tmp" / "tmp-crashed-put").write_bytes(b"partial")
    (root / ".tmp" / "crashed-store").mkdir()
    (root / ".tmp" / "crashed-store" / "tmp-part").write_bytes(b"partial")
    (root / "bkt" / "z%2F" / "y%2F").mkdir(parents=True)  # a put that crashed before its rename

    reopened = LocalObjectStore(root)
    assert not (root / ".tmp" / "tmp-crashed-put").exists()
    assert not (root / ".tmp" / "crashed-store").exists()
    assert listed(reopened.list("bkt", delimiter="/")) == ["k"]
    put(store, "bkt", "still", b"works")  # the first store's temp dir is still its own
    assert read(reopened, "bkt", "still") == b"works"

    del store
    gc.collect()
    LocalObjectStore(root)
    assert len([p for p in (root / ".tmp").iterdir() if p.is_dir()]) == 2  # reopened's and the newest's
    reopened.delete("bkt", "k")
    reopened.delete("bkt", "still")
    reopened.delete_bucket("bkt")  # empty directories are not objects


def test_buckets_and_objects_survive_reopening(store: LocalObjectStore, root: Path) -> None:
    store.create_bucket("west", "eu-west-1")
    info = put(store, "west", "k", b"data", ObjectMeta("text/plain", {"a": "b"}, {"CacheControl": "no-store"}))
    reopened = LocalObjectStore(root)
    assert reopened.head_bucket("west") == store.head_bucket("west")
    assert reopened.head_bucket("west").region == "eu-west-1"
    assert [b.name for b in reopened.list_buckets()] == ["bkt", "west"]
    assert reopened.head("west", "k") == info


def test_an_open_reader_keeps_its_version(store: LocalObjectStore) -> None:
    old = bytes(range(256)) * 4096
    put(store, "bkt", "k", old)
    with store.open("bkt", "k") as reader:
        first = reader.read(1000)
        put(store, "bkt", "k", b"new")
        store.delete("bkt", "k")
        assert first + reader.read() == old
        assert reader.info.etag == f'"{hashlib.md5(old).hexdigest()}"'


def test_readers_see_the_old_or_the_new_object_during_overwrites(store: LocalObjectStore) -> None:
    versions = {b"a" * 300_000, b"b" * 200_000}
    put(store, "bkt", "k", b"a" * 300_000)
    done = threading.Event()

    def overwrite() -> None:
        try:
            for i in range(40):
                put(store, "bkt", "k", sorted(versions)[i % 2])
        finally:
            done.set()

    def read_until_done() -> int:
        reads = 0
        while not done.is_set() or reads == 0:
            with store.open("bkt", "k") as reader:
                data = b"".join(iter(lambda: reader.read(65536), b""))
            assert data in versions
            assert reader.info.etag == f'"{hashlib.md5(data).hexdigest()}"' and reader.info.size == len(data)
            reads += 1
        return reads

    with ThreadPoolExecutor(5) as pool:
        readers = [pool.submit(read_until_done) for _ in range(4)]
        pool.submit(overwrite).result()
        assert all(future.result() > 0 for future in readers)


def test_concurrent_puts_and_deletes_in_shared_directories(store: LocalObjectStore) -> None:
    def churn(worker: int) -> None:
        for i in range(30):
            put(store, "bkt", f"d/e/{worker}-{i}", b"x")
            if i % 2:
                store.delete("bkt", f"d/e/{worker}-{i}")

    with ThreadPoolExecutor(6) as pool:
        for future in [pool.submit(churn, worker) for worker in range(6)]:
            future.result()
    kept = [f"d/e/{w}-{i}" for w in range(6) for i in range(0, 30, 2)]
    assert listed(store.list("bkt")) == sorted(kept, key=str.encode)


def test_completing_removes_the_upload(store: LocalObjectStore, root: Path) -> None:
    upload = store.create_multipart("bkt", "k", ObjectMeta())
    etag = store.upload_part("bkt", "k", upload.upload_id, 1, io.BytesIO(b"only part")).etag
    store.complete_multipart("bkt", "k", upload.upload_id, [(1, etag)])
    assert list((root / ".multipart").iterdir()) == []
    assert temp_files(root) == []
    with pytest.raises(NoSuchUpload):
        store.complete_multipart("bkt", "k", upload.upload_id, [(1, etag)])
    with pytest.raises(NoSuchUpload):
        store.upload_part("bkt", "k", upload.upload_id, 1, io.BytesIO(b"late"))


def test_an_upload_belongs_to_its_bucket_and_key(store: LocalObjectStore) -> None:
    store.create_bucket("other", "us-east-1")
    upload = store.create_multipart("bkt", "k", ObjectMeta())
    for bucket, key, upload_id in [("bkt", "other-key", upload.upload_id), ("other", "k", upload.upload_id),
                                   ("bkt", "k", "../../bkt"), ("bkt", "k", "0" * 32)]:
        with pytest.raises(NoSuchUpload):
            store.upload_part(bucket, key, upload_id, 1, io.BytesIO(b"x"))
    for number in [0, 10_001]:
        with pytest.raises(InvalidArgument):
            store.upload_part("bkt", "k", upload.upload_id, number, io.BytesIO(b"x"))


@pytest.mark.parametrize("name", ["..", ".tmp", ".multipart", "../objects", "bkt/..", "BKT"])
def test_names_outside_the_buckets_are_no_buckets(store: LocalObjectStore, name: str) -> None:
    with pytest.raises(NoSuchBucket):
        store.head_bucket(name)
    with pytest.raises(NoSuchBucket):
        put(store, name, "k")


@pytest.mark.parametrize("durable", [False, True])
def test_durable_stores_fsync_what_they_publish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                durable: bool) -> None:
    store = LocalObjectStore(tmp_path / "root", durable=durable)
    store.create_bucket("bucket", "us-east-1")
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    store.put("bucket", "key", io.BytesIO(b"data"), ObjectMeta())
    assert bool(synced) == durable
