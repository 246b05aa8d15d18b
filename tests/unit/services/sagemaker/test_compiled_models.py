"""A compiled model runs only on the instance family its compilation job targeted: CreateEndpointConfig and
CreateTransformJob refuse another family (or a model compiled for an edge device) naming the model, the family
and the instance type; a model no compilation job wrote runs anywhere."""

from __future__ import annotations

from typing import Any

import pytest

from modelbay.services.base import Context
from modelbay.services.sagemaker.compiled_models import instance_family, model_data_urls
from modelbay.statuses import CompilationJobStatus
from tests.unit.services.sagemaker.test_hosting import _call, _error, _model, _variant

COMPILED = "s3://b/compiled/model-ml_c5.tar.gz"


def _compiled(ctx: Context, name: str = "neo", output: dict[str, Any] | None = None,
              artifact: str = COMPILED, status: CompilationJobStatus = CompilationJobStatus.COMPLETED) -> None:
    """A compilation job that wrote `artifact`, moved to `status`."""
    output = output or {"S3OutputLocation": "s3://b/compiled", "TargetDevice": "ml_c5"}
    request = {"InputConfig": {"S3Uri": "s3://b/model.tar.gz", "Framework": "XGBOOST",
                               "DataInputConfig": '{"data": [1, 4]}'}, "OutputConfig": output}
    jobs = ctx.metadata.compilation_jobs
    jobs.create(name, f"arn:aws:sagemaker:eu-west-1:123456789012:compilation-job/{name}", request)
    jobs.advance(name, CompilationJobStatus.INPROGRESS)
    jobs.advance(name, status, model_artifact=artifact if status == CompilationJobStatus.COMPLETED else None,
                 failure_reason=None if status == CompilationJobStatus.COMPLETED else "failed")


def _compiled_model(ctx: Context, name: str = "m", url: str = COMPILED) -> None:
    _model(ctx, name, PrimaryContainer={"Image": "modelbay/neo", "ModelDataUrl": url})


def _config_error(ctx: Context, **variant: Any) -> str:
    error = _error(ctx, "CreateEndpointConfig", EndpointConfigName="c", ProductionVariants=[_variant(**variant)])
    assert error.code == "ValidationException"
    assert ctx.metadata.endpoint_configs.get("c") is None
    return str(error)


def test_a_compiled_model_on_its_family_is_accepted(ctx: Context) -> None:
    _compiled(ctx)
    _compiled_model(ctx)
    _call(ctx, "CreateEndpointConfig", EndpointConfigName="c",
          ProductionVariants=[_variant(InstanceType="ml.c5.2xlarge")])
    assert ctx.metadata.endpoint_configs.get("c") is not None


def test_a_compiled_model_on_another_family_is_refused_naming_model_family_and_type(ctx: Context) -> None:
    _compiled(ctx)
    _compiled_model(ctx)
    message = _config_error(ctx, InstanceType="ml.m5.large")
    assert message.startswith("ProductionVariant AllTraffic: model m was compiled for the ml.c5 instance family")
    assert "cannot run on ml.m5.large" in message and "compilation job neo" in message
    assert "compile the model for ml_m5" in message


def test_a_shadow_variant_is_checked_too(ctx: Context) -> None:
    _compiled(ctx)
    _compiled_model(ctx, "compiled")
    _model(ctx, "plain")
    error = _error(ctx, "CreateEndpointConfig", EndpointConfigName="c",
                   ProductionVariants=[_variant("live", ModelName="plain")],
                   ShadowProductionVariants=[_variant("shadow", ModelName="compiled", InstanceType="ml.c4.large")])
    assert "ShadowProductionVariant shadow: model compiled was compiled for the ml.c5" in str(error)


def test_a_model_no_completed_job_wrote_runs_anywhere(ctx: Context) -> None:
    _compiled(ctx, "failed", artifact=COMPILED, status=CompilationJobStatus.FAILED)
    _compiled_model(ctx)
    _call(ctx, "CreateEndpointConfig", EndpointConfigName="c", ProductionVariants=[_variant()])


def test_a_model_compiled_for_a_target_platform_runs_on_any_family(ctx: Context) -> None:
    _compiled(ctx, output={"S3OutputLocation": "s3://b/compiled", "TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"}})
    _compiled_model(ctx)
    _call(ctx, "CreateEndpointConfig", EndpointConfigName="c", ProductionVariants=[_variant()])


def test_a_model_compiled_for_an_edge_device_is_refused_on_endpoints(ctx: Context) -> None:
    _compiled(ctx, output={"S3OutputLocation": "s3://b/compiled", "TargetDevice": "rasp4b"})
    _compiled_model(ctx)
    message = _config_error(ctx, InstanceType="ml.c5.large")
    assert "model m was compiled for the edge device rasp4b" in message and "edge packaging job" in message


def test_serverless_variants_of_an_instance_compiled_model_are_allowed(ctx: Context) -> None:
    _compiled(ctx)
    _compiled_model(ctx)
    serverless = {"VariantName": "AllTraffic", "ModelName": "m",
                  "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1}}
    _call(ctx, "CreateEndpointConfig", EndpointConfigName="c", ProductionVariants=[serverless])


def test_model_data_source_and_pipeline_containers_are_looked_up() -> None:
    request = {"Containers": [{"Image": "a", "ModelDataUrl": "s3://b/other.tar.gz"},
                              {"Image": "b", "ModelDataSource": {"S3DataSource": {
                                  "S3Uri": COMPILED, "S3DataType": "S3Object", "CompressionType": "Gzip"}}}]}
    assert list(model_data_urls(request)) == ["s3://b/other.tar.gz", COMPILED]


def test_a_transform_job_is_refused_on_another_family(ctx: Context) -> None:
    _compiled(ctx)
    _compiled_model(ctx)
    job = {"TransformJobName": "t", "ModelName": "m",
           "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in"}}},
           "TransformOutput": {"S3OutputPath": "s3://b/out"}}
    error = _error(ctx, "CreateTransformJob", **job,
                   TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    assert str(error).startswith("TransformResources: model m was compiled for the ml.c5 instance family")
    assert ctx.metadata.transform_jobs.get("t") is None
    _call(ctx, "CreateTransformJob", **job, TransformResources={"InstanceType": "ml.c5.xlarge", "InstanceCount": 1})


@pytest.mark.parametrize(("device", "family"), [("ml_c5", "ml.c5"), ("ml_g4dn", "ml.g4dn"), ("ml_inf1", "ml.inf1")])
def test_instance_family(device: str, family: str) -> None:
    assert instance_family(device) == family
