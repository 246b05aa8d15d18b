"""A training job's limits through boto3 against a real server: its instance type's memory, MaxRuntimeInSeconds."""

from __future__ import annotations

import io
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import client
from tests.helpers import ServerProcess, modelbay_server, wait_until
from tests.integration.test_training_jobs import program

BUCKET = "limits"
GRACE_S = 0.5  # the server's stop grace, so a program that ignores SIGTERM is killed soon


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of its own, with a short stop grace."""
    with modelbay_server(tmp_path_factory.mktemp("limits"), env={"MODELBAY_STOP_GRACE_S": str(GRACE_S)}) as proc:
        client(proc.url, "s3").create_bucket(Bucket=BUCKET)
        yield proc


def run_job(server: ServerProcess, name: str, image: str, instance_type: str, max_runtime_s: int) -> dict[str, Any]:
    """Create a training job, wait until it has ended, and return its description."""
    sagemaker = client(server.url, "sagemaker")
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn="arn:aws:iam::000000000000:role/SageMakerRole",
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/out"},
        ResourceConfig={"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": max_runtime_s})
    ended = wait_until(lambda: (job := sagemaker.describe_training_job(TrainingJobName=name))["TrainingJobStatus"]
                       in ("Completed", "Failed", "Stopped") and job, 60, f"job {name} to end")
    assert isinstance(ended, dict)
    return ended


def test_exceeding_the_instance_types_memory_fails_the_job(server: ServerProcess, scratch: Path) -> None:
    hog = "b'x' * (5 * 1024 ** 3)"  # 5 GiB, every page written; ml.t3.medium has 4 GiB
    image = program(scratch / "image", f"exec {sys.executable} -c \"{hog}\"\n")
    job = run_job(server, "memory-hog", image, "ml.t3.medium", max_runtime_s=600)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Failed", "Failed")
    assert job["FailureReason"] == "OutOfMemoryError: the training process exceeded the 4 GiB memory of ml.t3.medium"


def test_a_job_past_max_runtime_is_stopped_and_keeps_its_model(server: ServerProcess, scratch: Path) -> None:
    # it ignores SIGTERM, so only the SIGKILL after the grace ends it within run_job's wait
    image = program(scratch / "image", "echo partial > /opt/ml/model/model.txt\ntrap '' TERM\nsleep 600\n")
    job = run_job(server, "overtime", image, "ml.m5.large", max_runtime_s=2)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert "FailureReason" not in job
    body = client(server.url, "s3").get_object(Bucket=BUCKET, Key="out/overtime/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        model = archive.extractfile("model.txt")
        assert model is not None and model.read() == b"partial\n"
