"""Models, endpoint configs, endpoints and transform jobs as records, through boto3 against a real server.

The server is shared and may run controllers, so endpoint and transform-job statuses are only
checked where every controller outcome agrees; each test uses its own name prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers import bad_request, wait_until

ACCOUNT_REGION = "us-east-1:000000000000"
ROLE = "arn:aws:iam::000000000000:role/r"


def arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{ACCOUNT_REGION}:{kind}/{name.lower()}"


def create_model(sagemaker: Any, name: str, **extra: Any) -> None:
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                           **({"PrimaryContainer": {"Image": "modelbay/sklearn",
                                                    "ModelDataUrl": f"s3://{name}/model.tar.gz"}} | extra))


def variant(model: str, name: str = "AllTraffic", **extra: Any) -> dict[str, Any]:
    return {"VariantName": name, "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1} | extra


def test_model_lifecycle(sagemaker: Any, unique: str) -> None:
    name = unique + "-Model"
    container = {"Image": "modelbay/sklearn", "ModelDataUrl": "s3://b/model.tar.gz", "Environment": {"A": "1"},
                 "Mode": "SingleModel", "ContainerHostname": "first"}
    created = sagemaker.create_model(ModelName=name, PrimaryContainer=container,
                                     ExecutionRoleArn="arn:aws:iam::000000000000:role/r",
                                     Tags=[{"Key": "team", "Value": "ml"}])
    assert created["ModelArn"] == arn("model", name)
    described = sagemaker.describe_model(ModelName=name)
    assert (described["ModelName"], described["ModelArn"], described["PrimaryContainer"],
            described["EnableNetworkIsolation"]) == (name, arn("model", name), container, False)
    assert sagemaker.list_tags(ResourceArn=arn("model", name))["Tags"] == [{"Key": "team", "Value": "ml"}]
    assert bad_request(sagemaker.create_model, ModelName=name, PrimaryContainer={"Image": "other"}) == {
        "Code": "ValidationException", "Message": f'Cannot create already existing model "{arn("model", name)}".'}
    assert sagemaker.describe_model(ModelName=name)["PrimaryContainer"] == container  # immutable
    sagemaker.delete_model(ModelName=name)
    expected = {"Code": "ValidationException", "Message": f'Could not find model "{arn("model", name)}".'}
    assert bad_request(sagemaker.describe_model, ModelName=name) == expected
    assert bad_request(sagemaker.delete_model, ModelName=name) == expected
    assert sagemaker.list_tags(ResourceArn=arn("model", name))["Tags"] == []


def test_an_inference_pipeline_model(sagemaker: Any, unique: str) -> None:
    containers = [{"Image": "modelbay/sklearn", "ContainerHostname": "pre"}, {"Image": "modelbay/xgboost"}]
    sagemaker.create_model(ModelName=unique, Containers=containers, InferenceExecutionConfig={"Mode": "Serial"})
    described = sagemaker.describe_model(ModelName=unique)
    assert (described["Containers"], described["InferenceExecutionConfig"]) == (containers, {"Mode": "Serial"})


@pytest.mark.parametrize(("params", "message"), [
    ({"PrimaryContainer": {"Image": "a"}, "Containers": [{"Image": "a"}]},
     "Specify either PrimaryContainer or Containers, not both."),
    ({}, "Specify a PrimaryContainer, or Containers for an inference pipeline."),
    ({"Containers": [{"Image": "a"}] * 16},
     "1 validation error detected: Value '[{Image=a}, {Image=a}, {Image=a}, {Image=a}, {Image=a}, {Image=a}, "),
    ({"PrimaryContainer": {"Image": "a"}, "InferenceExecutionConfig": {"Mode": "Direct"}},
     "InferenceExecutionConfig applies to a model with Containers, not to a PrimaryContainer."),
], ids=["both", "neither", "too-many", "execution-config-without-containers"])
def test_create_model_errors(sagemaker: Any, unique: str, params: dict[str, Any], message: str) -> None:
    error = bad_request(sagemaker.create_model, ModelName=unique, **params) if params.get("Containers", []) != [
        {"Image": "a"}] * 16 else bad_request(_unchecked(sagemaker).create_model, ModelName=unique, **params)
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith(message), error["Message"]


def _unchecked(sagemaker: Any) -> Any:
    from tests.conftest import client
    return client(sagemaker.meta.endpoint_url, "sagemaker", parameter_validation=False)


def test_list_models_filters_sorts_and_pages(sagemaker: Any, unique: str) -> None:
    names = [f"{unique}-{n}" for n in range(5)]
    for name in names:
        create_model(sagemaker, name)
    listed = lambda **kw: [m["ModelName"] for m in sagemaker.list_models(NameContains=unique, **kw)["Models"]]  # noqa: E731
    assert listed() == names[::-1]
    assert listed(SortBy="Name", SortOrder="Ascending") == names
    created = [sagemaker.describe_model(ModelName=name)["CreationTime"] for name in names]
    assert created == sorted(created) and len(set(created)) == 5
    middle = created[1] + (created[2] - created[1]) / 2
    assert listed(CreationTimeAfter=middle) == names[:1:-1]
    assert listed(CreationTimeBefore=middle) == names[1::-1]
    pages = list(sagemaker.get_paginator("list_models").paginate(
        NameContains=unique, SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 2}))
    assert [[m["ModelName"] for m in page["Models"]] for page in pages] == [names[0:2], names[2:4], names[4:]]
    assert "NextToken" in bad_request(sagemaker.list_models, NextToken="bad")["Message"]


def test_endpoint_config_lifecycle(sagemaker: Any, unique: str) -> None:
    create_model(sagemaker, unique)
    serverless = {"VariantName": "Sls", "ModelName": unique,
                  "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 4}}
    capture = {"EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": "s3://b/capture",
               "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}
    config = unique + "-config"
    sagemaker.create_endpoint_config(EndpointConfigName=config, DataCaptureConfig=capture,
                                     ProductionVariants=[variant(unique), serverless])
    described = sagemaker.describe_endpoint_config(EndpointConfigName=config)
    assert described["EndpointConfigArn"] == arn("endpoint-config", config)
    assert described["ProductionVariants"] == [variant(unique, InitialVariantWeight=1.0),
                                               serverless | {"InitialVariantWeight": 1.0}]
    assert described["DataCaptureConfig"] == capture
    listed = sagemaker.list_endpoint_configs(NameContains=unique)["EndpointConfigs"]
    assert [c["EndpointConfigName"] for c in listed] == [config]
    assert bad_request(sagemaker.create_endpoint_config, EndpointConfigName=config,
                    ProductionVariants=[variant(unique)])["Message"] == (
        f'Cannot create already existing endpoint configuration "{arn("endpoint-config", config)}".')
    sagemaker.delete_endpoint_config(EndpointConfigName=config)
    expected = {"Code": "ValidationException",
                "Message": f'Could not find endpoint configuration "{arn("endpoint-config", config)}".'}
    assert bad_request(sagemaker.describe_endpoint_config, EndpointConfigName=config) == expected
    assert bad_request(sagemaker.delete_endpoint_config, EndpointConfigName=config) == expected


@pytest.mark.parametrize(("variants", "message"), [
    (lambda m: [variant(m, "A"), variant(m, "A")], "VariantName must be unique within ProductionVariants; repeated: A"),
    (lambda m: [variant(m + "-missing")], 'Could not find model "arn:aws:sagemaker:us-east-1:000000000000:model/'),
    (lambda m: [variant(m, InstanceType="ml.c5n.xlarge")],  # a training type, not a hosting one
     "1 validation error detected: Value 'ml.c5n.xlarge' at 'productionVariants.1.member.instanceType' failed to "
     "satisfy constraint: Member must satisfy enum value set: [ml.t2.medium, "),
    (lambda m: [{"VariantName": "V", "ModelName": m, "ServerlessConfig": {"MemorySizeInMB": 1500,
                                                                        "MaxConcurrency": 1}}],
     "ProductionVariant V: ServerlessConfig.MemorySizeInMB must be one of 1024, 2048, 3072, 4096, 5120 or 6144"),
    (lambda m: [variant(m, ServerlessConfig={"MemorySizeInMB": 1024, "MaxConcurrency": 1})],
     "ProductionVariant AllTraffic: specify either InstanceType and InitialInstanceCount, or ServerlessConfig."),
    (lambda m: [{"VariantName": "V", "ModelName": m, "InstanceType": "ml.m5.large"}],
     "ProductionVariant V: InitialInstanceCount is required with InstanceType"),
    (lambda m: [variant(m, InitialInstanceCount=0)], "1 validation error detected: Value '0' at "
     "'productionVariants.1.member.initialInstanceCount' failed to satisfy constraint: Member must have value "
     "greater than or equal to 1"),
    (lambda m: [variant(m, f"V{n}") for n in range(11)], "1 validation error detected: Value '["),
], ids=["repeated-variant", "missing-model", "instance-type", "serverless-memory", "both-kinds", "no-count",
        "zero-count", "eleven-variants"])
def test_create_endpoint_config_errors(sagemaker: Any, unique: str, variants: Any, message: str) -> None:
    create_model(sagemaker, unique)
    error = bad_request(_unchecked(sagemaker).create_endpoint_config, EndpointConfigName=unique,
                     ProductionVariants=variants(unique))
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith(message), error["Message"]
    assert bad_request(sagemaker.describe_endpoint_config, EndpointConfigName=unique)["Code"] == "ValidationException"


@pytest.fixture
def config(sagemaker: Any, unique: str) -> str:
    """An endpoint config `<unique>-config` of one variant AllTraffic serving model `<unique>`."""
    create_model(sagemaker, unique)
    sagemaker.create_endpoint_config(EndpointConfigName=unique + "-config", ProductionVariants=[variant(unique)])
    return unique + "-config"


def test_create_endpoint_records_it_and_answers_at_once(sagemaker: Any, unique: str, config: str) -> None:
    name = unique + "-Endpoint"
    created = sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config,
                                        Tags=[{"Key": "k", "Value": "v"}])
    assert created["EndpointArn"] == arn("endpoint", name)
    described = sagemaker.describe_endpoint(EndpointName=name)
    assert (described["EndpointName"], described["EndpointConfigName"]) == (name, config)
    assert described["EndpointStatus"] in ("Creating", "InService", "Failed")
    assert described["ProductionVariants"][0]["VariantName"] == "AllTraffic"
    assert (described["ProductionVariants"][0]["DesiredWeight"],
            described["ProductionVariants"][0]["DesiredInstanceCount"]) == (1.0, 1)
    assert sagemaker.list_tags(ResourceArn=arn("endpoint", name))["Tags"] == [{"Key": "k", "Value": "v"}]
    summaries = sagemaker.list_endpoints(NameContains=unique)["Endpoints"]
    assert [(s["EndpointName"], s["EndpointArn"]) for s in summaries] == [(name, arn("endpoint", name))]
    assert bad_request(sagemaker.create_endpoint, EndpointName=name, EndpointConfigName=config) == {
        "Code": "ValidationException",
        "Message": f'Cannot create already existing endpoint "{arn("endpoint", name)}".'}
    sagemaker.delete_endpoint_config(EndpointConfigName=config)  # allowed while in use
    sagemaker.delete_model(ModelName=unique)
    assert sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"] == config


def test_endpoints_of_a_missing_config_or_model(sagemaker: Any, unique: str, config: str) -> None:
    missing = unique + "-missing"
    assert bad_request(sagemaker.create_endpoint, EndpointName=unique, EndpointConfigName=missing) == {
        "Code": "ValidationException",
        "Message": f'Could not find endpoint configuration "{arn("endpoint-config", missing)}".'}
    sagemaker.delete_model(ModelName=unique)
    assert bad_request(sagemaker.create_endpoint, EndpointName=unique, EndpointConfigName=config) == {
        "Code": "ValidationException", "Message": f'Could not find model "{arn("model", unique)}".'}
    assert sagemaker.list_endpoints(NameContains=unique)["Endpoints"] == []


def refused_updates(sagemaker: Any, name: str) -> list[dict[str, str]]:
    """What UpdateEndpoint and UpdateEndpointWeightsAndCapacities answer for endpoint `name`."""
    return [bad_request(call, EndpointName=name, **params) for call, params in [
        (sagemaker.update_endpoint, {"EndpointConfigName": name + "-config"}),
        (sagemaker.update_endpoint_weights_and_capacities,
         {"DesiredWeightsAndCapacities": [{"VariantName": "AllTraffic", "DesiredWeight": 2.0}]})]]


def test_a_failed_endpoint_refuses_updates(sagemaker: Any, unique: str, config: str) -> None:
    """The config's model archive does not exist, so the controller fails the endpoint."""
    sagemaker.create_endpoint(EndpointName=unique, EndpointConfigName=config)
    wait_until(lambda: sagemaker.describe_endpoint(EndpointName=unique)["EndpointStatus"] == "Failed", 30,
               "the endpoint to fail")
    failed = {"Code": "ValidationException", "Message": f'Cannot update failed endpoint "{arn("endpoint", unique)}".'}
    assert refused_updates(sagemaker, unique) == [failed, failed]
    assert sagemaker.describe_endpoint(EndpointName=unique)["ProductionVariants"][0]["DesiredWeight"] == 1.0


