"""The tuning-job operations as service functions over a real SQLite metadata store (no controller)."""

from __future__ import annotations

import copy
import re
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelbay.errors import ResourceInUse, ResourceNotFound, ValidationError
from modelbay.services.base import Context
from modelbay.services.sagemaker.tuning_jobs import ECHOED_MEMBERS, OPERATIONS
from modelbay.statuses import HyperParameterTuningJobStatus, SecondaryStatus, TrainingJobStatus
from modelbay.store.metadata import MetricDatum, TrialState
from tests.helpers import T0

MODEL = botocore.session.get_session().get_service_model("sagemaker")
DEFINITION: dict[str, Any] = {
    "AlgorithmSpecification": {"TrainingImage": "modelbay/python", "TrainingInputMode": "File",
                               "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}]},
    "RoleArn": "arn:aws:iam::123456789012:role/r", "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
    "StoppingCondition": {"MaxRuntimeInSeconds": 60}, "StaticHyperParameters": {"epochs": "3"}}
CONFIG: dict[str, Any] = {
    "Strategy": "Random", "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
    "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
    "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0.1", "MaxValue": "1",
                                                       "ScalingType": "Logarithmic"}],
                        "CategoricalParameterRanges": [{"Name": "kind", "Values": ["a", "b"]}]}}


def _request(name: str, **changes: Any) -> dict[str, Any]:
    return {"HyperParameterTuningJobName": name, "HyperParameterTuningJobConfig": copy.deepcopy(CONFIG),
            "TrainingJobDefinition": copy.deepcopy(DEFINITION)} | changes


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


def _trial(ctx: Context, job: str, number: int, status: TrainingJobStatus, objective: float | None,
           parameters: dict[str, str] | None = None) -> str:
    """A trial as the controller records it: the trial row and its training job, moved to `status`."""
    name = f"{job}-{number:03d}-0000000{number}"
    ctx.metadata.tuning_jobs.add_trial(job, number, name, None, parameters or {"x": str(number / 10)})
    ctx.metadata.training_jobs.create(name, ctx.arn("sagemaker", f"training-job/{name}"),
                                      {**DEFINITION, "TuningJobArn": f"arn-of-{job}"}, SecondaryStatus.STARTING, "")
    if status is not TrainingJobStatus.IN_PROGRESS:
        ctx.metadata.training_jobs.advance(name, status, secondary=SecondaryStatus(str(status)), message="",
                                           final_metrics=None if objective is None else [
                                               MetricDatum("loss", objective, T0)])
        state = {TrainingJobStatus.COMPLETED: TrialState.COMPLETED, TrainingJobStatus.FAILED: TrialState.FAILED,
                 TrainingJobStatus.STOPPED: TrialState.STOPPED}[status]
        ctx.metadata.tuning_jobs.record_trial(job, number, state=state, objective=objective)
    return name


def test_operations_and_echoed_members_are_the_models() -> None:
    assert set(OPERATIONS) == {
        "CreateHyperParameterTuningJob", "DescribeHyperParameterTuningJob", "ListHyperParameterTuningJobs",
        "ListTrainingJobsForHyperParameterTuningJob", "StopHyperParameterTuningJob", "DeleteHyperParameterTuningJob"}
    create = set(MODEL.operation_model("CreateHyperParameterTuningJob").input_shape.members)
    describe = set(MODEL.operation_model("DescribeHyperParameterTuningJob").output_shape.members)
    assert set(ECHOED_MEMBERS) == (create & describe) - {"HyperParameterTuningJobName", "Autotune"}


