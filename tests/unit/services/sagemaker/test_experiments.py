"""SageMaker Experiments' operations as service functions over a real SQLite metadata store: experiments, trials,
trial components, their associations, each one's errors, and the trial components jobs make."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelbay.errors import AwsError, ResourceNotFound, ValidationError
from modelbay.services.base import Context
from modelbay.services.sagemaker import OPERATIONS
from modelbay.services.sagemaker.experiments import trial_search_record
from modelbay.services.sagemaker.trial_components import search_record
from modelbay.statuses import SecondaryStatus, TrainingJobStatus
from modelbay.store.metadata import MetricDatum
from modelbay.store.metadata.job_trial_components import MetricPoint
from tests.helpers import T0

MODEL = botocore.session.get_session().get_service_model("sagemaker")
PREFIX = "arn:aws:sagemaker:eu-west-1:123456789012"
TRAINING: dict[str, Any] = {
    "RoleArn": "arn:aws:iam::123456789012:role/r", "HyperParameters": {"epochs": "3"},
    "AlgorithmSpecification": {"TrainingImage": "modelbay/sklearn", "TrainingInputMode": "File"},
    "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train"}}}],
    "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1}}


def _call(ctx: Context, operation: str, **params: Any) -> Any:
    """Call the operation's function, checking its output against botocore's output shape."""
    output = OPERATIONS[operation](ctx, params)
    report = ParamValidator().validate(output, MODEL.operation_model(operation).output_shape)
    assert not report.has_errors(), report.generate_report()
    return output


def _refused(ctx: Context, error: type[AwsError], operation: str, **params: Any) -> str:
    with pytest.raises(error) as raised:
        OPERATIONS[operation](ctx, params)
    return str(raised.value)


def _setup(ctx: Context) -> None:
    """Experiment "exp" with trial "trial" holding component "tc"."""
    _call(ctx, "CreateExperiment", ExperimentName="exp", Description="d", Tags=[{"Key": "team", "Value": "a"}])
    _call(ctx, "CreateTrial", TrialName="trial", ExperimentName="exp", MetadataProperties={"CommitId": "abc"})
    _call(ctx, "CreateTrialComponent", TrialComponentName="tc", Status={"PrimaryStatus": "InProgress"},
          StartTime=T0, Parameters={"lr": {"NumberValue": 0.1}},
          InputArtifacts={"data": {"Value": "s3://b/d", "MediaType": "text/csv"}})
    _call(ctx, "AssociateTrialComponent", TrialComponentName="tc", TrialName="trial")


def test_experiments_are_created_described_updated_listed_and_deleted(ctx: Context) -> None:
    assert _call(ctx, "CreateExperiment", ExperimentName="Exp-1", Description="first") == {
        "ExperimentArn": f"{PREFIX}:experiment/exp-1"}
    assert "already exists" in _refused(ctx, ValidationError, "CreateExperiment", ExperimentName="Exp-1")
    _call(ctx, "UpdateExperiment", ExperimentName="Exp-1", DisplayName="Shown")
    described = _call(ctx, "DescribeExperiment", ExperimentName="Exp-1")
    assert (described["DisplayName"], described["Description"]) == ("Shown", "first")
    assert described["CreatedBy"] == {"IamIdentity": {"Arn": "arn:aws:iam::123456789012:root",
                                                      "PrincipalId": "123456789012"}}
    _call(ctx, "CreateExperiment", ExperimentName="exp-2")
    listed = _call(ctx, "ListExperiments", SortBy="Name", SortOrder="Ascending", MaxResults=1)
    assert [s["ExperimentName"] for s in listed["ExperimentSummaries"]] == ["Exp-1"] and "NextToken" in listed
    later = _call(ctx, "ListExperiments", CreatedAfter=described["CreationTime"])
    assert [s["ExperimentName"] for s in later["ExperimentSummaries"]] == ["exp-2"]
    _call(ctx, "DeleteExperiment", ExperimentName="exp-2")
    for operation in ("DescribeExperiment", "DeleteExperiment", "UpdateExperiment"):
        assert _refused(ctx, ResourceNotFound, operation, ExperimentName="exp-2") == (
            f"Experiment '{PREFIX}:experiment/exp-2' does not exist.")


def test_trials_belong_to_an_existing_experiment(ctx: Context) -> None:
    _setup(ctx)
    described = _call(ctx, "DescribeTrial", TrialName="trial")
    assert (described["ExperimentName"], described["DisplayName"], described["MetadataProperties"]) == (
        "exp", "trial", {"CommitId": "abc"})
    _refused(ctx, ResourceNotFound, "CreateTrial", TrialName="t2", ExperimentName="nope")
    assert "already exists" in _refused(ctx, ValidationError, "CreateTrial", TrialName="trial", ExperimentName="exp")
    _call(ctx, "CreateExperiment", ExperimentName="other")
    _call(ctx, "CreateTrial", TrialName="t3", ExperimentName="other")
    _call(ctx, "UpdateTrial", TrialName="t3", DisplayName="third")

    def trials(**params: Any) -> list[str]:
        return [s["TrialName"] for s in _call(ctx, "ListTrials", SortBy="Name", **params)["TrialSummaries"]]

    assert trials() == ["trial", "t3"]
    assert trials(ExperimentName="other") == ["t3"]
    assert trials(TrialComponentName="tc") == ["trial"]
    _refused(ctx, ResourceNotFound, "ListTrials", ExperimentName="nope")
    _refused(ctx, ResourceNotFound, "ListTrials", TrialComponentName="nope")
    _refused(ctx, ResourceNotFound, "UpdateTrial", TrialName="nope")


def test_what_has_children_or_parents_is_not_deleted(ctx: Context) -> None:
    _setup(ctx)
    assert "still has trials" in _refused(ctx, ValidationError, "DeleteExperiment", ExperimentName="exp")
    assert "still has trial components" in _refused(ctx, ValidationError, "DeleteTrial", TrialName="trial")
    assert "is associated with trials" in _refused(ctx, ValidationError, "DeleteTrialComponent",
                                                   TrialComponentName="tc")
    assert _call(ctx, "DisassociateTrialComponent", TrialComponentName="tc", TrialName="trial") == {
        "TrialComponentArn": f"{PREFIX}:experiment-trial-component/tc", "TrialArn": f"{PREFIX}:experiment-trial/trial"}
    _refused(ctx, ResourceNotFound, "DisassociateTrialComponent", TrialComponentName="tc", TrialName="trial")
    for operation, params in (("DeleteTrialComponent", {"TrialComponentName": "tc"}),
                              ("DeleteTrial", {"TrialName": "trial"}), ("DeleteExperiment", {"ExperimentName": "exp"})):
        _call(ctx, operation, **params)
        _refused(ctx, ResourceNotFound, operation, **params)


def test_trial_components_are_described_by_name_or_arn_updated_and_listed(ctx: Context) -> None:
    _setup(ctx)
    ctx.metadata.trial_components.put_metrics("tc", [MetricPoint("loss", v, T0 + timedelta(seconds=v))
                                                     for v in (1.0, 3.0)])
    _call(ctx, "UpdateTrialComponent", TrialComponentName="tc", Status={"PrimaryStatus": "Completed"},
          EndTime=T0 + timedelta(minutes=5), Parameters={"depth": {"NumberValue": 3}}, ParametersToRemove=["lr"],
          OutputArtifacts={"model": {"Value": "s3://b/m"}})
    described = _call(ctx, "DescribeTrialComponent", TrialComponentName=f"{PREFIX}:experiment-trial-component/tc")
    assert described == _call(ctx, "DescribeTrialComponent", TrialComponentName="tc")
    assert (described["Status"], described["Parameters"], described["OutputArtifacts"]) == (
        {"PrimaryStatus": "Completed"}, {"depth": {"NumberValue": 3}}, {"model": {"Value": "s3://b/m"}})
    assert described["InputArtifacts"] == {"data": {"Value": "s3://b/d", "MediaType": "text/csv"}}
    [loss] = described["Metrics"]
    assert {k: loss[k] for k in ("MetricName", "Min", "Max", "Last", "Count", "Avg")} == {
        "MetricName": "loss", "Min": 1.0, "Max": 3.0, "Last": 3.0, "Count": 2, "Avg": 2.0}
    assert "both name lr" in _refused(ctx, ValidationError, "UpdateTrialComponent", TrialComponentName="tc",
                                      Parameters={"lr": {"NumberValue": 1}}, ParametersToRemove=["lr"])
    _call(ctx, "CreateTrialComponent", TrialComponentName="loose")

    def components(**params: Any) -> list[str]:
        answer = _call(ctx, "ListTrialComponents", SortBy="Name", SortOrder="Ascending", **params)
        return [s["TrialComponentName"] for s in answer["TrialComponentSummaries"]]

    assert components() == ["loose", "tc"]
    assert components(ExperimentName="exp") == components(TrialName="trial") == ["tc"]
    _refused(ctx, ValidationError, "ListTrialComponents", ExperimentName="exp", TrialName="trial")
    _refused(ctx, ResourceNotFound, "ListTrialComponents", TrialName="nope")
    _refused(ctx, ResourceNotFound, "DescribeTrialComponent", TrialComponentName="nope")
    assert "already associated" in _refused(ctx, ValidationError, "AssociateTrialComponent",
                                            TrialComponentName="tc", TrialName="trial")
    _refused(ctx, ResourceNotFound, "AssociateTrialComponent", TrialComponentName="nope", TrialName="trial")
    _refused(ctx, ResourceNotFound, "AssociateTrialComponent", TrialComponentName="tc", TrialName="nope")


def _training(ctx: Context, name: str, **config: str) -> Callable[[], Any]:
    return lambda: _call(ctx, "CreateTrainingJob", TrainingJobName=name, **TRAINING,
                         **({"ExperimentConfig": config} if config else {}))


def test_a_training_job_makes_a_component_that_follows_it(ctx: Context) -> None:
    _setup(ctx)
    _training(ctx, "Job-1", ExperimentName="exp", TrialName="trial", TrialComponentDisplayName="fit")()
    name = "Job-1-aws-training-job"
    described = _call(ctx, "DescribeTrialComponent", TrialComponentName=name)
    assert described["Source"] == {"SourceArn": f"{PREFIX}:training-job/job-1", "SourceType": "SageMakerTrainingJob"}
    assert (described["DisplayName"], described["Status"]["PrimaryStatus"]) == ("fit", "InProgress")
    assert described["Parameters"]["epochs"] == {"NumberValue": 3.0}
    assert described["InputArtifacts"]["train"] == {"Value": "s3://bucket/train"}
    assert [s["TrialComponentName"] for s in _call(
        ctx, "ListTrialComponents", SourceArn=f"{PREFIX}:training-job/job-1")["TrialComponentSummaries"]] == [name]
    assert sorted(s["TrialComponentName"] for s in _call(
        ctx, "ListTrialComponents", TrialName="trial")["TrialComponentSummaries"]) == [name, "tc"]
    ctx.metadata.training_jobs.advance("Job-1", TrainingJobStatus.IN_PROGRESS, secondary=SecondaryStatus.TRAINING,
                                       message="Training")
    ctx.metadata.training_jobs.advance("Job-1", TrainingJobStatus.COMPLETED, secondary=SecondaryStatus.COMPLETED,
                                       message="done", model_artifacts="s3://bucket/out/model.tar.gz",
                                       final_metrics=[MetricDatum("rmse", 0.5, T0)])
    described = _call(ctx, "DescribeTrialComponent", TrialComponentName=name)
    assert described["Status"] == {"PrimaryStatus": "Completed", "Message": "done"}
    assert described["OutputArtifacts"] == {"SageMaker.ModelArtifact": {"Value": "s3://bucket/out/model.tar.gz"}}
    assert [(m["MetricName"], m["Last"], m["SourceArn"]) for m in described["Metrics"]] == [
        ("rmse", 0.5, f"{PREFIX}:training-job/job-1")]


def test_a_jobs_experiment_config_is_checked_before_the_job_is_stored(ctx: Context) -> None:
    _setup(ctx)
    _call(ctx, "CreateExperiment", ExperimentName="other")
    for config, error in (({"ExperimentName": "nope"}, ResourceNotFound), ({"TrialName": "nope"}, ResourceNotFound),
                          ({"ExperimentName": "other", "TrialName": "trial"}, ValidationError),
                          ({"RunName": "tc"}, ValidationError),
                          ({"ExperimentName": "exp", "RunName": "nope"}, ResourceNotFound)):
        with pytest.raises(error):
            _training(ctx, "refused", **config)()
        assert ctx.metadata.training_jobs.get("refused") is None


def test_a_job_in_an_experiment_alone_gets_a_trial_and_a_job_in_a_run_is_its_source(ctx: Context) -> None:
    _setup(ctx)
    _training(ctx, "alone", ExperimentName="exp")()
    trial = _call(ctx, "DescribeTrial", TrialName="alone-aws-training-job")
    assert (trial["ExperimentName"], trial["Source"]["SourceType"]) == ("exp", "SageMakerTrainingJob")
    _training(ctx, "in-run", ExperimentName="exp", TrialName="trial", RunName="tc")()
    run = _call(ctx, "DescribeTrialComponent", TrialComponentName="tc")
    assert run["Sources"] == [{"SourceArn": f"{PREFIX}:training-job/in-run", "SourceType": "SageMakerTrainingJob"}]
    _training(ctx, "plain")()
    assert _call(ctx, "DescribeTrialComponent", TrialComponentName="plain-aws-training-job")["Source"]["SourceArn"] \
        == f"{PREFIX}:training-job/plain"
    with pytest.raises(AwsError):  # the job's name is in use: its component stays the first job's
        _training(ctx, "plain")()


def test_search_records_add_parents_and_held_components_to_describe(ctx: Context) -> None:
    _setup(ctx)
    record_shape = MODEL.shape_for("SearchRecord")
    component = search_record(ctx, {"TrialComponentName": "tc"})
    trial = trial_search_record(ctx, {"TrialName": "trial"})
    for member, record in (("TrialComponent", component), ("Trial", trial)):
        report = ParamValidator().validate(record, record_shape.members[member])
        assert not report.has_errors(), report.generate_report()
    assert component["Parents"] == [{"TrialName": "trial", "ExperimentName": "exp"}]
    assert trial["TrialComponentSummaries"] == [
        {"TrialComponentName": "tc", "TrialComponentArn": f"{PREFIX}:experiment-trial-component/tc"}]
