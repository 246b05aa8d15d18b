"""JSON values by shape: read what botocore serializes, write what botocore parses back."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from modelbay.api.jsonvalues import read_json, write_json
from modelbay.errors import SerializationError
from tests.unit.api.codec_harness import service_model
from tests.unit.api.shapes import thing

SAGEMAKER = service_model("sagemaker")
KMS = service_model("kms")
MOMENT = datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=UTC)


def input_shape(model: Any, operation: str) -> Any:
    return model.operation_model(operation).input_shape


def test_reads_what_botocore_serializes() -> None:
    params = {"TrainingJobName": "job", "RoleArn": "arn:aws:iam::000000000000:role/r",
              "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
              "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
              "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 5},
              "HyperParameters": {"epochs": "3"}, "Tags": [{"Key": "k", "Value": "v"}],
              "EnableManagedSpotTraining": True}
    operation = SAGEMAKER.operation_model("CreateTrainingJob")
    body = create_serializer("json").serialize_to_request(params, operation)["body"]
    assert read_json(operation.input_shape, json.loads(body)) == params


def test_timestamps_and_blobs_read_from_botocore() -> None:
    operation = SAGEMAKER.operation_model("ListTrainingJobs")
    body = create_serializer("json").serialize_to_request({"CreationTimeAfter": MOMENT}, operation)["body"]
    assert read_json(operation.input_shape, json.loads(body)) == {"CreationTimeAfter": MOMENT}
    operation = KMS.operation_model("Encrypt")
    params = {"KeyId": "alias/k", "Plaintext": b"\x00secret\xff"}
    body = create_serializer("json").serialize_to_request(params, operation)["body"]
    assert read_json(operation.input_shape, json.loads(body)) == params


def test_unknown_keys_and_nulls_are_dropped_and_location_names_honoured() -> None:
    value = {"name": "n", "Name": "ignored", "Count": None, "Bogus": 1, "Child": {"Value": "v", "Other": 2},
             "x-thing": "header members are not in a body", "Header": "neither"}
    assert read_json(thing(), value) == {"Name": "n", "Child": {"Value": "v"}}
    assert read_json(thing(), {"Named": ["p", None, "q"], "Labels": {"a": None, "b": 1}}) == {
        "Named": ["p", "q"], "Labels": {"b": 1}}


def test_iso_timestamps_special_floats_and_documents_are_read() -> None:
    value = {"When": "2024-05-06T07:08:09.250Z", "Ratio": "NaN", "Total": 2**40, "Document": [1, {"a": None}]}
    typed = read_json(thing(), value)
    assert typed["When"] == MOMENT and math.isnan(typed["Ratio"])
    assert (typed["Total"], typed["Document"]) == (2**40, [1, {"a": None}])
    ratio = read_json(thing(), {"Ratio": 2})["Ratio"]
    assert isinstance(ratio, float) and ratio == 2.0


@pytest.mark.parametrize(("value", "message"), [
    ({"ResourceConfig": {"InstanceCount": "abc"}},
     "Value 'abc' at 'resourceConfig.instanceCount' is not a valid integer"),
    ({"ResourceConfig": {"InstanceCount": True}},
     "Value 'true' at 'resourceConfig.instanceCount' is not a valid integer"),
    ({"ResourceConfig": {"InstanceCount": 1.5}},
     "Value '1.5' at 'resourceConfig.instanceCount' is not a valid integer"),
    ({"ResourceConfig": {"InstanceCount": 2**31}},
     "Value '2147483648' at 'resourceConfig.instanceCount' is not a valid integer"),
    ({"Tags": [{"Key": "k", "Value": "v"}, {"Key": 7}]}, "Value '7' at 'tags.2.member.key' is not a valid string"),
    ({"HyperParameters": {"lr": 0.1}}, "Value '0.1' at 'hyperParameters.lr' is not a valid string"),
    ({"Tags": {"Key": "k"}}, "Value '{\"Key\": \"k\"}' at 'tags' is not a valid list"),
    ({"EnableManagedSpotTraining": "true"}, "Value 'true' at 'enableManagedSpotTraining' is not a valid boolean"),
    ({"OutputDataConfig": "s3://b"}, "Value 's3://b' at 'outputDataConfig' is not a valid structure"),
])
def test_a_wrong_type_names_its_member_path(value: dict[str, Any], message: str) -> None:
    with pytest.raises(SerializationError) as raised:
        read_json(input_shape(SAGEMAKER, "CreateTrainingJob"), value)
    assert raised.value.message == message


@pytest.mark.parametrize(("value", "message"), [
    ({"When": "yesterday"}, "Value 'yesterday' at 'when' is not a valid timestamp"),
    ({"When": [1]}, "Value '[1]' at 'when' is not a valid timestamp"),
    ({"When": 1e20}, "Value '1e+20' at 'when' is not a valid timestamp"),
    ({"Data": "not base64!"}, "Value 'not base64!' at 'data' is not a valid base64 blob"),
    ({"Data": 12}, "Value '12' at 'data' is not a valid base64 blob"),
    ({"Labels": {"a": "1"}}, "Value '1' at 'labels.a' is not a valid integer"),
    ({"Total": 2**63}, "Value '9223372036854775808' at 'total' is not a valid long"),
    ({"Ratio": "1.5"}, "Value '1.5' at 'ratio' is not a valid double"),
])
def test_timestamps_blobs_maps_and_numbers_are_checked(value: dict[str, Any], message: str) -> None:
    with pytest.raises(SerializationError) as raised:
        read_json(thing(), value)
    assert raised.value.message == message


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(SerializationError, match=r"^Value '\[1, 2\]' is not a valid structure$"):
        read_json(thing(), [1, 2])


def test_writes_what_botocore_parses_back() -> None:
    operation = SAGEMAKER.operation_model("DescribeTrainingJob")
    output = {"TrainingJobName": "j", "TrainingJobArn": "arn:aws:sagemaker:us-east-1:000000000000:training-job/j",
              "ModelArtifacts": {"S3ModelArtifacts": "s3://b/m.tar.gz"}, "TrainingJobStatus": "Completed",
              "SecondaryStatus": "Completed", "AlgorithmSpecification": {"TrainingInputMode": "File"},
              "ResourceConfig": {"InstanceCount": 1, "VolumeSizeInGB": 1}, "StoppingCondition": {},
              "CreationTime": MOMENT, "FinalMetricDataList": [{"MetricName": "loss", "Value": 0.5,
                                                              "Timestamp": MOMENT}]}
    parsed = parse_json(operation, write_json(operation.output_shape, output))
    assert parsed == output


def test_blobs_are_written_as_base64_that_botocore_decodes() -> None:
    operation = KMS.operation_model("Encrypt")
    output = {"CiphertextBlob": b"\x00\x01binary\xfe", "KeyId": "k"}
    written = write_json(operation.output_shape, output)
    assert written["CiphertextBlob"] == "AAFiaW5hcnn+"
    assert parse_json(operation, written) == output


def test_timestamps_follow_the_shape_format_and_none_is_omitted() -> None:
    written = write_json(thing(), {"When": MOMENT, "WhenIso": MOMENT, "WhenHttp": MOMENT, "Name": None,
                                   "Ratio": math.inf, "Header": "h", "Child": {"Value": "v"}})
    assert written == {"When": 1714979289.25, "WhenIso": "2024-05-06T07:08:09.250Z",
                       "WhenHttp": "Mon, 06 May 2024 07:08:09 GMT", "Ratio": "Infinity", "Child": {"Value": "v"}}
    assert write_json(thing(), {"Name": "n", "Repeated": (1, 2)}) == {"name": "n", "Repeat": [1, 2]}


def test_an_unknown_output_key_is_a_bug() -> None:
    with pytest.raises(KeyError, match="'Bogus' is not a member of Child"):
        write_json(thing(), {"Child": {"Value": "v", "Bogus": 1}})


@pytest.mark.parametrize("value", [{"Count": "3"}, {"Count": True}, {"Name": 5}, {"When": "2024-01-01"},
                                   {"Items": {"Value": "v"}}, {"Labels": [1]}, {"Child": "v"}])
def test_an_output_value_of_the_wrong_type_is_a_bug(value: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        write_json(thing(), value)


def parse_json(operation: Any, written: Any) -> Any:
    body = json.dumps(written).encode()
    parsed = create_parser("json").parse({"body": body, "headers": {}, "status_code": 200}, operation.output_shape)
    parsed.pop("ResponseMetadata")
    return parsed