def test_create_then_describe_echoes_the_request_with_defaults(ctx: Context) -> None:
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:hyper-parameter-tuning-job/tune-1"
    assert _call(ctx, "CreateHyperParameterTuningJob", **_request("Tune-1"), Tags=[{"Key": "k", "Value": "v"}]) == {
        "HyperParameterTuningJobArn": arn}
    assert ctx.metadata.tags.list(arn).items == [("k", "v")]
    described = _call(ctx, "DescribeHyperParameterTuningJob", HyperParameterTuningJobName="Tune-1")
    assert described["HyperParameterTuningJobConfig"] == CONFIG | {"TrainingJobEarlyStoppingType": "Off"}
    assert described["TrainingJobDefinition"] == DEFINITION | {
        "StaticHyperParameters": {"epochs": "3", "_tuning_objective_metric": "loss"},  # as SageMaker adds it
        "OutputDataConfig": {"S3OutputPath": "s3://b/out", "KmsKeyId": ""}}
    assert described["HyperParameterTuningJobStatus"] == "InProgress"
    assert described["TrainingJobStatusCounters"] == {"Completed": 0, "InProgress": 0, "RetryableError": 0,
                                                      "NonRetryableError": 0, "Stopped": 0}
    assert "BestTrainingJob" not in described and "HyperParameterTuningEndTime" not in described
    with pytest.raises(ResourceInUse, match="a hyperparameter tuning job with this name already exists"):
        _call(ctx, "CreateHyperParameterTuningJob", **_request("Tune-1"))


@pytest.mark.parametrize(("change", "words"), [
    (lambda r: r.pop("TrainingJobDefinition"), "Exactly one of TrainingJobDefinition or TrainingJobDefinitions"),
    (lambda r: r["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"][0].update(
        MinValue="0"), "Logarithmic scaling works only for ranges that have only values greater than 0"),
    (lambda r: r["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"][0].update(
        ScalingType="ReverseLogarithmic"), "entirely within the range 0<=x<1.0"),
    (lambda r: r["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"][0].update(
        MinValue="2"), "MinValue \\(2\\) must be less than MaxValue"),
    (lambda r: r["HyperParameterTuningJobConfig"]["ParameterRanges"].update(IntegerParameterRanges=[
        {"Name": "n", "MinValue": "1.5", "MaxValue": "3"}]), "must each be an integer"),
    (lambda r: r["HyperParameterTuningJobConfig"]["ParameterRanges"].update(IntegerParameterRanges=[
        {"Name": f"n{i}", "MinValue": "1", "MaxValue": "3"} for i in range(29)]), "at most 30"),
    (lambda r: r["TrainingJobDefinition"]["StaticHyperParameters"].update(x="1"), "repeated: x"),
    (lambda r: r["HyperParameterTuningJobConfig"].update(Strategy="Grid"), "Only categorical parameters"),
    (lambda r: r["HyperParameterTuningJobConfig"]["ResourceLimits"].pop("MaxNumberOfTrainingJobs"),
     "MaxNumberOfTrainingJobs is required for the Random strategy"),
    (lambda r: r["HyperParameterTuningJobConfig"].update(Strategy="Hyperband", TrainingJobEarlyStoppingType="Auto"),
     "TrainingJobEarlyStoppingType must be Off to use Hyperband"),
    (lambda r: (r["HyperParameterTuningJobConfig"].update(Strategy="Hyperband"),
                r["TrainingJobDefinition"].pop("StaticHyperParameters")), "MaxResource is required"),
    (lambda r: r["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"].update(MetricName="acc"),
     "the objective metric 'acc' is not defined in AlgorithmSpecification.MetricDefinitions"),
    (lambda r: r.update(WarmStartConfig={"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "no"}],
                                         "WarmStartType": "TransferLearning"}), "no does not exist"),
])
def test_create_refuses_what_sagemaker_refuses(ctx: Context, change: Any, words: str) -> None:
    request = _request("bad")
    change(request)
    with pytest.raises(ValidationError, match=words):
        _call(ctx, "CreateHyperParameterTuningJob", **request)
    assert ctx.metadata.tuning_jobs.get("bad") is None


def test_grid_needs_no_maximum_and_definitions_name_their_objective(ctx: Context) -> None:
    config = {"Strategy": "Grid", "ResourceLimits": {"MaxParallelTrainingJobs": 1}}
    definitions = [DEFINITION | {"DefinitionName": name, "TuningObjective": {"Type": "Minimize", "MetricName": "loss"},
                                 "HyperParameterRanges": {"CategoricalParameterRanges": [
                                     {"Name": "kind", "Values": ["a", "b"]}]}} for name in ("one", "two")]
    _call(ctx, "CreateHyperParameterTuningJob", HyperParameterTuningJobName="grid",
          HyperParameterTuningJobConfig=config, TrainingJobDefinitions=definitions)
    described = _call(ctx, "DescribeHyperParameterTuningJob", HyperParameterTuningJobName="grid")
    assert [d["DefinitionName"] for d in described["TrainingJobDefinitions"]] == ["one", "two"]


