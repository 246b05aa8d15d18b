"""Search as a service function over a real SQLite metadata store: its checks, in SageMaker's words where known,
and its answer in the SearchRecord shape (checked by botocore and by the JSON codec's writer)."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelbay.api.jsonvalues import write_json
from modelbay.errors import ValidationError
from modelbay.services.base import Context
from modelbay.services.sagemaker import OPERATIONS
from modelbay.services.sagemaker.search import MAX_ELEMENTS
from modelbay.statuses import SecondaryStatus, TrainingJobStatus
from modelbay.store.metadata import MetricDatum
from tests.helpers import T0

MODEL = botocore.session.get_session().get_service_model("sagemaker")
SEARCH_OUTPUT = MODEL.operation_model("Search").output_shape


def _job(ctx: Context, name: str, depth: str, tags: dict[str, str], accuracy: float | None = None) -> None:
    OPERATIONS["CreateTrainingJob"](ctx, {
        "TrainingJobName": name, "RoleArn": "arn:aws:iam::123456789012:role/r",
        "AlgorithmSpecification": {"TrainingImage": "modelbay/sklearn", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "HyperParameters": {"max_depth": depth, "objective": "binary:logistic"},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://bucket/{name}/train"}}}],
        "Tags": [{"Key": key, "Value": value} for key, value in tags.items()]})
    if accuracy is not None:
        ctx.metadata.training_jobs.advance(name, TrainingJobStatus.COMPLETED, secondary=SecondaryStatus.COMPLETED,
                                           message="", final_metrics=[MetricDatum("validation:accuracy", accuracy, T0)])


@pytest.fixture
def jobs(ctx: Context) -> Context:
    _job(ctx, "shallow", "3", {"team": "a"}, accuracy=0.8)
    _job(ctx, "deep", "10", {"team": "b"}, accuracy=0.95)
    _job(ctx, "running", "7", {})
    return ctx


def _search(ctx: Context, **params: Any) -> dict[str, Any]:
    output = OPERATIONS["Search"](ctx, {"Resource": "TrainingJob"} | params)
    report = ParamValidator().validate(output, SEARCH_OUTPUT)
    assert not report.has_errors(), report.generate_report()
    write_json(SEARCH_OUTPUT, output)  # the codec's writer refuses members the shape lacks
    return dict(output)


def _names(output: dict[str, Any]) -> list[str]:
    return [result["TrainingJob"]["TrainingJobName"] for result in output["Results"]]


def _where(*filters: dict[str, Any], operator: str = "And") -> dict[str, Any]:
    return {"SearchExpression": {"Filters": list(filters), "Operator": operator}}


def test_records_are_describe_answers_with_tags_in_the_search_record_shape(jobs: Context) -> None:
    output = _search(jobs, **_where({"Name": "Metrics.validation:accuracy", "Operator": "GreaterThan",
                                     "Value": "0.9"}))
    assert output["TotalHits"] == {"Value": 1, "Relation": "EqualTo"}
    [record] = output["Results"]
    job = record["TrainingJob"]
    assert job["TrainingJobName"] == "deep" and job["TrainingJobStatus"] == "Completed"
    assert job["Tags"] == [{"Key": "team", "Value": "b"}]
    assert job["HyperParameters"]["max_depth"] == "10"
    assert job["FinalMetricDataList"][0]["MetricName"] == "validation:accuracy"


def test_default_order_is_last_modified_newest_first_and_pages_follow(jobs: Context) -> None:
    assert _names(_search(jobs)) == ["running", "deep", "shallow"]  # the completions modified the first two later
    first = _search(jobs, MaxResults=2, SortBy="TrainingJobName", SortOrder="Ascending")
    assert _names(first) == ["deep", "running"] and first["TotalHits"]["Value"] == 3
    rest = _search(jobs, MaxResults=2, SortBy="TrainingJobName", SortOrder="Ascending", NextToken=first["NextToken"])
    assert _names(rest) == ["shallow"] and "NextToken" not in rest


def test_hyperparameters_compare_as_numbers_when_the_value_is_one(jobs: Context) -> None:
    deeper = _where({"Name": "HyperParameters.max_depth", "Operator": "GreaterThanOrEqualTo", "Value": "7"})
    assert sorted(_names(_search(jobs, **deeper))) == ["deep", "running"]  # "10" > "7" as numbers, not as texts
    assert _names(_search(jobs, SortBy="HyperParameters.max_depth", SortOrder="Ascending")) == [
        "shallow", "running", "deep"]
    text = _where({"Name": "HyperParameters.objective", "Value": "binary:logistic"})  # no Operator: Equals
    assert len(_names(_search(jobs, **text))) == 3


def test_filters_without_operator_or_value_ask_for_the_property(jobs: Context) -> None:
    assert sorted(_names(_search(jobs, **_where({"Name": "FinalMetricDataList"})))) == ["deep", "shallow"]
    assert _names(_search(jobs, **_where({"Name": "Tags.team", "Operator": "NotExists"}))) == ["running"]


def test_timestamps_read_iso_8601_and_epoch_seconds(jobs: Context) -> None:
    created = {job["TrainingJob"]["TrainingJobName"]: job["TrainingJob"]["CreationTime"]
               for job in _search(jobs)["Results"]}
    after = created["deep"].replace(tzinfo=None).isoformat()
    assert _names(_search(jobs, **_where({"Name": "CreationTime", "Operator": "GreaterThan", "Value": after}))) == [
        "running"]
    epoch = str(created["deep"].timestamp())
    assert sorted(_names(_search(jobs, **_where({"Name": "CreationTime", "Operator": "LessThanOrEqualTo",
                                                  "Value": epoch})))) == ["deep", "shallow"]


def test_nested_filters_and_sub_expressions(jobs: Context) -> None:
    nested = {"NestedFilters": [{"NestedPropertyName": "InputDataConfig", "Filters": [
        {"Name": "InputDataConfig.ChannelName", "Value": "train"},
        {"Name": "InputDataConfig.DataSource.S3DataSource.S3Uri", "Operator": "Contains", "Value": "deep/"}]}],
        "SubExpressions": [{"Operator": "Or", "Filters": [{"Name": "Tags.team", "Value": "b"},
                                                          {"Name": "Tags.team", "Value": "c"}]}]}
    assert _names(_search(jobs, SearchExpression=nested)) == ["deep"]


def test_visibility_conditions_keep_resources_with_the_value_or_without_the_tag(jobs: Context) -> None:
    output = _search(jobs, VisibilityConditions=[{"Key": "Tags.team", "Value": "a"}])
    assert sorted(_names(output)) == ["running", "shallow"]


def test_cross_account_finds_nothing_here(jobs: Context) -> None:
    assert _search(jobs, CrossAccountFilterOption="CrossAccount")["Results"] == []


def test_models_are_found_as_the_model_dashboard_holds_them(ctx: Context) -> None:
    OPERATIONS["CreateModel"](ctx, {"ModelName": "m1", "PrimaryContainer": {"Image": "img"},
                                    "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r",
                                    "Tags": [{"Key": "stage", "Value": "prod"}]})
    output = _search(ctx, Resource="Model", **_where({"Name": "Model.ModelName", "Operator": "Contains",
                                                      "Value": "M1"}))
    [record] = output["Results"]
    assert record["Model"]["Model"]["ModelName"] == "m1"
    assert record["Model"]["Model"]["Tags"] == [{"Key": "stage", "Value": "prod"}]


def _error(ctx: Context, **params: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        OPERATIONS["Search"](ctx, {"Resource": "TrainingJob"} | params)
    return str(caught.value)


def _filters(count: int) -> list[dict[str, Any]]:
    return [{"Name": "TrainingJobName", "Value": f"n{i}"} for i in range(count)]


@pytest.mark.parametrize(("params", "words"), [
    (_where({"Name": "NoSuchThing", "Value": "x"}), "NoSuchThing is not a valid property name for resource "
                                                    "TrainingJob"),
    (_where({"Name": "ResourceConfig.Nope", "Value": "x"}), "not a valid property name"),
    (_where({"Name": "TrainingJobName", "Operator": "GreaterThan", "Value": "a"}),
     "The GreaterThan operator is not supported for text property TrainingJobName"),
    (_where({"Name": "CreationTime", "Operator": "In", "Value": "a,b"}), "In operator is not supported for timestamp"),
    (_where({"Name": "InputDataConfig", "Operator": "Equals", "Value": "a"}), "not supported for list property"),
    (_where({"Name": "Metrics.acc", "Operator": "GreaterThan", "Value": "high"}),
     "must be an integer or floating-point decimal"),
    (_where({"Name": "HyperParameters.eta", "Operator": "LessThan", "Value": "small"}),
     "must be an integer or floating-point decimal"),
    (_where({"Name": "CreationTime", "Operator": "GreaterThan", "Value": "yesterday"}), "ISO 8601"),
    (_where({"Name": "EnableManagedSpotTraining", "Value": "maybe"}), "must be true or false"),
    (_where({"Name": "TrainingJobName", "Operator": "Equals"}), "needs a Value"),
    (_where({"Name": "TrainingJobName", "Operator": "Contains", "Value": "a"},
            {"Name": "RoleArn", "Operator": "Contains", "Value": "b"}),
     "'CONTAINS' operator usage limit of 1 exceeded."),
    ({"SearchExpression": {"Operator": "And"}}, "at least one of Filters, NestedFilters or SubExpressions"),
    ({"SearchExpression": {"Filters": _filters(20), "SubExpressions": [
        {"Filters": _filters(20)}, {"Filters": _filters(20)}]}}, f"at most {MAX_ELEMENTS}"),
    ({"SearchExpression": {"NestedFilters": [{"NestedPropertyName": "ResourceConfig", "Filters": [
        {"Name": "ResourceConfig.InstanceType", "Value": "x"}]}]}}, "not a list property"),
    ({"SearchExpression": {"NestedFilters": [{"NestedPropertyName": "InputDataConfig", "Filters": [
        {"Name": "TrainingJobName", "Value": "x"}]}]}}, "must name a property of InputDataConfig"),
    ({"SortBy": "ResourceConfig"}, "Cannot sort by ResourceConfig"),
    ({"SortBy": "Bogus"}, "Bogus is not a valid property name"),
    ({"VisibilityConditions": [{"Key": "team", "Value": "a"}]}, "it must have the form Tags.<key>"),
    ({"NextToken": "not-a-token"}, "Invalid NextToken"),
])
def test_refusals(jobs: Context, params: dict[str, Any], words: str) -> None:
    assert words in _error(jobs, **params)


def test_contains_may_repeat_on_the_properties_sagemaker_allows(ctx: Context) -> None:
    twice = _where({"Name": "DisplayName", "Operator": "Contains", "Value": "a"},
                   {"Name": "ExperimentName", "Operator": "Contains", "Value": "b"})
    output = OPERATIONS["Search"](ctx, {"Resource": "Experiment"} | twice)
    assert output["Results"] == []
