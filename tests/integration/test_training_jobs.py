"""Training jobs through boto3 against a real server: a bring-your-own program that hard-codes /opt/ml."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import WaiterError

from tests.conftest import client
from tests.helpers import ServerProcess, wait_until

WAITER = {"Delay": 1, "MaxAttempts": 60}
DIRECTORY = "application/vnd.modelbay.directory.v1+json"


def program(directory: Path, script: str) -> str:
    directory.mkdir()
    (directory / "train").write_text("#!/bin/sh\n" + script)
    (directory / "train").chmod(0o755)
    return str(directory)


def create(sagemaker: Any, name: str, image: str, bucket: str) -> None:
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn="arn:aws:iam::000000000000:role/SageMakerRole",
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File",
                                "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}]},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})


def test_bring_your_own_program_completes(sagemaker: Any, s3: Any, server: ServerProcess, bucket: str,
                                          unique: str, scratch: Path) -> None:
    image = program(scratch / "image", "cat /opt/ml/input/data/train/rows.csv\n"
                    "cp /opt/ml/input/data/train/rows.csv /opt/ml/model/model.txt\necho loss=0.25\n")
    create(sagemaker, unique, image, bucket)
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=unique, WaiterConfig=WAITER)
    job = sagemaker.describe_training_job(TrainingJobName=unique)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert [(m["MetricName"], m["Value"]) for m in job["FinalMetricDataList"]] == [("loss", 0.25)]
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{bucket}/out/{unique}/output/model.tar.gz"
    body = s3.get_object(Bucket=bucket, Key=f"out/{unique}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        model = archive.extractfile("model.txt")
        assert model is not None and model.read() == b"1,2\n"
    logs = client(server.url, "logs")
    stream = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                       logStreamNamePrefix=f"{unique}/algo-1-")["logStreams"][0]["logStreamName"]
    events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream,
                                 startFromHead=True)["events"]
    assert [e["message"] for e in events] == ["1,2", "loss=0.25"]


def test_failing_program_fails_with_its_failure_file(sagemaker: Any, bucket: str, unique: str, scratch: Path) -> None:
    create(sagemaker, unique, program(scratch / "image", "echo 'no rows' > /opt/ml/output/failure\nexit 1\n"), bucket)
    with pytest.raises(WaiterError, match="Failed"):  # the waiter's failure state
        sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=unique, WaiterConfig=WAITER)
    job = sagemaker.describe_training_job(TrainingJobName=unique)
    assert (job["TrainingJobStatus"], job["FailureReason"]) == ("Failed", "AlgorithmError: no rows, exit code: 1")


def test_stop_training_job(sagemaker: Any, bucket: str, unique: str, scratch: Path) -> None:
    create(sagemaker, unique, program(scratch / "image", "sleep 60\n"), bucket)
    wait_until(lambda: sagemaker.describe_training_job(TrainingJobName=unique)["SecondaryStatus"] == "Training",
               30, "the job to train")
    sagemaker.stop_training_job(TrainingJobName=unique)
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=unique, WaiterConfig=WAITER)
    assert sagemaker.describe_training_job(TrainingJobName=unique)["TrainingJobStatus"] == "Stopped"


def test_an_image_registered_in_the_registry_runs_by_its_ecr_uri(sagemaker: Any, server: ServerProcess, bucket: str,
                                                                 unique: str, scratch: Path) -> None:
    ecr = client(server.url, "ecr")
    repository = ecr.create_repository(repositoryName=unique)["repository"]
    directory = program(scratch / "image", "echo loss=0.5\n")
    manifest = {"schemaVersion": 1, "mediaType": DIRECTORY, "directory": directory}
    ecr.put_image(repositoryName=unique, imageManifest=json.dumps(manifest), imageManifestMediaType=DIRECTORY,
                  imageTag="v1")
    create(sagemaker, unique, f"{repository['repositoryUri']}:v1", bucket)
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=unique, WaiterConfig=WAITER)
    job = sagemaker.describe_training_job(TrainingJobName=unique)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert [(m["MetricName"], m["Value"]) for m in job["FinalMetricDataList"]] == [("loss", 0.5)]


def test_a_registered_container_image_fails_with_a_reason(sagemaker: Any, server: ServerProcess, bucket: str,
                                                          unique: str) -> None:
    ecr = client(server.url, "ecr")
    repository = ecr.create_repository(repositoryName=unique)["repository"]
    oci = "application/vnd.oci.image.index.v1+json"  # an image index needs no layers pushed first
    ecr.put_image(repositoryName=unique, imageManifest=json.dumps({"schemaVersion": 2, "mediaType": oci,
                                                                   "manifests": []}),
                  imageManifestMediaType=oci, imageTag="latest")
    create(sagemaker, unique, repository["repositoryUri"], bucket)  # no tag: latest
    with pytest.raises(WaiterError, match="Failed"):
        sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=unique, WaiterConfig=WAITER)
    reason = sagemaker.describe_training_job(TrainingJobName=unique)["FailureReason"]
    assert "is a container image (application/vnd.oci.image.index.v1+json)" in reason