def test_describe_counts_the_trials_and_names_the_best(ctx: Context) -> None:
    _call(ctx, "CreateHyperParameterTuningJob", **_request("t"))
    _trial(ctx, "t", 1, TrainingJobStatus.COMPLETED, 0.5)
    best = _trial(ctx, "t", 2, TrainingJobStatus.COMPLETED, 0.2, {"x": "0.3", "kind": "b"})
    _trial(ctx, "t", 3, TrainingJobStatus.FAILED, None)
    _trial(ctx, "t", 4, TrainingJobStatus.STOPPED, 0.9)
    _trial(ctx, "t", 5, TrainingJobStatus.IN_PROGRESS, None)
    described = _call(ctx, "DescribeHyperParameterTuningJob", HyperParameterTuningJobName="t")
    assert described["TrainingJobStatusCounters"] == {"Completed": 2, "InProgress": 1, "RetryableError": 0,
                                                      "NonRetryableError": 1, "Stopped": 1}
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 3, "Pending": 1, "Failed": 1}
    assert described["BestTrainingJob"]["TrainingJobName"] == best
    assert described["BestTrainingJob"]["TunedHyperParameters"] == {"x": "0.3", "kind": "b"}
    assert described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"] == {
        "Type": "Minimize", "MetricName": "loss", "Value": 0.2}
    assert "OverallBestTrainingJob" not in described


def test_a_warm_start_child_names_the_overall_best_of_its_parents(ctx: Context) -> None:
    _call(ctx, "CreateHyperParameterTuningJob", **_request("parent"))
    parents_best = _trial(ctx, "parent", 1, TrainingJobStatus.COMPLETED, 0.1)
    ctx.metadata.tuning_jobs.advance("parent", HyperParameterTuningJobStatus.COMPLETED)
    warm = {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
            "WarmStartType": "IdenticalDataAndAlgorithm"}
    _call(ctx, "CreateHyperParameterTuningJob", **_request("child", WarmStartConfig=warm))
    _trial(ctx, "child", 1, TrainingJobStatus.COMPLETED, 0.4)
    described = _call(ctx, "DescribeHyperParameterTuningJob", HyperParameterTuningJobName="child")
    assert described["WarmStartConfig"] == warm
    assert described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == 0.4
    overall = described["OverallBestTrainingJob"]
    assert (overall["TrainingJobName"], overall["TuningJobName"]) == (parents_best, "parent")


def test_trials_sort_by_objective_without_those_lacking_one_and_page(ctx: Context) -> None:
    _call(ctx, "CreateHyperParameterTuningJob", **_request("t"))
    names = [_trial(ctx, "t", n, TrainingJobStatus.COMPLETED, objective)
             for n, objective in ((1, 0.5), (2, 0.2), (3, 0.9))]
    failed = _trial(ctx, "t", 4, TrainingJobStatus.FAILED, None)
    page = _call(ctx, "ListTrainingJobsForHyperParameterTuningJob", HyperParameterTuningJobName="t",
                 SortBy="FinalObjectiveMetricValue", SortOrder="Descending", MaxResults=2)
    assert [s["TrainingJobName"] for s in page["TrainingJobSummaries"]] == [names[2], names[0]]
    rest = _call(ctx, "ListTrainingJobsForHyperParameterTuningJob", HyperParameterTuningJobName="t",
                 SortBy="FinalObjectiveMetricValue", SortOrder="Descending", MaxResults=2, NextToken=page["NextToken"])
    assert [s["TrainingJobName"] for s in rest["TrainingJobSummaries"]] == [names[1]] and "NextToken" not in rest
    by_name = _call(ctx, "ListTrainingJobsForHyperParameterTuningJob", HyperParameterTuningJobName="t")
    assert [s["TrainingJobName"] for s in by_name["TrainingJobSummaries"]] == [*names, failed]
    only_failed = _call(ctx, "ListTrainingJobsForHyperParameterTuningJob", HyperParameterTuningJobName="t",
                        StatusEquals="Failed")
    assert [s["ObjectiveStatus"] for s in only_failed["TrainingJobSummaries"]] == ["Failed"]
    with pytest.raises(ValidationError, match="Invalid NextToken"):
        _call(ctx, "ListTrainingJobsForHyperParameterTuningJob", HyperParameterTuningJobName="t", NextToken="x")


