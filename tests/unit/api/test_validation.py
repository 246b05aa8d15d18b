"""Validation against real service models, worded as AWS words it."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.model import ShapeResolver

from modelbay.api.validation import validate
from modelbay.errors import validation_message
from tests.unit.api.codec_harness import service_model

SAGEMAKER = service_model("sagemaker")
TRAINING_JOB = SAGEMAKER.operation_model("CreateTrainingJob").input_shape
NAME_PATTERN = "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
TAG_PATTERN = r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)"
VALID = {"TrainingJobName": "job-1", "RoleArn": "arn:aws:iam::000000000000:role/training",
         "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
         "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
         "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5}}
CHANNEL = {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/t"}}}


def problems(**changes: Any) -> list[str]:
    return validate(TRAINING_JOB, {**VALID, **changes})


def test_a_valid_input_has_no_problems() -> None:
    assert problems(InputDataConfig=[CHANNEL], Tags=[{"Key": "ключ é 1", "Value": ""}],
                    HyperParameters={"epochs": "3"}) == []


def test_pattern() -> None:
    assert problems(TrainingJobName="x y") == [
        f"Value 'x y' at 'trainingJobName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {NAME_PATTERN}"]


def test_required_members_at_top_level_and_inside_list_items() -> None:
    value = {**VALID, "InputDataConfig": [CHANNEL, {"ChannelName": "test"}]}
    del value["RoleArn"]
    assert validate(TRAINING_JOB, value) == [
        "Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
        "Value null at 'inputDataConfig.2.member.dataSource' failed to satisfy constraint: Member must not be null"]


def test_nested_enum() -> None:
    assert problems(AlgorithmSpecification={"TrainingInputMode": "Bogus"}) == [
        "Value 'Bogus' at 'algorithmSpecification.trainingInputMode' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Pipe, File, FastFile]"]


def test_string_length_comes_before_the_pattern() -> None:
    name = "a" * 64
    assert problems(TrainingJobName=name) == [
        f"Value '{name}' at 'trainingJobName' failed to satisfy constraint: "
        "Member must have length less than or equal to 63",
        f"Value '{name}' at 'trainingJobName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {NAME_PATTERN}"]


def test_numeric_ranges() -> None:
    assert problems(ResourceConfig={"InstanceCount": -1, "VolumeSizeInGB": 1, "KeepAlivePeriodInSeconds": 21601}) == [
        "Value '-1' at 'resourceConfig.instanceCount' failed to satisfy constraint: "
        "Member must have value greater than or equal to 0",
        "Value '21601' at 'resourceConfig.keepAlivePeriodInSeconds' failed to satisfy constraint: "
        "Member must have value less than or equal to 21600"]


def test_list_and_map_lengths_and_map_paths() -> None:
    assert problems(InputDataConfig=[], HyperParameters={"k" * 257: "v", "lr": "x" * 2501}) == [
        f"Value '{'k' * 257}' at 'hyperParameters.key' failed to satisfy constraint: "
        "Member must have length less than or equal to 256",
        f"Value '{'x' * 2501}' at 'hyperParameters.lr' failed to satisfy constraint: "
        "Member must have length less than or equal to 2500",
        "Value '[]' at 'inputDataConfig' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"]


def test_java_unicode_classes_in_patterns() -> None:
    assert problems(Tags=[{"Key": "ok", "Value": "fine"}, {"Key": "bad#key", "Value": "v"}]) == [
        "Value 'bad#key' at 'tags.2.member.key' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {TAG_PATTERN}"]


def test_surrogate_pair_ranges_mean_astral_characters() -> None:
    catalog = SAGEMAKER.shape_for("AthenaCatalog")
    assert validate(catalog, "catalog 😀") == []
    assert len(validate(catalog, "bell \x07")) == 1


def test_blob_length() -> None:
    encrypt = service_model("kms").operation_model("Encrypt").input_shape
    assert validate(encrypt, {"KeyId": "k", "Plaintext": b""}) == [
        "Value '<0 bytes>' at 'plaintext' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"]


def test_a_pattern_python_cannot_read_is_not_enforced() -> None:
    shape = ShapeResolver({"S": {"type": "string", "pattern": "[unclosed", "max": 3}}).get_shape_by_name("S")
    assert validate(shape, "any") == []
    assert len(validate(shape, "long")) == 1


@pytest.mark.parametrize(("found", "message"), [
    (["a"], "1 validation error detected: a"),
    (["a", "b"], "2 validation errors detected: a; b"),
])
def test_problems_are_counted(found: list[str], message: str) -> None:
    assert validation_message(found) == message


def test_several_problems_make_one_message() -> None:
    found = problems(TrainingJobName="x y", AlgorithmSpecification={"TrainingInputMode": "Bogus"})
    assert validation_message(found) == (
        f"2 validation errors detected: Value 'x y' at 'trainingJobName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {NAME_PATTERN}; Value 'Bogus' at "
        "'algorithmSpecification.trainingInputMode' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Pipe, File, FastFile]")
