"""Edge packaging jobs as SageMaker's service functions: answers checked against botocore's output shapes, refusals
in SageMaker's words."""

from __future__ import annotations

from typing import Any

import pytest

from modelbay.services.base import Context
from modelbay.services.sagemaker.edge_packaging_jobs import OPERATIONS
from modelbay.statuses import CompilationJobStatus, EdgePackagingJobStatus
from tests.unit.services.service_calls import ServiceCalls

SAGEMAKER = ServiceCalls("sagemaker", OPERATIONS)
ROLE = "arn:aws:iam::123456789012:role/edge"


@pytest.fixture
def compiled(ctx: Context) -> str:
    """A COMPLETED compilation job's name."""
    jobs = ctx.metadata.compilation_jobs
    jobs.create("compiled", "arn:aws:sagemaker:eu-west-1:123456789012:compilation-job/compiled", {
        "RoleArn": ROLE, "InputConfig": {"S3Uri": "s3://b/model.tar.gz", "Framework": "XGBOOST"},
        "OutputConfig": {"S3OutputLocation": "s3://b/compiled/", "TargetDevice": "ml_c5"}})
    jobs.advance("compiled", CompilationJobStatus.INPROGRESS)
    jobs.advance("compiled", CompilationJobStatus.COMPLETED, model_artifact="s3://b/compiled/model.tar.gz")
    return "compiled"


def _create(ctx: Context, name: str, compilation: str, **extra: Any) -> dict[str, Any]:
    return {"EdgePackagingJobName": name, "CompilationJobName": compilation, "ModelName": "clf",
            "ModelVersion": "1.0", "RoleArn": ROLE, "OutputConfig": {"S3OutputLocation": "s3://b/edge"}} | extra


def test_a_job_is_described_starting_then_with_its_package(ctx: Context, compiled: str) -> None:
    SAGEMAKER.call(ctx, "CreateEdgePackagingJob", **_create(ctx, "pkg", compiled,
                                                            Tags=[{"Key": "team", "Value": "edge"}]))
    found = SAGEMAKER.call(ctx, "DescribeEdgePackagingJob", EdgePackagingJobName="pkg")
    assert (found["EdgePackagingJobStatus"], found["ModelVersion"], found["CompilationJobName"]) == (
        "STARTING", "1.0", compiled)
    assert "ModelArtifact" not in found and "PresetDeploymentOutput" not in found
    ctx.metadata.edge_packaging_jobs.advance("pkg", EdgePackagingJobStatus.INPROGRESS)
    ctx.metadata.edge_packaging_jobs.advance("pkg", EdgePackagingJobStatus.COMPLETED,
                                             model_artifact="s3://b/edge/clf-1.0.tar.gz", model_signature="c2ln",
                                             package_sha1="a" * 40)
    found = SAGEMAKER.call(ctx, "DescribeEdgePackagingJob", EdgePackagingJobName="pkg")
    assert (found["ModelArtifact"], found["ModelSignature"]) == ("s3://b/edge/clf-1.0.tar.gz", "c2ln")
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:edge-packaging-job/pkg"
    assert found["EdgePackagingJobArn"] == arn and ctx.metadata.tags.list(arn).items == [("team", "edge")]
    assert SAGEMAKER.error(ctx, "CreateEdgePackagingJob", **_create(ctx, "pkg", compiled))[0] == "ResourceInUse"


def test_only_a_completed_compilation_job_is_packaged(ctx: Context, compiled: str) -> None:
    code, status, message = SAGEMAKER.error(ctx, "CreateEdgePackagingJob", **_create(ctx, "pkg", "absent"))
    assert (code, status) == ("ValidationException", 400) and "absent does not exist" in message
    ctx.metadata.compilation_jobs.create("running", "arn:aws:sagemaker:eu-west-1:1:compilation-job/running", {
        "RoleArn": ROLE, "InputConfig": {"S3Uri": "s3://b/m.tar.gz", "Framework": "XGBOOST"},
        "OutputConfig": {"S3OutputLocation": "s3://b/c/", "TargetDevice": "ml_c5"}})
    assert "is STARTING" in SAGEMAKER.error(ctx, "CreateEdgePackagingJob", **_create(ctx, "pkg", "running"))[2]
    greengrass = {"S3OutputLocation": "s3://b/edge", "PresetDeploymentType": "GreengrassV2Component"}
    assert "Greengrass" in SAGEMAKER.error(ctx, "CreateEdgePackagingJob",
                                           **_create(ctx, "pkg", compiled, OutputConfig=greengrass))[2]
    https = {"S3OutputLocation": "https://b.s3.amazonaws.com/edge"}
    assert "s3://" in SAGEMAKER.error(ctx, "CreateEdgePackagingJob",
                                      **_create(ctx, "pkg", compiled, OutputConfig=https))[2]


def test_list_filters_sorts_and_stop(ctx: Context, compiled: str) -> None:
    for name in ("b", "a"):
        SAGEMAKER.call(ctx, "CreateEdgePackagingJob", **_create(ctx, name, compiled))
    listed = SAGEMAKER.call(ctx, "ListEdgePackagingJobs", SortBy="NAME", SortOrder="Ascending")
    assert [job["EdgePackagingJobName"] for job in listed["EdgePackagingJobSummaries"]] == ["a", "b"]
    assert SAGEMAKER.call(ctx, "ListEdgePackagingJobs", ModelNameContains="other")["EdgePackagingJobSummaries"] == []
    assert "not available" in SAGEMAKER.error(ctx, "ListEdgePackagingJobs", SortBy="MODEL_NAME")[2]
    SAGEMAKER.call(ctx, "StopEdgePackagingJob", EdgePackagingJobName="a")
    assert SAGEMAKER.call(ctx, "ListEdgePackagingJobs", StatusEquals="STOPPING")["EdgePackagingJobSummaries"][0][
        "EdgePackagingJobName"] == "a"
    assert SAGEMAKER.error(ctx, "StopEdgePackagingJob", EdgePackagingJobName="a")[0] == "ValidationException"
    assert SAGEMAKER.error(ctx, "StopEdgePackagingJob", EdgePackagingJobName="zz")[0] == "ResourceNotFound"
    assert SAGEMAKER.error(ctx, "DescribeEdgePackagingJob", EdgePackagingJobName="zz")[0] == "ResourceNotFound"