def test_list_sorts_by_name_by_default_and_filters(ctx: Context) -> None:
    for name in ("b-job", "a-job", "c-other"):
        _call(ctx, "CreateHyperParameterTuningJob", **_request(name))
    listed = _call(ctx, "ListHyperParameterTuningJobs")["HyperParameterTuningJobSummaries"]
    assert [s["HyperParameterTuningJobName"] for s in listed] == ["a-job", "b-job", "c-other"]
    assert listed[0]["Strategy"] == "Random" and listed[0]["ResourceLimits"] == CONFIG["ResourceLimits"]
    found = _call(ctx, "ListHyperParameterTuningJobs", NameContains="JOB", SortOrder="Descending")
    assert [s["HyperParameterTuningJobName"] for s in found["HyperParameterTuningJobSummaries"]] == ["b-job", "a-job"]


def test_stop_then_delete_once_ended(ctx: Context) -> None:
    _call(ctx, "CreateHyperParameterTuningJob", **_request("t"))
    with pytest.raises(ValidationError, match="in status InProgress: only a Completed, Failed or Stopped"):
        _call(ctx, "DeleteHyperParameterTuningJob", HyperParameterTuningJobName="t")
    _call(ctx, "StopHyperParameterTuningJob", HyperParameterTuningJobName="t")
    with pytest.raises(ValidationError, match="in status Stopping"):
        _call(ctx, "StopHyperParameterTuningJob", HyperParameterTuningJobName="t")
    ctx.metadata.tuning_jobs.advance("t", HyperParameterTuningJobStatus.STOPPED)
    _call(ctx, "DeleteHyperParameterTuningJob", HyperParameterTuningJobName="t")
    described = _call(ctx, "DescribeHyperParameterTuningJob", HyperParameterTuningJobName="t")
    assert described["HyperParameterTuningJobStatus"] == "Deleting"
    for operation in ("DescribeHyperParameterTuningJob", "StopHyperParameterTuningJob",
                      "DeleteHyperParameterTuningJob", "ListTrainingJobsForHyperParameterTuningJob"):
        with pytest.raises(ResourceNotFound, match="can't find a tuning job with name nope"):
            _call(ctx, operation, HyperParameterTuningJobName="nope")


def test_the_sdks_hyper_parameter_tuning_resource_config_stands_for_resource_config(ctx: Context) -> None:
    request = _request("sdk")
    request["TrainingJobDefinition"]["HyperParameterTuningResourceConfig"] = request["TrainingJobDefinition"].pop(
        "ResourceConfig")
    _call(ctx, "CreateHyperParameterTuningJob", **request)
    described = _call(ctx, "DescribeHyperParameterTuningJob", HyperParameterTuningJobName="sdk")
    definition = described["TrainingJobDefinition"]
    assert definition["HyperParameterTuningResourceConfig"] == definition["ResourceConfig"] == DEFINITION[
        "ResourceConfig"]  # the SDK's HyperparameterTuner.attach() reads ResourceConfig
    request = _request("none")
    request["TrainingJobDefinition"].pop("ResourceConfig")
    with pytest.raises(ValidationError, match="ResourceConfig.InstanceType and ResourceConfig.InstanceCount"):
        _call(ctx, "CreateHyperParameterTuningJob", **request)


def test_a_built_in_algorithms_own_metrics_serve_as_its_objective(ctx: Context) -> None:
    request = _request("xgb")
    request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] = "validation:rmse"
    request["TrainingJobDefinition"]["AlgorithmSpecification"] = {
        "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
        "TrainingInputMode": "File"}
    _call(ctx, "CreateHyperParameterTuningJob", **request)
    described = _call(ctx, "DescribeHyperParameterTuningJob", HyperParameterTuningJobName="xgb")
    metrics = {m["Name"]: m["Regex"] for m in described["TrainingJobDefinition"]["AlgorithmSpecification"][
        "MetricDefinitions"]}
    match = re.search(metrics["validation:rmse"], "[19]#011train-rmse:0.12000#011validation-rmse:0.25000")
    assert match is not None and float(match.group(1)) == 0.25
