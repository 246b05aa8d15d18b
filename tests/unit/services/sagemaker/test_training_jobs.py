"""The training-job operations as service functions over a real SQLite metadata store (no execution)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelbay.errors import ResourceInUse, ValidationError
from modelbay.services.base import Context
from modelbay.services.sagemaker.training_jobs import (
    ECHOED_MEMBERS,
    OPERATIONS,
    describe_training_job,
    stop_training_job,
)
from modelbay.services.sagemaker.training_jobs import create_training_job as create
from modelbay.statuses import SecondaryStatus, TrainingJobStatus
from tests.helpers import T0, Clock

MODEL = botocore.session.get_session().get_service_model("sagemaker")
DESCRIBE_SHAPE = MODEL.operation_model("DescribeTrainingJob").output_shape


def _request(name: str, **extra: Any) -> dict[str, Any]:
    return {"TrainingJobName": name, "RoleArn": "arn:aws:iam::123456789012:role/r",
            "AlgorithmSpecification": {"TrainingImage": "modelbay/sklearn", "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1}} | extra


def _call(ctx: Context, operation: str, **params: Any) -> Any:
    """Call the operation's function and check its output against botocore's output shape (or none)."""
    output = OPERATIONS[operation](ctx, params)
    shape = MODEL.operation_model(operation).output_shape
    if shape is None:  # StopTrainingJob answers nothing
        assert output == {}
        return output
    report = ParamValidator().validate(output, shape)
    assert not report.has_errors(), report.generate_report()
    return output


def _arn(name: str) -> str:
    return f"arn:aws:sagemaker:eu-west-1:123456789012:training-job/{name}"


def test_operations_are_the_models() -> None:
    assert set(MODEL.operation_names) >= set(OPERATIONS)
    assert set(OPERATIONS) == {"CreateTrainingJob", "DescribeTrainingJob", "ListTrainingJobs", "StopTrainingJob"}


def test_echoed_members_are_those_create_and_describe_share() -> None:
    create_members = set(MODEL.operation_model("CreateTrainingJob").input_shape.members)
    assert set(ECHOED_MEMBERS) == (create_members & set(DESCRIBE_SHAPE.members)) - {"TrainingJobName"}


def test_create_answers_with_the_lower_case_arn_and_stores_tags(ctx: Context) -> None:
    tags = [{"Key": "team", "Value": "ml"}]
    assert _call(ctx, "CreateTrainingJob", **_request("My-Job", Tags=tags)) == {"TrainingJobArn": _arn("my-job")}
    assert ctx.metadata.tags.list(_arn("my-job")).items == [("team", "ml")]


def test_describe_gives_the_request_back_with_the_state(ctx: Context) -> None:
    request = _request("j", HyperParameters={"epochs": "3"}, Environment={"A": "1"})
    _call(ctx, "CreateTrainingJob", **request, Tags=[{"Key": "k", "Value": "v"}])
    created = T0 + timedelta(seconds=1)  # the clock's first reading
    description = _call(ctx, "DescribeTrainingJob", TrainingJobName="j")
    assert description == {key: value for key, value in request.items() if key != "TrainingJobName"} | {
        "TrainingJobName": "j", "TrainingJobArn": _arn("j"), "TrainingJobStatus": "InProgress",
        "SecondaryStatus": "Starting", "CreationTime": created, "LastModifiedTime": created,
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400}, "EnableNetworkIsolation": False,
        "OutputDataConfig": request["OutputDataConfig"] | {"KmsKeyId": ""},  # SageMaker's, which Estimator.attach reads
        "EnableInterContainerTrafficEncryption": False, "EnableManagedSpotTraining": False,
        "SecondaryStatusTransitions": [
            {"Status": "Starting", "StartTime": created, "StatusMessage": "Starting the training job"}],
        "ModelArtifacts": {"S3ModelArtifacts": "s3://bucket/out/j/output/model.tar.gz"}}
    assert set(DESCRIBE_SHAPE.required_members) <= set(description) <= set(DESCRIBE_SHAPE.members)


def test_describe_of_an_ended_job_has_every_required_member_and_its_times(ctx: Context) -> None:
    _call(ctx, "CreateTrainingJob", **_request("j", StoppingCondition={"MaxRuntimeInSeconds": 60}))  # t+1
    ctx.metadata.training_jobs.advance("j", TrainingJobStatus.IN_PROGRESS, secondary=SecondaryStatus.TRAINING,
                                       message="Training in progress")  # t+2
    ctx.metadata.training_jobs.advance("j", TrainingJobStatus.COMPLETED, secondary=SecondaryStatus.COMPLETED,
                                       message="Training job completed",  # t+3
                                       model_artifacts="s3://elsewhere/model.tar.gz")
    description = _call(ctx, "DescribeTrainingJob", TrainingJobName="j")
    assert set(DESCRIBE_SHAPE.required_members) <= set(description) <= set(DESCRIBE_SHAPE.members)
    assert description["ModelArtifacts"] == {"S3ModelArtifacts": "s3://elsewhere/model.tar.gz"}
    assert description["StoppingCondition"] == {"MaxRuntimeInSeconds": 60}
    assert (description["TrainingTimeInSeconds"], description["BillableTimeInSeconds"]) == (1, 1)
    assert [t["Status"] for t in description["SecondaryStatusTransitions"]] == ["Starting", "Training", "Completed"]
    assert "EndTime" in description["SecondaryStatusTransitions"][1]
    assert "EndTime" not in description["SecondaryStatusTransitions"][2]


@pytest.mark.parametrize(("training_s", "reported_s"), [(0.4, 1), (1.4, 2), (3.0, 3)])
def test_training_and_billable_time_round_up_to_whole_seconds(ctx: Context, clock: Clock, training_s: float,
                                                              reported_s: int) -> None:
    _call(ctx, "CreateTrainingJob", **_request("j"))
    clock.step = timedelta(seconds=training_s)  # from TrainingStartTime to TrainingEndTime
    ctx.metadata.training_jobs.advance("j", TrainingJobStatus.IN_PROGRESS, secondary=SecondaryStatus.TRAINING,
                                       message="Training in progress")
    ctx.metadata.training_jobs.advance("j", TrainingJobStatus.FAILED, secondary=SecondaryStatus.FAILED,
                                       message="Training job failed", failure_reason="AlgorithmError: x")
    description = _call(ctx, "DescribeTrainingJob", TrainingJobName="j")
    assert (description["TrainingTimeInSeconds"], description["BillableTimeInSeconds"]) == (reported_s, reported_s)


def test_a_stopping_condition_given_in_part_gets_the_default_max_runtime(ctx: Context) -> None:
    _call(ctx, "CreateTrainingJob", **_request("j", StoppingCondition={"MaxPendingTimeInSeconds": 7200}))
    description = _call(ctx, "DescribeTrainingJob", TrainingJobName="j")
    assert description["StoppingCondition"] == {"MaxPendingTimeInSeconds": 7200, "MaxRuntimeInSeconds": 86400}
    job = ctx.metadata.training_jobs.get("j")
    assert job is not None and job.spec.max_runtime_in_seconds == 86400


def test_describe_of_an_unknown_job_is_a_validation_error(ctx: Context) -> None:
    with pytest.raises(ValidationError, match="^Requested resource not found.$"):
        describe_training_job(ctx, {"TrainingJobName": "nope"})


def test_a_duplicate_name_is_resource_in_use_and_keeps_the_first(ctx: Context) -> None:
    _call(ctx, "CreateTrainingJob", **_request("j", Tags=[{"Key": "k", "Value": "first"}]))
    with pytest.raises(ResourceInUse, match=r"a training job with this name already exists \(" + _arn("j") + r"\)$"):
        create(ctx, _request("j", Tags=[{"Key": "k", "Value": "second"}], HyperParameters={"x": "1"}))
    assert "HyperParameters" not in _call(ctx, "DescribeTrainingJob", TrainingJobName="j")
    assert ctx.metadata.tags.list(_arn("j")).items == [("k", "first")]


def test_a_reserved_tag_key_creates_nothing(ctx: Context) -> None:
    with pytest.raises(ValidationError, match="reserved"):
        create(ctx, _request("j", Tags=[{"Key": "aws:x", "Value": "v"}]))
    assert ctx.metadata.training_jobs.get("j") is None


def _list(ctx: Context, **params: Any) -> list[str]:
    return [s["TrainingJobName"] for s in _call(ctx, "ListTrainingJobs", **params)["TrainingJobSummaries"]]


def test_list_filters_and_sorts(ctx: Context) -> None:
    for name in ("b-job", "a-job", "c-other"):  # created at t+1 .. t+3
        _call(ctx, "CreateTrainingJob", **_request(name))
    _call(ctx, "StopTrainingJob", TrainingJobName="a-job")  # modified at t+4
    t = [T0 + timedelta(seconds=i) for i in range(5)]
    assert _list(ctx) == ["c-other", "a-job", "b-job"]
    assert _list(ctx, SortBy="Name", SortOrder="Ascending") == ["a-job", "b-job", "c-other"]
    assert _list(ctx, SortBy="Status", SortOrder="Descending") == ["a-job", "c-other", "b-job"]
    assert _list(ctx, NameContains="JOB") == ["a-job", "b-job"]
    assert _list(ctx, StatusEquals="Stopping") == ["a-job"]
    assert _list(ctx, CreationTimeAfter=t[1], CreationTimeBefore=t[3]) == ["a-job"]
    assert _list(ctx, LastModifiedTimeAfter=t[3]) == ["a-job"]
    assert _list(ctx, LastModifiedTimeBefore=t[2]) == ["b-job"]
    assert _list(ctx, WarmPoolStatusEquals="Available") == []
    summary = _call(ctx, "ListTrainingJobs", NameContains="a-job")["TrainingJobSummaries"][0]
    assert summary == {"TrainingJobName": "a-job", "TrainingJobArn": _arn("a-job"), "CreationTime": t[2],
                       "LastModifiedTime": t[4], "TrainingJobStatus": "Stopping", "SecondaryStatus": "Stopping"}


def test_list_pages_with_next_token(ctx: Context) -> None:
    names = [f"job-{i:02}" for i in range(12)]
    for name in names:
        _call(ctx, "CreateTrainingJob", **_request(name))
    first = _call(ctx, "ListTrainingJobs", SortOrder="Ascending")  # ten by default
    rest = _call(ctx, "ListTrainingJobs", SortOrder="Ascending", NextToken=first["NextToken"])
    assert [s["TrainingJobName"] for s in first["TrainingJobSummaries"] + rest["TrainingJobSummaries"]] == names
    assert len(first["TrainingJobSummaries"]) == 10 and "NextToken" not in rest
    assert _list(ctx, MaxResults=2, SortBy="Name") == ["job-11", "job-10"]
    with pytest.raises(ValidationError, match="NextToken"):
        _call(ctx, "ListTrainingJobs", NextToken="garbage")


def test_stop_moves_an_in_progress_job_to_stopping(ctx: Context) -> None:
    _call(ctx, "CreateTrainingJob", **_request("j"))
    assert _call(ctx, "StopTrainingJob", TrainingJobName="j") == {}
    description = _call(ctx, "DescribeTrainingJob", TrainingJobName="j")
    assert (description["TrainingJobStatus"], description["SecondaryStatus"]) == ("Stopping", "Stopping")
    job = ctx.metadata.training_jobs.get("j")
    assert job is not None and job.stop_requested


@pytest.mark.parametrize("status", ["Stopping", "Completed", "Failed", "Stopped"])
def test_stop_of_a_job_that_is_not_in_progress_names_its_status(ctx: Context, status: str) -> None:
    _call(ctx, "CreateTrainingJob", **_request("j"))
    ctx.metadata.training_jobs.advance("j", TrainingJobStatus(status), secondary=SecondaryStatus(status),
                                       message="moved")
    with pytest.raises(ValidationError, match=f"^The request was rejected because the training job is in status "
                                              f"{status}.$"):
        stop_training_job(ctx, {"TrainingJobName": "j"})


def test_stop_of_an_unknown_job_is_a_validation_error(ctx: Context) -> None:
    with pytest.raises(ValidationError, match="^Requested resource not found.$"):
        stop_training_job(ctx, {"TrainingJobName": "nope"})
