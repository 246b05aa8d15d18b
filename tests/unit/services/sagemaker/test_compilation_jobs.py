"""The compilation-job operations as service functions over a real SQLite metadata store (no execution)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelbay.errors import ResourceInUse, ResourceNotFound, ValidationError
from modelbay.services.base import Context
from modelbay.services.sagemaker.compilation_jobs import ECHOED_MEMBERS, OPERATIONS
from modelbay.statuses import CompilationJobStatus
from tests.helpers import T0

MODEL = botocore.session.get_session().get_service_model("sagemaker")
DESCRIBE_SHAPE = MODEL.operation_model("DescribeCompilationJob").output_shape


def _request(name: str, **extra: Any) -> dict[str, Any]:
    return {"CompilationJobName": name, "RoleArn": "arn:aws:iam::123456789012:role/r",
            "InputConfig": {"S3Uri": "s3://b/models/model.tar.gz", "Framework": "SKLEARN"},
            "OutputConfig": {"S3OutputLocation": "s3://b/compiled", "TargetDevice": "ml_c5"},
            "StoppingCondition": {"MaxRuntimeInSeconds": 900}} | extra


def _call(ctx: Context, operation: str, **params: Any) -> Any:
    """Call the operation's function and check its output against botocore's output shape (or none)."""
    output = OPERATIONS[operation](ctx, params)
    if MODEL.operation_model(operation).output_shape is None:  # Stop and Delete answer nothing
        assert output == {}
        return output
    report = ParamValidator().validate(output, MODEL.operation_model(operation).output_shape)
    assert not report.has_errors(), report.generate_report()
    return output


def test_operations_and_echoed_members_are_the_models() -> None:
    assert set(OPERATIONS) == {"CreateCompilationJob", "DescribeCompilationJob", "ListCompilationJobs",
                               "StopCompilationJob", "DeleteCompilationJob"}
    create_members = set(MODEL.operation_model("CreateCompilationJob").input_shape.members)
    assert set(ECHOED_MEMBERS) == (create_members & set(DESCRIBE_SHAPE.members)) - {
        "CompilationJobName", "ModelPackageVersionArn"}  # modelbay refuses a model package version


def test_create_then_describe_gives_the_request_back_with_the_state(ctx: Context) -> None:
    request = _request("My-Job")
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:compilation-job/my-job"
    assert _call(ctx, "CreateCompilationJob", **request, Tags=[{"Key": "k", "Value": "v"}]) == {
        "CompilationJobArn": arn}
    assert ctx.metadata.tags.list(arn).items == [("k", "v")]
    created = T0 + timedelta(seconds=1)
    assert _call(ctx, "DescribeCompilationJob", CompilationJobName="My-Job") == request | {
        "CompilationJobArn": arn, "CompilationJobStatus": "STARTING", "CreationTime": created,
        "LastModifiedTime": created, "FailureReason": "",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/compiled/model-ml_c5.tar.gz"},
        "InferenceImage": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-inference-sklearn:latest"}
    with pytest.raises(ResourceInUse, match="a compilation job with this name already exists"):
        _call(ctx, "CreateCompilationJob", **request)


def test_a_completed_job_shows_its_artifact_digest_and_times(ctx: Context) -> None:
    _call(ctx, "CreateCompilationJob", **_request("j", OutputConfig={
        "S3OutputLocation": "s3://b/out", "TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"}}))
    jobs = ctx.metadata.compilation_jobs
    jobs.advance("j", CompilationJobStatus.INPROGRESS)
    jobs.advance("j", CompilationJobStatus.COMPLETED, model_artifact="s3://b/out/model-LINUX_X86_64.tar.gz",
                 artifact_digest="f" * 64, derived_information={"DerivedDataInputConfig": '{"input0": [null, 4]}'})
    described = _call(ctx, "DescribeCompilationJob", CompilationJobName="j")
    assert (described["ModelArtifacts"], described["ModelDigests"]) == (
        {"S3ModelArtifacts": "s3://b/out/model-LINUX_X86_64.tar.gz"}, {"ArtifactDigest": "f" * 64})
    assert described["DerivedInformation"] == {"DerivedDataInputConfig": '{"input0": [null, 4]}'}
    assert described["CompilationStartTime"] < described["CompilationEndTime"]
    assert "InferenceImage" not in described  # a platform is no ml_ instance


@pytest.mark.parametrize(("change", "message"), [
    ({"InputConfig": {"S3Uri": "s3://b/m.tar.gz", "Framework": "TENSORFLOW"}},
     "modelbay does not compile TENSORFLOW models \\(it compiles ONNX, PYTORCH, SKLEARN, XGBOOST\\)"),
    ({"OutputConfig": {"S3OutputLocation": "s3://b/o", "TargetDevice": "ml_c5",
                       "TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"}}}, "exactly one of TargetDevice"),
    ({"OutputConfig": {"S3OutputLocation": "s3://b/o"}}, "exactly one of TargetDevice or TargetPlatform"),
    ({"OutputConfig": {"S3OutputLocation": "s3://b/o", "TargetDevice": "ml_inf1"}},
     "cannot compile for ml_inf1: AWS Inferentia and Trainium need the AWS Neuron compiler"),
    ({"ModelPackageVersionArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/g/1"},
     "ModelPackageVersionArn is not available in modelbay"),
    ({"InputConfig": {"S3Uri": "s3://b/m.tar.gz", "Framework": "SKLEARN", "DataInputConfig": "[1, 4"}},
     "InputConfig.DataInputConfig is not valid JSON"),
    ({"VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-0123456789abcdef0"]}},
     "VpcConfig.SecurityGroupIds: sg-1 is not a valid id"),
    ({"StoppingCondition": {"MaxRuntimeInSeconds": 40 * 24 * 3600}}, "must be at most 2419200"),
])
def test_create_refuses_what_cannot_be_compiled_here_with_the_reason(ctx: Context, change: dict[str, Any],
                                                                     message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _call(ctx, "CreateCompilationJob", **_request("j") | change)
    assert ctx.metadata.compilation_jobs.get("j") is None


def test_list_filters_sorts_and_names_each_target(ctx: Context) -> None:
    _call(ctx, "CreateCompilationJob", **_request("b"))
    _call(ctx, "CreateCompilationJob", **_request("a", OutputConfig={
        "S3OutputLocation": "s3://b/o", "TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"}}))
    ctx.metadata.compilation_jobs.advance("b", CompilationJobStatus.FAILED, failure_reason="ClientError: x")
    listed = _call(ctx, "ListCompilationJobs", SortBy="Name", SortOrder="Ascending")["CompilationJobSummaries"]
    assert [(s["CompilationJobName"], s["CompilationJobStatus"]) for s in listed] == [
        ("a", "STARTING"), ("b", "FAILED")]
    assert (listed[0]["CompilationTargetPlatformOs"], listed[0]["CompilationTargetPlatformArch"]) == (
        "LINUX", "X86_64")
    assert listed[1]["CompilationTargetDevice"] == "ml_c5" and "CompilationEndTime" in listed[1]
    failed = _call(ctx, "ListCompilationJobs", StatusEquals="FAILED")["CompilationJobSummaries"]
    assert [s["CompilationJobName"] for s in failed] == ["b"]


def test_stop_moves_a_running_job_to_stopping_once(ctx: Context) -> None:
    _call(ctx, "CreateCompilationJob", **_request("j"))
    _call(ctx, "StopCompilationJob", CompilationJobName="j")
    assert _call(ctx, "DescribeCompilationJob", CompilationJobName="j")["CompilationJobStatus"] == "STOPPING"
    with pytest.raises(ValidationError, match="compilation job is in status STOPPING"):
        _call(ctx, "StopCompilationJob", CompilationJobName="j")
    with pytest.raises(ResourceNotFound, match="Could not find compilation job with name nope"):
        _call(ctx, "StopCompilationJob", CompilationJobName="nope")
    with pytest.raises(ResourceNotFound):
        _call(ctx, "DescribeCompilationJob", CompilationJobName="nope")


def test_delete_only_an_ended_job(ctx: Context) -> None:
    _call(ctx, "CreateCompilationJob", **_request("j"))
    with pytest.raises(ValidationError, match="in status STARTING: only a COMPLETED, FAILED or STOPPED job"):
        _call(ctx, "DeleteCompilationJob", CompilationJobName="j")
    _call(ctx, "StopCompilationJob", CompilationJobName="j")
    ctx.metadata.compilation_jobs.advance("j", CompilationJobStatus.STOPPED)
    _call(ctx, "DeleteCompilationJob", CompilationJobName="j")
    with pytest.raises(ResourceNotFound):
        _call(ctx, "DeleteCompilationJob", CompilationJobName="j")
