"""Estimator's CreateTrainingJob requests, built against a fake session that records what would be sent."""

from __future__ import annotations

import io
import json
import re
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelbay.sdk import Estimator, TrainingInput
from modelbay.sdk.names import name_from_base
from tests.unit.sdk.offline import BUCKET, FakeS3

MODEL = botocore.session.get_session().get_service_model("sagemaker")
JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


class FakeSageMaker:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = "InProgress"

    def create_training_job(self, **request: Any) -> dict[str, Any]:
        report = ParamValidator().validate(request, MODEL.operation_model("CreateTrainingJob").input_shape)
        assert not report.has_errors(), report.generate_report()
        self.requests.append(request)
        return {"TrainingJobArn": "arn"}

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:  # noqa: N803 (boto3's spelling)
        return {"TrainingJobName": TrainingJobName, "TrainingJobStatus": self.status,
                "ModelArtifacts": {"S3ModelArtifacts": f"s3://{BUCKET}/{TrainingJobName}/output/model.tar.gz"}}


class FakeSession:
    """What Estimator uses of a Session, with a region and account other than the defaults."""

    region, account_id = "us-west-2", "123456789012"

    def __init__(self) -> None:
        self.sagemaker, self.s3 = FakeSageMaker(), FakeS3()

    def default_bucket(self) -> str:
        return BUCKET


@pytest.fixture
def session() -> FakeSession:
    return FakeSession()


def sent(session: FakeSession, **kwargs: Any) -> dict[str, Any]:
    """The one CreateTrainingJob request an Estimator(**kwargs).fit(wait=False) sends."""
    inputs = kwargs.pop("inputs", None)
    Estimator(session=session, **kwargs).fit(inputs, wait=False)  # type: ignore[arg-type]
    [request] = session.sagemaker.requests
    return request


def archive_names(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return set(archive.getnames())


def test_bring_your_own_image_sends_hyperparameters_as_strings(session: FakeSession) -> None:
    request = sent(session, image_uri="/images/trainer", hyperparameters={"epochs": 10, "lr": 0.5, "name": "x"},
                   inputs="s3://data/train/")
    name = request.pop("TrainingJobName")
    assert re.fullmatch(r"trainer-\d{4}(-\d{2}){5}-\d{3}", name)
    assert request == {
        "AlgorithmSpecification": {"TrainingImage": "/images/trainer", "TrainingInputMode": "File"},
        "HyperParameters": {"epochs": "10", "lr": "0.5", "name": "x"},
        "InputDataConfig": [{"ChannelName": "training", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://data/train/", "S3DataDistributionType": "FullyReplicated"}}}],
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400}}
    assert session.s3.objects == {}  # no code to upload


def test_script_mode_json_encodes_hyperparameters_and_uploads_the_entry_point(session: FakeSession,
                                                                             tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "other.py").write_text("")  # not in the source dir: only the entry point is packed
    request = sent(session, framework="sklearn", framework_version="1.2-1", entry_point=str(tmp_path / "train.py"),
                   hyperparameters={"epochs": 10, "name": "x", "shuffle": True, "layers": [1, 2]})
    name = request["TrainingJobName"]
    source = f"s3://{BUCKET}/{name}/source/sourcedir.tar.gz"
    assert name.startswith("sklearn-")
    assert request["AlgorithmSpecification"]["TrainingImage"] == "modelbay/sklearn:1.2-1"
    assert request["HyperParameters"] == {
        "epochs": "10", "name": '"x"', "shuffle": "true", "layers": "[1, 2]", "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": json.dumps(source), "sagemaker_container_log_level": "20",
        "sagemaker_job_name": json.dumps(name), "sagemaker_region": '"us-west-2"'}
    assert archive_names(session.s3.objects[(BUCKET, f"{name}/source/sourcedir.tar.gz")]) == {"train.py"}


def test_source_dir_is_packed_whole_with_the_entry_point_relative_to_it(session: FakeSession, tmp_path: Path) -> None:
    (tmp_path / "src" / "jobs").mkdir(parents=True)
    (tmp_path / "src" / "jobs" / "train.py").write_text("")
    (tmp_path / "src" / "requirements.txt").write_text("numpy\n")
    request = sent(session, framework="python", entry_point="jobs/train.py", source_dir=str(tmp_path / "src"))
    assert request["AlgorithmSpecification"]["TrainingImage"] == "modelbay/python"  # no version needed
    assert request["HyperParameters"]["sagemaker_program"] == '"jobs/train.py"'
    [(_, data)] = session.s3.objects.items()
    assert archive_names(data) == {"jobs", "jobs/train.py", "requirements.txt"}


def test_an_entry_point_that_is_not_a_file_fails_before_anything_is_sent(session: FakeSession,
                                                                         tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="entry_point 'train.py' is not a file in"):
        Estimator(framework="python", entry_point="train.py", source_dir=str(tmp_path), session=session).fit()
    assert session.sagemaker.requests == []


@pytest.mark.parametrize(("framework", "version", "image"), [
    ("sklearn", "1.2-1", "modelbay/sklearn:1.2-1"), ("xgboost", "1.7-1", "modelbay/xgboost:1.7-1"),
    ("pytorch", "2.2", "modelbay/pytorch:2.2"), ("python", None, "modelbay/python"),
    ("python", "3.11", "modelbay/python:3.11"),
])
def test_frameworks_name_modelbay_images(session: FakeSession, tmp_path: Path, framework: str, version: str | None,
                                         image: str) -> None:
    (tmp_path / "train.py").write_text("")
    request = sent(session, framework=framework, framework_version=version, entry_point=str(tmp_path / "train.py"))
    assert request["AlgorithmSpecification"]["TrainingImage"] == image
    assert request["TrainingJobName"].startswith(image.split("/")[1].split(":")[0] + "-")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "exactly one of image_uri or framework"),
    ({"image_uri": "img", "framework": "python", "entry_point": "t.py"}, "exactly one of image_uri or framework"),
    ({"framework": "tensorflow", "framework_version": "2", "entry_point": "t.py"}, "not one of sklearn, xgboost"),
    ({"framework": "xgboost", "entry_point": "t.py"}, "'xgboost' needs a framework_version"),
    ({"image_uri": "img", "framework_version": "1"}, "framework_version goes with framework"),
    ({"framework": "pytorch", "framework_version": "2.2"}, "runs a script: give entry_point"),
    ({"image_uri": "img", "source_dir": "src"}, "source_dir needs an entry_point"),
])
def test_bad_combinations_are_value_errors(session: FakeSession, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Estimator(session=session, **kwargs)  # type: ignore[arg-type]


def test_inputs_become_channels(session: FakeSession) -> None:
    request = sent(session, image_uri="img", inputs={
        "train": "s3://b/train", "test": TrainingInput("s3://b/test.manifest", content_type="text/csv",
                                                      compression="Gzip", distribution="ShardedByS3Key",
                                                      s3_data_type="ManifestFile")})
    assert request["InputDataConfig"] == [
        {"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://b/train", "S3DataDistributionType": "FullyReplicated"}}},
        {"ChannelName": "test", "DataSource": {"S3DataSource": {
            "S3DataType": "ManifestFile", "S3Uri": "s3://b/test.manifest", "S3DataDistributionType": "ShardedByS3Key"}},
         "ContentType": "text/csv", "CompressionType": "Gzip"}]