def test_an_endpoint_being_created_refuses_updates(sagemaker: Any, unique: str, scratch: Path) -> None:
    """Its model server never answers /ping, so it stays Creating for its 60 s startup window."""
    image = scratch / "image"
    image.mkdir()
    (image / "serve").write_text("#!/bin/sh\nexec sleep 90\n")
    (image / "serve").chmod(0o755)
    sagemaker.create_model(ModelName=unique, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": str(image)})
    sagemaker.create_endpoint_config(EndpointConfigName=unique + "-config", ProductionVariants=[
        variant(unique, ContainerStartupHealthCheckTimeoutInSeconds=60)])
    sagemaker.create_endpoint(EndpointName=unique, EndpointConfigName=unique + "-config")
    in_progress = {"Code": "ValidationException",
                   "Message": f'Cannot update in-progress endpoint "{arn("endpoint", unique)}".'}
    assert refused_updates(sagemaker, unique) == [in_progress, in_progress]
    assert bad_request(sagemaker.delete_endpoint, EndpointName=unique) == in_progress  # SageMaker's words for both
    assert sagemaker.describe_endpoint(EndpointName=unique)["EndpointStatus"] == "Creating"


def test_operations_on_an_unknown_endpoint(sagemaker: Any, unique: str, config: str) -> None:
    expected = {"Code": "ValidationException", "Message": f'Could not find endpoint "{arn("endpoint", unique)}".'}
    assert bad_request(sagemaker.describe_endpoint, EndpointName=unique) == expected
    assert bad_request(sagemaker.delete_endpoint, EndpointName=unique) == expected
    assert bad_request(sagemaker.update_endpoint, EndpointName=unique, EndpointConfigName=config) == expected
    assert bad_request(sagemaker.update_endpoint_weights_and_capacities, EndpointName=unique,
                    DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredWeight": 1.0}]) == expected


def test_list_endpoints_sorts_filters_and_pages(sagemaker: Any, unique: str, config: str) -> None:
    names = [f"{unique}-{n}" for n in range(3)]
    for name in names:
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    listed = lambda **kw: [e["EndpointName"] for e in sagemaker.list_endpoints(NameContains=unique, **kw)[  # noqa: E731
        "Endpoints"]]
    assert listed() == names[::-1]
    assert listed(SortBy="Name", SortOrder="Ascending") == names
    assert listed(StatusEquals="Deleting") == []
    assert sorted(listed(SortBy="Status")) == names
    created = [sagemaker.describe_endpoint(EndpointName=name)["CreationTime"] for name in names]
    assert created == sorted(created) and len(set(created)) == 3
    after_first, after_second = (created[0] + (created[1] - created[0]) / 2,
                                 created[1] + (created[2] - created[1]) / 2)
    assert listed(CreationTimeBefore=after_first) == [names[0]]
    assert listed(CreationTimeAfter=after_second) == [names[2]]
    assert listed(CreationTimeAfter=after_first, CreationTimeBefore=after_second) == [names[1]]
    page = sagemaker.list_endpoints(NameContains=unique, SortBy="Name", SortOrder="Ascending", MaxResults=2)
    rest = sagemaker.list_endpoints(NameContains=unique, SortBy="Name", SortOrder="Ascending", MaxResults=2,
                                    NextToken=page["NextToken"])
    assert [e["EndpointName"] for e in page["Endpoints"] + rest["Endpoints"]] == names
    assert "NextToken" not in rest


def transform_request(name: str, model: str, **extra: Any) -> dict[str, Any]:
    return {"TransformJobName": name, "ModelName": model,
            "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in"}},
                               "ContentType": "text/csv", "SplitType": "Line"},
            "TransformOutput": {"S3OutputPath": "s3://b/out", "AssembleWith": "Line"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}} | extra


