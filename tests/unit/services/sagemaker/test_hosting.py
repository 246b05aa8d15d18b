"""The hosting and batch-transform operations as service functions over a real SQLite metadata store (no execution)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelbay.errors import AwsError, ResourceInUse, ValidationError
from modelbay.services.base import Context
from modelbay.services.sagemaker import OPERATIONS, endpoint_configs, endpoints, models, transform_jobs
from modelbay.statuses import EndpointStatus
from modelbay.store.metadata import UpdateOutcome, VariantState
from tests.helpers import T0

MODEL = botocore.session.get_session().get_service_model("sagemaker")
PREFIX = "arn:aws:sagemaker:eu-west-1:123456789012"


def _call(ctx: Context, operation: str, **params: Any) -> Any:
    """Call the operation's function and check its output against botocore's output shape (or none)."""
    output = OPERATIONS[operation](ctx, params)
    shape = MODEL.operation_model(operation).output_shape
    if shape is None:
        assert output == {}
        return output
    report = ParamValidator().validate(output, shape)
    assert not report.has_errors(), report.generate_report()
    return output


def _error(ctx: Context, operation: str, **params: Any) -> AwsError:
    with pytest.raises(AwsError) as caught:
        OPERATIONS[operation](ctx, params)
    return caught.value


def _model(ctx: Context, name: str = "m", **extra: Any) -> None:
    _call(ctx, "CreateModel", ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
          **({"PrimaryContainer": {"Image": "modelbay/sklearn", "ModelDataUrl": "s3://b/model.tar.gz"}} | extra))


def _variant(name: str = "AllTraffic", **extra: Any) -> dict[str, Any]:
    return {"VariantName": name, "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1} | extra


def _config(ctx: Context, name: str = "c", *variants: dict[str, Any]) -> None:
    _model(ctx) if ctx.metadata.models.get("m") is None else None
    _call(ctx, "CreateEndpointConfig", EndpointConfigName=name, ProductionVariants=list(variants) or [_variant()])


def _endpoint(ctx: Context, name: str = "e", config: str = "c") -> None:
    _config(ctx, config) if ctx.metadata.endpoint_configs.get(config) is None else None
    _call(ctx, "CreateEndpoint", EndpointName=name, EndpointConfigName=config)


def test_every_operation_is_the_models() -> None:
    hosting = {**models.OPERATIONS, **endpoint_configs.OPERATIONS, **endpoints.OPERATIONS, **transform_jobs.OPERATIONS}
    assert set(hosting) <= set(MODEL.operation_names)
    assert set(hosting) <= set(OPERATIONS)
    assert len(hosting) == 18


def test_echoed_members_are_those_create_and_describe_share() -> None:
    for module, create, describe, own in [(models, "CreateModel", "DescribeModel", {"ModelName"}),
                                          (transform_jobs, "CreateTransformJob", "DescribeTransformJob",
                                           {"TransformJobName", "DataCaptureConfig"})]:
        shared = set(MODEL.operation_model(create).input_shape.members) & set(
            MODEL.operation_model(describe).output_shape.members)
        assert set(module.ECHOED_MEMBERS) == shared - own  # type: ignore[attr-defined]


def test_model_create_describe_list_delete(ctx: Context) -> None:
    _call(ctx, "CreateModel", ModelName="My-Model", PrimaryContainer={"Image": "img", "Environment": {"A": "1"}},
          Tags=[{"Key": "team", "Value": "ml"}])
    arn = f"{PREFIX}:model/my-model"
    assert _call(ctx, "DescribeModel", ModelName="My-Model") == {
        "ModelName": "My-Model", "ModelArn": arn, "CreationTime": T0 + timedelta(seconds=1),
        "PrimaryContainer": {"Image": "img", "Environment": {"A": "1"}}, "EnableNetworkIsolation": False}
    assert ctx.metadata.tags.list(arn).items == [("team", "ml")]
    assert _call(ctx, "ListModels")["Models"] == [
        {"ModelName": "My-Model", "ModelArn": arn, "CreationTime": T0 + timedelta(seconds=1)}]
    _call(ctx, "DeleteModel", ModelName="My-Model")
    assert str(_error(ctx, "DescribeModel", ModelName="My-Model")) == f'Could not find model "{arn}".'
    assert ctx.metadata.tags.list(arn).items == []


@pytest.mark.parametrize(("extra", "words"), [
    ({"Containers": [{"Image": "a"}, {"Image": "b"}]}, "either PrimaryContainer or Containers, not both"),
    ({"PrimaryContainer": None}, "Specify a PrimaryContainer, or Containers"),
    ({"PrimaryContainer": None, "Containers": []}, "Specify a PrimaryContainer, or Containers"),
    ({"PrimaryContainer": {"ModelDataUrl": "s3://b/k"}}, "PrimaryContainer.Image is required"),
    ({"PrimaryContainer": {"ModelPackageName": "p"}}, "model-package/p does not exist"),
    ({"PrimaryContainer": None, "Containers": [{"Image": "a"}, {"ModelDataUrl": "s3://b/k"}]},
     "Containers.2.Image is required"),
    ({"PrimaryContainer": None, "Containers": [{"Image": "a", "ContainerHostname": "h"},
                                               {"Image": "b", "ContainerHostname": "h"}]}, "repeated: h"),
    ({"InferenceExecutionConfig": {"Mode": "Direct"}}, "InferenceExecutionConfig applies to a model with Containers"),
    ({"Tags": [{"Key": "aws:x", "Value": "v"}]}, "reserved"),
])
def test_create_model_refusals_create_nothing(ctx: Context, extra: dict[str, Any], words: str) -> None:
    params = {"ModelName": "m", "PrimaryContainer": {"Image": "img"}} | extra
    error = _error(ctx, "CreateModel", **{k: v for k, v in params.items() if v is not None})
    assert (error.code, words in str(error)) == ("ValidationException", True), str(error)
    assert ctx.metadata.models.get("m") is None


def test_an_inference_pipeline_and_a_duplicate_model(ctx: Context) -> None:
    containers = [{"Image": "a", "ContainerHostname": "first"}, {"Image": "b"}]
    _call(ctx, "CreateModel", ModelName="p", Containers=containers, InferenceExecutionConfig={"Mode": "Serial"})
    assert _call(ctx, "DescribeModel", ModelName="p")["Containers"] == containers
    error = _error(ctx, "CreateModel", ModelName="P", PrimaryContainer={"Image": "x"})
    assert str(error) == f'Cannot create already existing model "{PREFIX}:model/p".'
    assert ctx.metadata.models.get("p").containers == containers  # type: ignore[union-attr]


def test_endpoint_config_defaults_and_echo(ctx: Context) -> None:
    _model(ctx)
    capture = {"InitialSamplingPercentage": 50, "DestinationS3Uri": "s3://b/capture",
               "CaptureOptions": [{"CaptureMode": "Input"}]}
    serverless = {"VariantName": "sls", "ModelName": "m", "ServerlessConfig": {"MemorySizeInMB": 2048,
                                                                              "MaxConcurrency": 5}}
    _call(ctx, "CreateEndpointConfig", EndpointConfigName="c", DataCaptureConfig=capture,
          ProductionVariants=[_variant(RoutingConfig={"RoutingStrategy": "RANDOM"}), serverless])
    described = _call(ctx, "DescribeEndpointConfig", EndpointConfigName="c")
    assert described == {"EndpointConfigName": "c", "EndpointConfigArn": f"{PREFIX}:endpoint-config/c",
                         "CreationTime": T0 + timedelta(seconds=2), "DataCaptureConfig": capture,
                         "ProductionVariants": [_variant(RoutingConfig={"RoutingStrategy": "RANDOM"},
                                                         InitialVariantWeight=1.0),
                                                serverless | {"InitialVariantWeight": 1.0}]}
    assert [c["EndpointConfigName"] for c in _call(ctx, "ListEndpointConfigs")["EndpointConfigs"]] == ["c"]


@pytest.mark.parametrize(("variants", "words"), [
    ([_variant("a"), _variant("a")], "VariantName must be unique within ProductionVariants; repeated: a"),
    ([_variant(ModelName="nope")], f'Could not find model "{PREFIX}:model/nope".'),
    ([{"VariantName": "v", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}], "ModelName is required"),
    ([{"VariantName": "v", "ModelName": "m", "InstanceType": "ml.m5.large"}], "InitialInstanceCount is required"),
    ([{"VariantName": "v", "ModelName": "m"}], "specify either InstanceType and InitialInstanceCount, or "
                                               "ServerlessConfig"),
    ([_variant(ServerlessConfig={"MemorySizeInMB": 1024, "MaxConcurrency": 1})], "specify either"),
    ([{"VariantName": "v", "ModelName": "m", "ServerlessConfig": {"MemorySizeInMB": 1500, "MaxConcurrency": 1}}],
     "MemorySizeInMB must be one of 1024, 2048, 3072, 4096, 5120 or 6144, not 1500"),
    ([{"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1,
       "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1}}], "serverless variant takes no"),
    ([{"VariantName": "v", "ModelName": "m",
       "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1, "ProvisionedConcurrency": 2}}],
     "ProvisionedConcurrency must not exceed MaxConcurrency"),
])
def test_create_endpoint_config_refusals(ctx: Context, variants: list[dict[str, Any]], words: str) -> None:
    _model(ctx)
    error = _error(ctx, "CreateEndpointConfig", EndpointConfigName="c", ProductionVariants=variants)
    assert (error.code, words in str(error)) == ("ValidationException", True), str(error)
    assert ctx.metadata.endpoint_configs.get("c") is None


def test_unavailable_config_features_and_duplicates(ctx: Context) -> None:
    _config(ctx)
    assert "online explainability (SageMaker Clarify) is not available" in str(_error(
        ctx, "CreateEndpointConfig", EndpointConfigName="x", ProductionVariants=[_variant()],
        ExplainerConfig={"ClarifyExplainerConfig": {"ShapConfig": {"ShapBaselineConfig": {}}}}))
    assert str(_error(ctx, "CreateEndpointConfig", EndpointConfigName="c", ProductionVariants=[_variant()])) == (
        f'Cannot create already existing endpoint configuration "{PREFIX}:endpoint-config/c".')


ASYNC_CONFIG = {"OutputConfig": {"S3OutputPath": "s3://b/out", "S3FailurePath": "s3://b/failed",
                                  "NotificationConfig": {"SuccessTopic": "arn:aws:sns:eu-west-1:123456789012:t"}},
                "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2}}


def test_an_async_inference_config_is_echoed_by_both_describes(ctx: Context) -> None:
    _model(ctx)
    _call(ctx, "CreateEndpointConfig", EndpointConfigName="c", ProductionVariants=[_variant()],
          AsyncInferenceConfig=ASYNC_CONFIG)
    assert _call(ctx, "DescribeEndpointConfig", EndpointConfigName="c")["AsyncInferenceConfig"] == ASYNC_CONFIG
    _call(ctx, "CreateEndpoint", EndpointName="e", EndpointConfigName="c")
    assert _call(ctx, "DescribeEndpoint", EndpointName="e")["AsyncInferenceConfig"] == ASYNC_CONFIG


@pytest.mark.parametrize(("output", "variant", "words"), [
    ({"S3FailurePath": "s3://b/failed"}, _variant(), "S3OutputPath is required"),
    ({"S3OutputPath": "https://b.example.com/out"}, _variant(), "S3OutputPath must be an S3 URI"),
    ({"S3OutputPath": "s3://b/out", "S3FailurePath": "s3:///failed"}, _variant(), "S3FailurePath must be an S3 URI"),
    ({"S3OutputPath": "s3://b/out"}, {"VariantName": "v", "ModelName": "m", "ServerlessConfig": {
        "MemorySizeInMB": 1024, "MaxConcurrency": 1}}, "cannot be used with serverless"),
])
def test_async_inference_config_refusals(ctx: Context, output: dict[str, Any], variant: dict[str, Any],
                                        words: str) -> None:
    _model(ctx)
    error = _error(ctx, "CreateEndpointConfig", EndpointConfigName="c", ProductionVariants=[variant],
                   AsyncInferenceConfig={"OutputConfig": output})
    assert (error.code, words in str(error)) == ("ValidationException", True), str(error)


def test_create_endpoint_records_it_creating_with_a_copy_of_its_config(ctx: Context) -> None:
    _config(ctx)
    assert _call(ctx, "CreateEndpoint", EndpointName="E", EndpointConfigName="c",
                 Tags=[{"Key": "k", "Value": "v"}]) == {"EndpointArn": f"{PREFIX}:endpoint/e"}
    _call(ctx, "DeleteEndpointConfig", EndpointConfigName="c")  # allowed while in use
    _call(ctx, "DeleteModel", ModelName="m")
    described = _call(ctx, "DescribeEndpoint", EndpointName="E")
    assert described == {
        "EndpointName": "E", "EndpointArn": f"{PREFIX}:endpoint/e", "EndpointConfigName": "c",
        "EndpointStatus": "Creating", "CreationTime": T0 + timedelta(seconds=3),
        "LastModifiedTime": T0 + timedelta(seconds=3),
        "ProductionVariants": [{"VariantName": "AllTraffic", "DesiredWeight": 1.0, "DesiredInstanceCount": 1}]}
    endpoint = ctx.metadata.endpoints.get("E")
    assert endpoint is not None and endpoint.spec.containers("m")[0]["Image"] == "modelbay/sklearn"
    assert ctx.metadata.tags.list(f"{PREFIX}:endpoint/e").items == [("k", "v")]


def test_create_endpoint_refusals(ctx: Context) -> None:
    assert str(_error(ctx, "CreateEndpoint", EndpointName="e", EndpointConfigName="c")) == (
        f'Could not find endpoint configuration "{PREFIX}:endpoint-config/c".')
    _endpoint(ctx)
    assert str(_error(ctx, "CreateEndpoint", EndpointName="e", EndpointConfigName="c")) == (
        f'Cannot create already existing endpoint "{PREFIX}:endpoint/e".')
    _call(ctx, "DeleteModel", ModelName="m")
    assert str(_error(ctx, "CreateEndpoint", EndpointName="f", EndpointConfigName="c")) == (
        f'Could not find model "{PREFIX}:model/m".')


def test_describe_shows_what_the_controller_reported_and_the_pending_update(ctx: Context) -> None:
    _endpoint(ctx)
    image = {"SpecifiedImage": "modelbay/sklearn", "ResolvedImage": "modelbay/sklearn", "ResolutionTime": T0}
    ctx.metadata.endpoints.advance("e", EndpointStatus.IN_SERVICE, variants=[VariantState(
        "AllTraffic", 0, 0, current_weight=1.0, current_instance_count=1, deployed_images=(image,))])
    _config(ctx, "c2", _variant("New", InitialInstanceCount=2))
    _call(ctx, "UpdateEndpoint", EndpointName="e", EndpointConfigName="c2",
          DeploymentConfig={"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
              "Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}}})
    described = _call(ctx, "DescribeEndpoint", EndpointName="e")
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("Updating", "c")
    assert described["ProductionVariants"] == [{"VariantName": "AllTraffic", "DesiredWeight": 1.0,
                                                "DesiredInstanceCount": 1, "CurrentWeight": 1.0,
                                                "CurrentInstanceCount": 1, "DeployedImages": [image]}]
    assert described["PendingDeploymentSummary"] == {
        "EndpointConfigName": "c2", "StartTime": described["LastModifiedTime"], "ProductionVariants": [
            {"VariantName": "New", "DesiredWeight": 1.0, "DesiredInstanceCount": 2, "InstanceType": "ml.m5.large"}]}
    assert "BlueGreenUpdatePolicy" in described["LastDeploymentConfig"]


def test_update_refusals_by_status_and_retained_properties(ctx: Context) -> None:
    _endpoint(ctx)
    arn = f"{PREFIX}:endpoint/e"
    assert str(_error(ctx, "UpdateEndpoint", EndpointName="e", EndpointConfigName="c")) == (
        f'Cannot update in-progress endpoint "{arn}".')
    assert str(_error(ctx, "DeleteEndpoint", EndpointName="e")) == f'Cannot update in-progress endpoint "{arn}".'
    _endpoint(ctx, "f")  # Failed moves to nothing but Deleting, so another endpoint fails
    ctx.metadata.endpoints.advance("f", EndpointStatus.FAILED, failure_reason="no")
    assert str(_error(ctx, "UpdateEndpoint", EndpointName="f", EndpointConfigName="c")) == (
        f'Cannot update failed endpoint "{PREFIX}:endpoint/f".')
    ctx.metadata.endpoints.advance("e", EndpointStatus.IN_SERVICE)
    _call(ctx, "UpdateEndpointWeightsAndCapacities", EndpointName="e",
          DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredWeight": 3.0, "DesiredInstanceCount": 4}])
    ctx.metadata.endpoints.advance("e", EndpointStatus.IN_SERVICE)
    _config(ctx, "c2", _variant(InitialInstanceCount=1, InitialVariantWeight=1.0))
    _call(ctx, "UpdateEndpoint", EndpointName="e", EndpointConfigName="c2", RetainAllVariantProperties=True,
          ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DesiredWeight"}])
    pending = ctx.metadata.endpoints.get("e").pending_variants  # type: ignore[union-attr]
    assert (pending[0].desired_weight, pending[0].desired_instance_count) == (1.0, 4)
    assert str(_error(ctx, "UpdateEndpoint", EndpointName="nope", EndpointConfigName="c")) == (
        f'Could not find endpoint "{PREFIX}:endpoint/nope".')


@pytest.mark.parametrize(("items", "words"), [
    ([{"VariantName": "Nope", "DesiredWeight": 1.0}, {"VariantName": "Other", "DesiredWeight": 1.0}],
     'The variant name(s) "Nope, Other" is/are not present within endpoint configuration "c".'),
    ([{"VariantName": "AllTraffic", "DesiredWeight": 1.0}] * 2,
     'The variant name "AllTraffic" was non-unique within the request.'),
    ([{"VariantName": "AllTraffic"}], "give DesiredWeight, DesiredInstanceCount or both"),
    ([{"VariantName": "AllTraffic", "DesiredInstanceCount": 0}], "DesiredInstanceCount must be at least 1"),
])
def test_weights_refusals_write_nothing(ctx: Context, items: list[dict[str, Any]], words: str) -> None:
    _endpoint(ctx)
    before = ctx.metadata.endpoints.advance("e", EndpointStatus.IN_SERVICE)
    error = _error(ctx, "UpdateEndpointWeightsAndCapacities", EndpointName="e", DesiredWeightsAndCapacities=items)
    assert (error.code, words in str(error)) == ("ValidationException", True), str(error)
    assert ctx.metadata.endpoints.get("e") == before


def test_delete_is_refused_while_anything_is_in_progress_as_sagemaker_words_it(ctx: Context) -> None:
    """SageMaker refuses DeleteEndpoint while Creating or Updating with the words of a refused update; once the
    endpoint is InService (or Failed) the delete goes through, and a second one is refused while it is Deleting."""
    _endpoint(ctx)
    in_progress = f'Cannot update in-progress endpoint "{PREFIX}:endpoint/e".'
    refusal = _error(ctx, "DeleteEndpoint", EndpointName="e")  # Creating
    assert (refusal.code, str(refusal)) == ("ValidationException", in_progress)
    ctx.metadata.endpoints.advance("e", EndpointStatus.IN_SERVICE)
    _config(ctx, "c2", _variant())
    _call(ctx, "UpdateEndpoint", EndpointName="e", EndpointConfigName="c2")
    assert str(_error(ctx, "DeleteEndpoint", EndpointName="e")) == in_progress  # Updating
    ctx.metadata.endpoints.advance("e", EndpointStatus.IN_SERVICE, update=UpdateOutcome.DEPLOYED)
    _call(ctx, "DeleteEndpoint", EndpointName="e")
    assert _call(ctx, "DescribeEndpoint", EndpointName="e")["EndpointStatus"] == "Deleting"
    assert str(_error(ctx, "DeleteEndpoint", EndpointName="e")) == in_progress


def test_delete_and_list_endpoints(ctx: Context) -> None:
    for name in ("b", "a"):
        _endpoint(ctx, name)
    ctx.metadata.endpoints.advance("a", EndpointStatus.IN_SERVICE)
    _call(ctx, "DeleteEndpoint", EndpointName="a")
    listed = _call(ctx, "ListEndpoints", SortBy="Name", SortOrder="Ascending")["Endpoints"]
    assert [(e["EndpointName"], e["EndpointStatus"]) for e in listed] == [("a", "Deleting"), ("b", "Creating")]
    assert [e["EndpointName"] for e in _call(ctx, "ListEndpoints", StatusEquals="Creating")["Endpoints"]] == ["b"]
    page = _call(ctx, "ListEndpoints", MaxResults=1)
    assert [e["EndpointName"] for e in page["Endpoints"]] == ["a"]
    assert [e["EndpointName"] for e in _call(ctx, "ListEndpoints", NextToken=page["NextToken"])["Endpoints"]] == ["b"]
    assert str(_error(ctx, "DeleteEndpoint", EndpointName="z")) == f'Could not find endpoint "{PREFIX}:endpoint/z".'


def _transform_request(name: str = "t", **extra: Any) -> dict[str, Any]:
    return {"TransformJobName": name, "ModelName": "m",
            "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in"}},
                               "ContentType": "text/csv", "SplitType": "Line"},
            "TransformOutput": {"S3OutputPath": "s3://b/out"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}} | extra


def test_transform_job_record_describe_list_and_stop(ctx: Context) -> None:
    _model(ctx)
    request = _transform_request("T", DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input"})
    assert _call(ctx, "CreateTransformJob", **request) == {"TransformJobArn": f"{PREFIX}:transform-job/t"}
    described = _call(ctx, "DescribeTransformJob", TransformJobName="T")
    assert described == {
        "TransformJobName": "T", "TransformJobArn": f"{PREFIX}:transform-job/t", "TransformJobStatus": "InProgress",
        "CreationTime": T0 + timedelta(seconds=2), "ModelName": "m", "MaxPayloadInMB": 6,
        "TransformInput": request["TransformInput"] | {"CompressionType": "None"},
        "TransformOutput": {"S3OutputPath": "s3://b/out", "AssembleWith": "None"},
        "TransformResources": request["TransformResources"],
        "DataProcessing": {"InputFilter": "$[1:]", "OutputFilter": "$", "JoinSource": "Input"}}
    _call(ctx, "StopTransformJob", TransformJobName="T")
    summaries = _call(ctx, "ListTransformJobs", StatusEquals="Stopping")["TransformJobSummaries"]
    assert [s["TransformJobName"] for s in summaries] == ["T"]
    assert str(_error(ctx, "StopTransformJob", TransformJobName="T")) == (
        "The request was rejected because the transform job is in status Stopping.")
    assert str(_error(ctx, "DescribeTransformJob", TransformJobName="x")) == "Could not find requested job with name x"
    assert isinstance(_error(ctx, "CreateTransformJob", **_transform_request("t")), ResourceInUse)


@pytest.mark.parametrize(("extra", "words"), [
    ({"ModelName": "nope"}, f'Could not find model "{PREFIX}:model/nope".'),
    ({"TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in"}},
                         "SplitType": "RecordIO"}}, "SplitType RecordIO is not available in modelbay; use None or"),
    ({"TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in"}},
                         "CompressionType": "Gzip"}}, "CompressionType Gzip is not available"),
    ({"TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "AugmentedManifestFile",
                                                         "S3Uri": "s3://b/in"}}}},
     "S3DataType AugmentedManifestFile is not available in modelbay; use S3Prefix or ManifestFile"),
    ({"MaxPayloadInMB": 101}, "MaxPayloadInMB must be at most 100, not 101"),
    ({"MaxPayloadInMB": 30, "MaxConcurrentTransforms": 4},
     "MaxPayloadInMB (30) multiplied by MaxConcurrentTransforms (4) must not exceed 100"),
    ({"DataProcessing": {"InputFilter": "$..x"}}, "DataProcessing.InputFilter: JSONPath '$..x': unsupported syntax"),
    ({"DataProcessing": {"OutputFilter": "features"}}, "DataProcessing.OutputFilter: JSONPath 'features' must start"),
    ({"DataCaptureConfig": {"DestinationS3Uri": "s3://b/c"}}, "batch data capture is not available"),
])
def test_create_transform_job_refusals(ctx: Context, extra: dict[str, Any], words: str) -> None:
    _model(ctx)
    error = _error(ctx, "CreateTransformJob", **_transform_request(**extra))
    assert (type(error), words in str(error)) == (ValidationError, True), str(error)
    assert ctx.metadata.transform_jobs.get("t") is None
