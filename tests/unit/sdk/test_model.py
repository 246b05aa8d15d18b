"""Model, deploy_variants and Estimator.deploy: their requests through real boto3 clients answered offline."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest

from modelbay.sdk import EndpointFailed, Estimator, Model, Predictor, ProductionVariant, deploy_variants
from tests.unit.sdk.offline import BUCKET, OfflineSession
from tests.unit.sdk.test_predictor import endpoint

STAMP = r"\d{4}(-\d{2}){5}-\d{3}"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
DATA = f"s3://{BUCKET}/job/output/model.tar.gz"


def model_request(offline: OfflineSession) -> dict[str, Any]:
    [request] = offline.sagemaker.sent("CreateModel")
    return request


def archive_names(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return set(archive.getnames())


def test_a_framework_model_without_code_names_its_image_and_artifacts(offline: OfflineSession) -> None:
    name = Model(model_data=DATA, framework="sklearn", framework_version="1.2-1",
                 session=offline).create()  # type: ignore[arg-type]
    assert re.fullmatch(f"sklearn-{STAMP}", name)
    assert model_request(offline) == {"ModelName": name, "ExecutionRoleArn": ROLE, "PrimaryContainer": {
        "Image": "modelbay/sklearn:1.2-1", "ModelDataUrl": DATA}}
    assert offline.s3.objects == {}


def test_an_entry_point_is_uploaded_under_the_model_name_and_named_as_the_sagemaker_sdk_does(
        offline: OfflineSession, tmp_path: Path) -> None:
    (tmp_path / "inference.py").write_text("def predict_fn(data, model): ...\n")
    name = Model("my/image", DATA, entry_point=str(tmp_path / "inference.py"), role="arn:aws:iam::1:role/R",
                 env={"SAGEMAKER_PROGRAM": "overridden.py", "MINE": "1"}, session=offline).create()  # type: ignore[arg-type]
    assert name.startswith("image-")
    source = f"s3://{BUCKET}/{name}/sourcedir.tar.gz"
    assert model_request(offline) == {"ModelName": name, "ExecutionRoleArn": "arn:aws:iam::1:role/R",
                                      "PrimaryContainer": {"Image": "my/image", "ModelDataUrl": DATA, "Environment": {
                                          "MINE": "1", "SAGEMAKER_PROGRAM": "inference.py",
                                          "SAGEMAKER_SUBMIT_DIRECTORY": source,
                                          "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": "us-west-2"}}}
    assert archive_names(offline.s3.objects[(BUCKET, f"{name}/sourcedir.tar.gz")]) == {"inference.py"}


def test_a_source_dir_is_packed_whole_and_the_entry_point_is_relative_to_it(offline: OfflineSession,
                                                                            tmp_path: Path) -> None:
    (tmp_path / "code" / "serving").mkdir(parents=True)
    (tmp_path / "code" / "serving" / "inference.py").write_text("")
    (tmp_path / "code" / "requirements.txt").write_text("")
    Model(framework="python", entry_point="serving/inference.py", source_dir=str(tmp_path / "code"),
          name="exact", session=offline).create()  # type: ignore[arg-type]
    environment = model_request(offline)["PrimaryContainer"]["Environment"]
    assert environment["SAGEMAKER_PROGRAM"] == "serving/inference.py"
    assert environment["SAGEMAKER_SUBMIT_DIRECTORY"] == f"s3://{BUCKET}/exact/sourcedir.tar.gz"
    assert archive_names(offline.s3.objects[(BUCKET, "exact/sourcedir.tar.gz")]) == {
        "serving", "serving/inference.py", "requirements.txt"}


def test_a_source_dir_in_s3_is_used_where_it_is(offline: OfflineSession) -> None:
    Model(framework="python", entry_point="serve.py", source_dir="s3://code/src.tar.gz",
          session=offline).create()  # type: ignore[arg-type]
    environment = model_request(offline)["PrimaryContainer"]["Environment"]
    assert (environment["SAGEMAKER_PROGRAM"], environment["SAGEMAKER_SUBMIT_DIRECTORY"]) == (
        "serve.py", "s3://code/src.tar.gz")
    assert offline.s3.objects == {}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "exactly one of image_uri or framework"),
    ({"framework": "xgboost"}, "'xgboost' needs a framework_version"),
    ({"image_uri": "img", "source_dir": "src"}, "source_dir needs an entry_point"),
])
def test_bad_combinations_are_value_errors(offline: OfflineSession, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Model(session=offline, **kwargs)  # type: ignore[arg-type]


def created(offline: OfflineSession) -> None:
    offline.sagemaker.answer("DescribeEndpoint", endpoint("Creating"), endpoint("InService"))


def test_deploy_creates_model_config_and_endpoint_then_waits(offline: OfflineSession) -> None:
    created(offline)
    model = Model("img", DATA, session=offline)  # type: ignore[arg-type]
    predictor = model.deploy(2, "ml.c5.xlarge", variant_name="blue")
    assert offline.sagemaker.operations() == ["CreateModel", "CreateEndpointConfig", "CreateEndpoint",
                                              "DescribeEndpoint", "DescribeEndpoint"]
    name = predictor.endpoint_name
    assert re.fullmatch(f"img-{STAMP}", name) and re.fullmatch(f"img-{STAMP}", str(model.name))
    assert offline.sagemaker.sent("CreateEndpointConfig") == [{"EndpointConfigName": name, "ProductionVariants": [{
        "VariantName": "blue", "ModelName": model.name, "InitialInstanceCount": 2, "InstanceType": "ml.c5.xlarge",
        "InitialVariantWeight": 1.0}]}]
    assert offline.sagemaker.sent("CreateEndpoint") == [{"EndpointName": name, "EndpointConfigName": name}]
    assert isinstance(predictor, Predictor) and predictor.session is offline


def test_a_model_is_created_once_however_often_it_is_deployed(offline: OfflineSession) -> None:
    model = Model("img", session=offline)  # type: ignore[arg-type]
    model.deploy(endpoint_name="one", wait=False)
    model.deploy(endpoint_name="two", wait=False)
    assert offline.sagemaker.operations() == ["CreateModel"] + ["CreateEndpointConfig", "CreateEndpoint"] * 2
    assert [r["EndpointName"] for r in offline.sagemaker.sent("CreateEndpoint")] == ["one", "two"]


def test_deploy_raises_the_failure_reason(offline: OfflineSession) -> None:
    offline.sagemaker.answer("DescribeEndpoint", endpoint("Creating"), endpoint(
        "Failed", FailureReason="ModelDataUrl s3://b/model.tar.gz: no such object"))
    with pytest.raises(EndpointFailed, match="endpoint e is not in service: ModelDataUrl s3://b/model.tar.gz: no such"):
        Model("img", session=offline).deploy(endpoint_name="e")  # type: ignore[arg-type]


def test_deploy_variants_weighs_each_variant_and_creates_a_shared_model_once(offline: OfflineSession) -> None:
    created(offline)
    shared, other = Model("a", name="ma", session=offline), Model("b", name="mb", session=offline)  # type: ignore[arg-type]
    predictor = deploy_variants("e", [ProductionVariant(shared, "a", weight=0.8),
                                      ProductionVariant(shared, "a2", weight=0.2, instance_count=2),
                                      ProductionVariant(other, "b", weight=0, instance_type="ml.c5.large")])
    assert predictor.endpoint_name == "e" and predictor.session is offline
    assert [r["ModelName"] for r in offline.sagemaker.sent("CreateModel")] == ["ma", "mb"]
    assert offline.sagemaker.sent("CreateEndpointConfig")[0]["ProductionVariants"] == [
        {"VariantName": "a", "ModelName": "ma", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large",
         "InitialVariantWeight": 0.8},
        {"VariantName": "a2", "ModelName": "ma", "InitialInstanceCount": 2, "InstanceType": "ml.m5.large",
         "InitialVariantWeight": 0.2},
        {"VariantName": "b", "ModelName": "mb", "InitialInstanceCount": 1, "InstanceType": "ml.c5.large",
         "InitialVariantWeight": 0.0}]
    with pytest.raises(ValueError, match="at least one production variant"):
        deploy_variants("e", [])


def trained(offline: OfflineSession, **kwargs: Any) -> Estimator:
    """An estimator whose job has completed, running what it was sent."""
    estimator = Estimator(session=offline, **kwargs)  # type: ignore[arg-type]
    estimator.fit(wait=False, job_name="job")
    [request] = offline.sagemaker.sent("CreateTrainingJob")
    offline.sagemaker.answer("DescribeTrainingJob", request | {
        "TrainingJobArn": "arn", "TrainingJobStatus": "Completed", "SecondaryStatus": "Completed",
        "CreationTime": 0, "ModelArtifacts": {"S3ModelArtifacts": DATA}})
    return estimator


def test_estimator_deploy_serves_the_artifacts_with_the_code_the_job_ran(offline: OfflineSession,
                                                                        tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("")
    estimator = trained(offline, framework="sklearn", framework_version="1.2-1", entry_point=str(tmp_path / "train.py"))
    ran = offline.sagemaker.sent("CreateTrainingJob")[0]["HyperParameters"]
    predictor = estimator.deploy(wait=False)
    name = predictor.endpoint_name
    assert re.fullmatch(f"sklearn-{STAMP}", name)
    assert model_request(offline) == {"ModelName": name, "ExecutionRoleArn": ROLE, "PrimaryContainer": {
        "Image": "modelbay/sklearn:1.2-1", "ModelDataUrl": DATA, "Environment": {
            "SAGEMAKER_PROGRAM": "train.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": json.loads(ran["sagemaker_submit_directory"]),
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": "us-west-2"}}}
    assert list(offline.s3.objects) == [(BUCKET, "job/source/sourcedir.tar.gz")]  # the job's upload only
    assert offline.sagemaker.sent("CreateEndpoint") == [{"EndpointName": name, "EndpointConfigName": name}]


def test_estimator_deploy_of_an_image_without_code_sends_no_code(offline: OfflineSession) -> None:
    estimator = trained(offline, image_uri="/images/trainer", role="arn:aws:iam::1:role/R")
    estimator.deploy(wait=False, endpoint_name="e", model_name="m", instance_type="ml.c5.large")
    assert model_request(offline) == {"ModelName": "m", "ExecutionRoleArn": "arn:aws:iam::1:role/R",
                                      "PrimaryContainer": {"Image": "/images/trainer", "ModelDataUrl": DATA}}
    [config] = offline.sagemaker.sent("CreateEndpointConfig")
    assert (config["EndpointConfigName"], config["ProductionVariants"][0]["InstanceType"]) == ("e", "ml.c5.large")


def test_estimator_create_model_takes_other_inference_code(offline: OfflineSession, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("")
    (tmp_path / "serve.py").write_text("")
    estimator = trained(offline, framework="python", entry_point=str(tmp_path / "train.py"))
    model = estimator.create_model(entry_point=str(tmp_path / "serve.py"), env={"A": "1"}, name="served")
    model.create()
    environment = model_request(offline)["PrimaryContainer"]["Environment"]
    assert (environment["A"], environment["SAGEMAKER_PROGRAM"], environment["SAGEMAKER_SUBMIT_DIRECTORY"]) == (
        "1", "serve.py", f"s3://{BUCKET}/served/sourcedir.tar.gz")
    assert archive_names(offline.s3.objects[(BUCKET, "served/sourcedir.tar.gz")]) == {"serve.py"}
