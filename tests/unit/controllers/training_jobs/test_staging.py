"""Staging a training host's /opt/ml: config files, channels (prefix, manifest, file, gzip, sharding), source dir."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from modelbay.config import Settings
from modelbay.controllers.staging import StagingError
from modelbay.controllers.training_jobs.staging import stage_host
from modelbay.platform import Platform, open_platform
from modelbay.store.metadata import TrainingJobSpec
from modelbay.store.objects.base import ObjectMeta


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    platform = open_platform(Settings(data_dir=tmp_path / "data"))
    platform.objects.create_bucket("data", "us-east-1")
    return platform


def put(platform: Platform, key: str, body: bytes) -> None:
    platform.objects.put("data", key, io.BytesIO(body), ObjectMeta())


def spec(channels: list[dict[str, Any]], count: int = 1, **extra: Any) -> TrainingJobSpec:
    """The spec of a job with these channels (its request as the service stores it)."""
    return TrainingJobSpec.from_request({
        "AlgorithmSpecification": {"TrainingImage": "modelbay/sklearn", "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": count},
        "OutputDataConfig": {"S3OutputPath": "s3://data/out"}, "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "InputDataConfig": channels, "HyperParameters": {"epochs": "3"}, **extra})


def channel(name: str, uri: str, **extra: Any) -> dict[str, Any]:
    s3 = {"S3DataType": extra.pop("S3DataType", "S3Prefix"), "S3Uri": uri,
          "S3DataDistributionType": extra.pop("distribution", "FullyReplicated")}
    return {"ChannelName": name, "DataSource": {"S3DataSource": s3}, **extra}


def test_config_files_follow_the_contract(platform: Platform, tmp_path: Path) -> None:
    stage_host(platform.objects, spec([channel("train", "s3://data/none/", ContentType="text/csv")], count=2),
               tmp_path / "h", "algo-2")
    config = tmp_path / "h/input/config"
    assert json.loads((config / "hyperparameters.json").read_text()) == {"epochs": "3"}
    assert json.loads((config / "resourceconfig.json").read_text()) == {
        "current_host": "algo-2", "hosts": ["algo-1", "algo-2"], "current_instance_type": "ml.m5.large",
        "network_interface_name": "eth0"}
    assert json.loads((config / "inputdataconfig.json").read_text()) == {"train": {
        "ContentType": "text/csv", "TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": "None"}}


def test_checkpoint_config_names_the_default_local_path(platform: Platform, tmp_path: Path) -> None:
    stage_host(platform.objects, spec([], CheckpointConfig={"S3Uri": "s3://data/ckpt"}), tmp_path / "h", "algo-1")
    assert json.loads((tmp_path / "h/input/config/checkpointconfig.json").read_text()) == {
        "LocalPath": "/opt/ml/checkpoints", "S3Uri": "s3://data/ckpt"}


def test_prefix_channel_keeps_key_suffixes_and_objects_as_stored(platform: Platform, tmp_path: Path) -> None:
    put(platform, "in/train/a.csv", b"a")
    put(platform, "in/train/sub/b.csv.gz", gzip.compress(b"b", mtime=0))
    put(platform, "other/c.csv", b"c")
    stage_host(platform.objects, spec([channel("plain", "s3://data/in/train/")]), tmp_path / "h", "algo-1")
    data = tmp_path / "h/input/data"
    assert sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file()) == [
        "plain/a.csv", "plain/sub/b.csv.gz"]
    assert (data / "plain/sub/b.csv.gz").read_bytes() == gzip.compress(b"b", mtime=0)  # the same bytes, whenever made


def test_manifest_channel_and_file_channel(platform: Platform, tmp_path: Path) -> None:
    put(platform, "m/x.txt", b"x")
    put(platform, "m/y.txt", b"y")
    put(platform, "manifest", json.dumps([{"prefix": "s3://data/m/"}, "x.txt"]).encode())
    local = tmp_path / "local"
    local.mkdir()
    (local / "f.txt").write_text("f")
    stage_host(platform.objects, spec([channel("man", "s3://data/manifest", S3DataType="ManifestFile"),
                                          channel("file", f"file://{local}")]), tmp_path / "h", "algo-1")
    assert sorted(p.name for p in (tmp_path / "h/input/data/man").iterdir()) == ["x.txt"]
    assert (tmp_path / "h/input/data/file/f.txt").read_text() == "f"


def test_sharded_by_s3_key_splits_objects_between_hosts(platform: Platform, tmp_path: Path) -> None:
    for n in range(5):
        put(platform, f"s/{n}", b"")
    job = spec([channel("train", "s3://data/s/", distribution="ShardedByS3Key")], count=2)
    shares = []
    for host in ("algo-1", "algo-2"):
        stage_host(platform.objects, job, tmp_path / host, host)
        shares.append({p.name for p in (tmp_path / host / "input/data/train").iterdir()})
    assert shares[0] | shares[1] == {"0", "1", "2", "3", "4"} and not shares[0] & shares[1]


def test_sourcedir_is_unpacked_into_code(platform: Platform, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("train.py")
        archive.addfile(info, io.BytesIO(b""))
    put(platform, "src/sourcedir.tar.gz", buffer.getvalue())
    job = spec([], HyperParameters={"sagemaker_submit_directory": json.dumps("s3://data/src/sourcedir.tar.gz")})
    stage_host(platform.objects, job, tmp_path / "h", "algo-1")
    assert (tmp_path / "h/code/train.py").exists()


def test_missing_object_is_a_staging_error(platform: Platform, tmp_path: Path) -> None:
    with pytest.raises(StagingError, match="nosuch"):
        stage_host(platform.objects, spec([channel("man", "s3://nosuch/manifest", S3DataType="ManifestFile")]),
                   tmp_path / "h", "algo-1")