def test_local_data_is_refused_with_a_pointer_to_upload_data(session: FakeSession) -> None:
    with pytest.raises(ValueError, match="must be an s3:// URI, not '/data/train': .*upload_data"):
        Estimator("img", session=session).fit("/data/train", wait=False)  # type: ignore[arg-type]
    assert session.sagemaker.requests == []


def test_explicit_settings_are_sent(session: FakeSession) -> None:
    metrics = [{"Name": "loss", "Regex": "loss=([0-9.]+)"}]
    request = sent(session, image_uri="img", instance_type="ml.c5.xlarge", instance_count=2,
                   metric_definitions=metrics, role="arn:aws:iam::1:role/R", output_path="s3://out/models",
                   max_run=600, environment={"SEED": "1"}, base_job_name="nightly")
    assert request["TrainingJobName"].startswith("nightly-")
    assert request["AlgorithmSpecification"]["MetricDefinitions"] == metrics
    assert request["ResourceConfig"] == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30}
    assert (request["RoleArn"], request["OutputDataConfig"], request["StoppingCondition"], request["Environment"]) == (
        "arn:aws:iam::1:role/R", {"S3OutputPath": "s3://out/models"}, {"MaxRuntimeInSeconds": 600}, {"SEED": "1"})
    assert "InputDataConfig" not in request and "HyperParameters" not in request


def test_fit_uses_the_job_name_given(session: FakeSession) -> None:
    Estimator("img", session=session).fit(wait=False, job_name="exact-name")  # type: ignore[arg-type]
    assert session.sagemaker.requests[0]["TrainingJobName"] == "exact-name"


@pytest.mark.parametrize(("image", "base"), [
    ("modelbay/sklearn:1.2-1", "sklearn"),
    ("modelbay/python", "python"),
    ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3", "sagemaker-scikit-learn"),
    ("/tmp/my_trainer.v2/", "my-trainer-v2"),
])
def test_job_names_derive_from_the_image(session: FakeSession, image: str, base: str) -> None:
    name = sent(session, image_uri=image)["TrainingJobName"]
    assert re.fullmatch(re.escape(base) + r"-\d{4}(-\d{2}){5}-\d{3}", name)


def test_job_names_carry_the_utc_time_to_the_millisecond_within_63_characters() -> None:
    moment = datetime(2026, 11, 25, 10, 33, 26, 123456, tzinfo=UTC)
    assert name_from_base("sklearn", moment) == "sklearn-2026-11-25-10-33-26-123"
    long = name_from_base("b" * 80, moment)
    assert long == "b" * 39 + "-2026-11-25-10-33-26-123"
    assert len(long) == 63 and JOB_NAME.fullmatch(long)


def test_model_data_needs_a_completed_job(session: FakeSession) -> None:
    estimator = Estimator("img", session=session)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="call fit"):
        _ = estimator.model_data
    estimator.fit(wait=False, job_name="job")
    with pytest.raises(RuntimeError, match="training job job is InProgress: it has no model artifacts"):
        _ = estimator.model_data
    session.sagemaker.status = "Completed"
    assert estimator.model_data == f"s3://{BUCKET}/job/output/model.tar.gz"
    assert estimator.latest_training_job.name == "job"
