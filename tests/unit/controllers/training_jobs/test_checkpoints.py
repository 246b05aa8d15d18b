"""CheckpointConfig's directory: restored from S3 before the start, synced to S3 (new, changed, deleted files)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from modelbay.config import Settings
from modelbay.controllers.training_jobs.checkpoints import checkpoint_dir, restore, sync
from modelbay.platform import open_platform
from modelbay.store.metadata.training_jobs import Checkpoint
from modelbay.store.objects.base import ObjectMeta, ObjectStore

CHECKPOINT = Checkpoint("s3://ckpt/run1", "/opt/ml/checkpoints")


@pytest.fixture
def objects(tmp_path: Path) -> ObjectStore:
    store = open_platform(Settings(data_dir=tmp_path / "data")).objects
    store.create_bucket("ckpt", "us-east-1")
    return store


def stored(objects: ObjectStore) -> dict[str, bytes]:
    def body(key: str) -> bytes:
        with objects.open("ckpt", key) as reader:
            return reader.read()
    return {info.key: body(info.key) for info in objects.list("ckpt").objects}


def put(objects: ObjectStore, key: str, data: bytes) -> None:
    objects.put("ckpt", key, io.BytesIO(data), ObjectMeta(content_type="application/octet-stream"))


def test_the_local_path_is_the_instance_directory_part_under_opt_ml(tmp_path: Path) -> None:
    assert checkpoint_dir(tmp_path, CHECKPOINT) == tmp_path / "checkpoints"
    assert checkpoint_dir(tmp_path, Checkpoint("s3://ckpt/x", "/opt/ml/model/ckpt")) == tmp_path / "model/ckpt"


def test_restore_copies_the_prefix_only_and_counts_it_as_synced(objects: ObjectStore, tmp_path: Path) -> None:
    put(objects, "run1/epoch", b"2")
    put(objects, "run1/nested/weights.bin", b"w")
    put(objects, "run10/other", b"not ours")  # a prefix that only starts like ours
    manifest = tmp_path / "manifest.json"
    restore(objects, CHECKPOINT, tmp_path / "opt_ml", manifest)
    local = tmp_path / "opt_ml/checkpoints"
    assert sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()) == [
        "epoch", "nested/weights.bin"]
    assert (local / "epoch").read_bytes() == b"2"
    objects.delete("ckpt", "run1/epoch")
    sync(objects, CHECKPOINT, tmp_path / "opt_ml", manifest)  # nothing changed locally: nothing uploaded
    assert "run1/epoch" not in stored(objects)


def test_sync_uploads_new_and_changed_files_and_deletes_removed_ones(objects: ObjectStore, tmp_path: Path) -> None:
    local, manifest = tmp_path / "opt_ml/checkpoints", tmp_path / "manifest.json"
    local.mkdir(parents=True)
    (local / "a").write_bytes(b"1")
    (local / "b").write_bytes(b"1")
    sync(objects, CHECKPOINT, tmp_path / "opt_ml", manifest)
    assert stored(objects) == {"run1/a": b"1", "run1/b": b"1"}
    put(objects, "run1/b", b"changed in S3 only")  # an unchanged local file is not uploaded again
    (local / "a").write_bytes(b"22")
    os.utime(local / "a", ns=(1, 1))  # a changed size alone tells the change
    (local / "b").unlink()
    (local / "c").mkdir()
    (local / "c/d").write_bytes(b"3")
    put(objects, "run1/added-by-others", b"x")
    sync(objects, CHECKPOINT, tmp_path / "opt_ml", manifest)
    assert stored(objects) == {"run1/a": b"22", "run1/c/d": b"3", "run1/added-by-others": b"x"}
