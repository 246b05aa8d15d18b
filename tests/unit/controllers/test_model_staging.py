"""A serving instance's /opt/ml: the model archive unpacked, an S3 source dir fetched."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from modelbay.config import Settings
from modelbay.controllers.model_staging import stage_container
from modelbay.controllers.staging import StagingError
from modelbay.platform import Platform, open_platform
from modelbay.store.objects.base import ObjectMeta


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    platform = open_platform(Settings(data_dir=tmp_path / "data"))
    platform.objects.create_bucket("models", "us-east-1")
    return platform


def archive(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def put(platform: Platform, key: str, body: bytes) -> str:
    platform.objects.put("models", key, io.BytesIO(body), ObjectMeta())
    return f"s3://models/{key}"


def test_model_and_source_dir_are_unpacked_and_the_variable_keeps_its_s3_uri(platform: Platform,
                                                                            tmp_path: Path) -> None:
    model = put(platform, "m/model.tar.gz", archive({"model.joblib": b"weights", "code/inference.py": b"x"}))
    source = put(platform, "m/sourcedir.tar.gz", archive({"serve.py": b"def model_fn(d): ..."}))
    opt_ml = tmp_path / "instance"
    env = stage_container(platform.objects, {"Image": "modelbay/sklearn", "ModelDataUrl": model, "Environment": {
        "SAGEMAKER_PROGRAM": "serve.py", "SAGEMAKER_SUBMIT_DIRECTORY": source}}, opt_ml)
    assert (opt_ml / "model/model.joblib").read_bytes() == b"weights"
    assert (opt_ml / "model/code/inference.py").read_bytes() == b"x"
    assert (opt_ml / "code/serve.py").is_file()
    assert env == {"SAGEMAKER_PROGRAM": "serve.py", "SAGEMAKER_SUBMIT_DIRECTORY": source}  # as on SageMaker


def test_a_missing_model_archive_is_a_reason_to_fail(platform: Platform, tmp_path: Path) -> None:
    with pytest.raises(StagingError, match="ModelDataUrl s3://models/none.tar.gz could not be unpacked"):
        stage_container(platform.objects, {"Image": "x", "ModelDataUrl": "s3://models/none.tar.gz"}, tmp_path / "i")
