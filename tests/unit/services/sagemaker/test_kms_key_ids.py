"""The KMS keys SageMaker's create requests name, checked when the request is made: an output key must be usable; a
volume key too, and is refused, saying why, where the server's runtime cannot encrypt scratch volumes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from modelbay.errors import ValidationError
from modelbay.services.base import Context
from modelbay.services.kms import disable_key
from modelbay.services.sagemaker import kms_key_ids
from modelbay.store.metadata.tuning_jobs import training_resources
from tests.unit.services.sagemaker import test_processing_jobs, test_training_jobs, test_tuning_jobs
from tests.unit.services.sagemaker.test_hosting import _call, _error, _model, _transform_request, _variant

MONITORING_CLUSTER = {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}


@pytest.fixture
def key(ctx: Context) -> str:
    return ctx.platform.kms.create_key().arn


@pytest.fixture
def disabled(ctx: Context) -> str:
    made = ctx.platform.kms.create_key()
    disable_key(ctx, {"KeyId": made.key_id})
    return made.key_id


def encrypting(monkeypatch: pytest.MonkeyPatch, able: bool) -> None:
    """Whether the server's runtime encrypts volumes, as the services are told."""
    monkeypatch.setattr(kms_key_ids, "encrypts_volumes", lambda _settings: able)


def tuning_request(name: str, resources: dict[str, Any]) -> dict[str, Any]:
    definition = copy.deepcopy(test_tuning_jobs.DEFINITION)
    del definition["ResourceConfig"]
    return test_tuning_jobs._request(name, TrainingJobDefinition=definition | resources)


def volume_requests(ctx: Context, key_id: str) -> list[tuple[str, dict[str, Any], str]]:
    """(operation, request, member) of every create request naming `key_id` as its instances' volume key."""
    _model(ctx)
    volume = {"VolumeKmsKeyId": key_id}
    processing = test_processing_jobs._request("p")
    processing["ProcessingResources"]["ClusterConfig"] |= volume
    return [
        ("CreateTrainingJob", test_training_jobs._request("j", ResourceConfig={
            "InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1} | volume),
         "ResourceConfig.VolumeKmsKeyId"),
        ("CreateProcessingJob", processing, "ProcessingResources.ClusterConfig.VolumeKmsKeyId"),
        ("CreateTransformJob", _transform_request(TransformResources={
            "InstanceType": "ml.m5.large", "InstanceCount": 1} | volume), "TransformResources.VolumeKmsKeyId"),
        ("CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [_variant()], "KmsKeyId": key_id},
         "KmsKeyId"),
        ("CreateHyperParameterTuningJob", tuning_request("t", {"ResourceConfig": {
            "InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1} | volume}),
         "TrainingJobDefinition.ResourceConfig.VolumeKmsKeyId"),
        ("CreateHyperParameterTuningJob", tuning_request("u", {"HyperParameterTuningResourceConfig": {
            "InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1} | volume}),
         "TrainingJobDefinition.HyperParameterTuningResourceConfig.VolumeKmsKeyId"),
        ("CreateDataQualityJobDefinition", {
            "JobDefinitionName": "d", "RoleArn": "arn:aws:iam::123456789012:role/r",
            "DataQualityAppSpecification": {"ImageUri": "modelbay/model-monitor"},
            "DataQualityJobInput": {"EndpointInput": {"EndpointName": "e", "LocalPath": "/opt/ml/processing/input"}},
            "DataQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                "S3Uri": "s3://b/reports", "LocalPath": "/opt/ml/processing/output"}}]},
            "JobResources": {"ClusterConfig": MONITORING_CLUSTER | volume}},
         "ClusterConfig.VolumeKmsKeyId"),
    ]


def test_every_volume_key_is_refused_where_the_runtime_cannot_encrypt(ctx: Context, key: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    encrypting(monkeypatch, False)
    for operation, request, member in volume_requests(ctx, key):
        error = _error(ctx, operation, **request)
        assert isinstance(error, ValidationError), operation
        assert str(error) == kms_key_ids.VOLUME_ENCRYPTION_UNAVAILABLE.format(member=member)


def test_every_volume_key_is_accepted_and_echoed_where_the_runtime_encrypts(ctx: Context, key: str,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    encrypting(monkeypatch, True)
    for operation, request, _member in volume_requests(ctx, key):
        _call(ctx, operation, **request)
    described = _call(ctx, "DescribeTrainingJob", TrainingJobName="j")
    assert described["ResourceConfig"]["VolumeKmsKeyId"] == key
    assert _call(ctx, "DescribeEndpointConfig", EndpointConfigName="c")["KmsKeyId"] == key
    tuning = ctx.metadata.tuning_jobs.get("u")
    assert tuning is not None  # its trials' training jobs get the tuning resource config's volume key
    assert training_resources(tuning.request["TrainingJobDefinition"])["VolumeKmsKeyId"] == key  # type: ignore[index]


def test_a_disabled_volume_key_is_refused_as_unusable_even_where_volumes_are_encrypted(
        ctx: Context, disabled: str, monkeypatch: pytest.MonkeyPatch) -> None:
    encrypting(monkeypatch, True)
    for operation, request, member in volume_requests(ctx, disabled):
        assert str(_error(ctx, operation, **request)).startswith(f"{member}: the KMS key '{disabled}' cannot be used")


def test_an_output_key_must_be_usable(ctx: Context, disabled: str) -> None:
    _model(ctx)
    processing = test_processing_jobs._request("p", ProcessingOutputConfig={"Outputs": [], "KmsKeyId": disabled})
    capture = {"EnableCapture": True, "InitialSamplingPercentage": 10, "DestinationS3Uri": "s3://b/capture",
               "KmsKeyId": disabled, "CaptureOptions": [{"CaptureMode": "Input"}]}
    requests = [
        ("CreateTrainingJob", test_training_jobs._request("j", OutputDataConfig={
            "S3OutputPath": "s3://b/out", "KmsKeyId": disabled}), "OutputDataConfig.KmsKeyId"),
        ("CreateProcessingJob", processing, "ProcessingOutputConfig.KmsKeyId"),
        ("CreateTransformJob", _transform_request(TransformOutput={"S3OutputPath": "s3://b/out", "KmsKeyId": disabled}),
         "TransformOutput.KmsKeyId"),
        ("CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [_variant()],
                                  "DataCaptureConfig": capture}, "DataCaptureConfig.KmsKeyId")]
    for operation, request, member in requests:
        assert str(_error(ctx, operation, **request)) == (
            f"{member}: the KMS key '{disabled}' cannot be used: arn:aws:kms:us-east-1:000000000000:key/{disabled} "
            "is disabled.")