def test_transform_job_records(sagemaker: Any, unique: str) -> None:
    create_model(sagemaker, unique)
    request = transform_request(unique, unique, DataProcessing={"InputFilter": "$[1:]", "OutputFilter": "$[0,-1]",
                                                                "JoinSource": "Input"}, Environment={"A": "1"})
    created = sagemaker.create_transform_job(**request, Tags=[{"Key": "k", "Value": "v"}])
    assert created["TransformJobArn"] == arn("transform-job", unique)
    described = sagemaker.describe_transform_job(TransformJobName=unique)
    assert described["TransformJobStatus"] in ("InProgress", "Failed", "Completed")
    assert (described["ModelName"], described["DataProcessing"], described["Environment"],
            described["TransformOutput"]) == (unique, request["DataProcessing"], {"A": "1"},
                                              request["TransformOutput"])
    assert sagemaker.list_tags(ResourceArn=arn("transform-job", unique))["Tags"] == [{"Key": "k", "Value": "v"}]
    summaries = sagemaker.list_transform_jobs(NameContains=unique)["TransformJobSummaries"]
    assert [s["TransformJobName"] for s in summaries] == [unique]
    error = bad_request(sagemaker.create_transform_job, **request)
    assert error["Code"] == "ResourceInUse" and arn("transform-job", unique) in error["Message"]
    if described["TransformJobStatus"] == "InProgress":
        try:
            sagemaker.stop_transform_job(TransformJobName=unique)
        except ClientError as refused:  # it has ended since: refused, as SageMaker refuses to stop an ended job
            assert refused.response["Error"]["Code"] == "ValidationException"
            assert sagemaker.describe_transform_job(TransformJobName=unique)["TransformJobStatus"] in (
                "Failed", "Completed")
        else:
            assert sagemaker.describe_transform_job(TransformJobName=unique)["TransformJobStatus"] in (
                "Stopping", "Stopped")
        assert sagemaker.list_transform_jobs(NameContains=unique, StatusEquals="Completed")[
            "TransformJobSummaries"] == []


def test_transform_job_errors(sagemaker: Any, unique: str) -> None:
    create_model(sagemaker, unique)
    cases = [
        ({"ModelName": unique + "-missing"}, f'Could not find model "{arn("model", unique + "-missing")}".'),
        ({"TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in"}},
                             "SplitType": "TFRecord"}},
         "TransformInput.SplitType TFRecord is not available in modelbay; use None or Line."),
        ({"TransformResources": {"InstanceType": "ml.c5n.xlarge", "InstanceCount": 1}},  # training only
         "1 validation error detected: Value 'ml.c5n.xlarge' at 'transformResources.instanceType' failed to satisfy "
         "constraint: Member must satisfy enum value set: [ml.m4.xlarge, "),
        ({"MaxPayloadInMB": 101}, "MaxPayloadInMB must be at most 100, not 101."),
        ({"DataProcessing": {"InputFilter": "$..a"}}, "DataProcessing.InputFilter: JSONPath '$..a': unsupported"),
    ]
    for extra, message in cases:
        error = bad_request(sagemaker.create_transform_job, **transform_request(unique, unique, **extra))
        assert error["Code"] == "ValidationException" and error["Message"].startswith(message), error
    expected = {"Code": "ValidationException", "Message": f"Could not find requested job with name {unique}"}
    assert bad_request(sagemaker.describe_transform_job, TransformJobName=unique) == expected
    assert bad_request(sagemaker.stop_transform_job, TransformJobName=unique) == expected
