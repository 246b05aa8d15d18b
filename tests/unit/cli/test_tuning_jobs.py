"""`modelbay tuning`: the trials ranked, the best and the early-stopped marked, the importance and the plot, the
listing and the description, over the server's answers stubbed with botocore's Stubber (which checks both the
requests and the answers against botocore's model of SageMaker)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from modelbay.cli import listing, output, tuning_jobs
from modelbay.cli.main import app
from modelbay.cli.metrics import PLOT_PIXELS
from modelbay.cli.tuning_trials import draw, importances, parameter_ranges, running_best, trials
from tests.unit.cli.test_metrics import png_size

CREATED = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
ARN = "arn:aws:sagemaker:us-east-1:000000000000"
RANGES = {"IntegerParameterRanges": [{"Name": "depth", "MinValue": "1", "MaxValue": "10", "ScalingType": "Linear"}],
          "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.001", "MaxValue": "1",
                                         "ScalingType": "Logarithmic"}],
          "CategoricalParameterRanges": [{"Name": "kind", "Values": ['"gbtree"', '"dart"']}]}


def job(strategy: str = "Bayesian", status: str = "Completed", objective: str = "Minimize", best: str | None = "t-002",
        early_stopping: str = "Auto", ranges: dict[str, Any] | None = None) -> dict[str, Any]:
    """A DescribeHyperParameterTuningJob answer."""
    answer: dict[str, Any] = {
        "HyperParameterTuningJobName": "tj", "HyperParameterTuningJobArn": f"{ARN}:hyper-parameter-tuning-job/tj",
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy, "HyperParameterTuningJobObjective": {"Type": objective, "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2,
                               "MaxRuntimeInSeconds": 3600},
            "ParameterRanges": RANGES if ranges is None else ranges, "TrainingJobEarlyStoppingType": early_stopping},
        "TrainingJobDefinition": {"AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
                                  "RoleArn": f"{ARN}:role/r", "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
                                  "StoppingCondition": {"MaxRuntimeInSeconds": 600}},
        "HyperParameterTuningJobStatus": status, "CreationTime": CREATED,
        "TrainingJobStatusCounters": {"Completed": 3, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 1,
                                      "Stopped": 1},
        "ObjectiveStatusCounters": {"Succeeded": 4, "Pending": 0, "Failed": 1},
        "ConsumedResources": {"RuntimeInSeconds": 95}}
    if best is not None:
        answer["BestTrainingJob"] = summary(best, "Completed", 0.5)
    return answer


def summary(name: str, status: str, loss: float | None, minute: int = 0, **tuned: str) -> dict[str, Any]:
    """A HyperParameterTrainingJobSummary."""
    found: dict[str, Any] = {"TrainingJobName": name, "TrainingJobArn": f"{ARN}:training-job/{name}",
                             "CreationTime": CREATED + timedelta(minutes=minute), "TrainingJobStatus": status,
                             "TunedHyperParameters": tuned or {"depth": "3", "eta": "0.01", "kind": '"dart"'}}
    if loss is not None:
        found["FinalHyperParameterTuningJobObjectiveMetric"] = {"MetricName": "loss", "Value": loss}
    return found


SUMMARIES = [summary("t-001", "Completed", 0.9, 0), summary("t-002", "Completed", 0.5, 1),
             summary("t-003", "Failed", None, 2), summary("t-004", "Stopped", 0.95, 3),
             summary("t-005", "Completed", 0.7, 4)]


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """The SageMaker client the commands make, answering what the test adds; every answer must have been asked."""
    sagemaker = boto3.client("sagemaker", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="s")
    for module in (tuning_jobs, listing):
        monkeypatch.setattr(module, "aws_client", lambda ctx, service: sagemaker)
    monkeypatch.setattr(output.console, "width", 200)  # the console is made once, at import: COLUMNS came too late
    with Stubber(sagemaker) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def answer_trials(stubbed: Stubber, described: dict[str, Any], summaries: list[dict[str, Any]]) -> None:
    stubbed.add_response("describe_hyper_parameter_tuning_job", described, {"HyperParameterTuningJobName": "tj"})
    stubbed.add_response("list_training_jobs_for_hyper_parameter_tuning_job", {"TrainingJobSummaries": summaries},
                         {"HyperParameterTuningJobName": "tj"})


def run(*arguments: str) -> Any:
    done = CliRunner().invoke(app, ["tuning", *arguments])
    assert done.exit_code == 0, done.output
    return done


def test_trials_are_ranked_best_first_the_best_starred_early_stops_said(stubbed: Stubber) -> None:
    answer_trials(stubbed, job(), SUMMARIES)
    lines = run("trials", "tj").stdout.splitlines()
    assert lines[0] == "tj: Minimize loss"
    rows = [line.split() for line in lines[2:]]
    assert [row[0] if row[0] != "★" else row[1] for row in rows] == ["t-002", "t-005", "t-001", "t-004", "t-003"]
    assert rows[0][:4] == ["★", "t-002", "0.5", "Completed"]
    assert rows[3][:4] == ["t-004", "0.95", "Stopped", "(early)"]
    assert rows[4][:2] == ["t-003", "Failed"]  # no objective: last
    assert "depth" in lines[1] and '"dart"' in lines[2]  # each tuned hyperparameter is a column


def test_maximized_objectives_rank_highest_first_and_json_keeps_the_summaries(stubbed: Stubber) -> None:
    answer_trials(stubbed, job(objective="Maximize", best="t-004", early_stopping="Off"), SUMMARIES)
    printed = json.loads(run("trials", "tj", "--json").stdout)
    assert [trial["TrainingJobName"] for trial in printed["TrainingJobSummaries"]] == [
        "t-004", "t-001", "t-005", "t-002", "t-003"]
    assert printed["TrainingJobSummaries"][0]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == 0.95
    assert (printed["Objective"], printed["BestTrainingJobName"], printed["EarlyStopped"]) == (
        "Maximize loss", "t-004", [])  # no early stopping: a stopped trial was stopped, not stopped early
    assert "ParameterImportance" not in printed  # computed for --plot only


@pytest.mark.parametrize(("strategy", "status", "early_stopping", "early"), [
    ("Bayesian", "Completed", "Auto", ["t-004"]), ("Hyperband", "Completed", "Off", ["t-004"]),
    ("Bayesian", "Completed", "Off", []), ("Bayesian", "Stopped", "Auto", [])])
def test_a_stopped_trial_is_early_stopped_only_where_the_job_stops_trials_early(
        strategy: str, status: str, early_stopping: str, early: list[str]) -> None:
    found = trials(job(strategy=strategy, status=status, early_stopping=early_stopping), SUMMARIES)
    assert sorted(found.early_stopped) == early


def test_the_running_best_follows_the_order_of_creation() -> None:
    assert running_best(trials(job(), SUMMARIES)) == [0.9, 0.5, 0.5, 0.5, 0.5]
    assert running_best(trials(job(objective="Maximize"), SUMMARIES)) == [0.9, 0.9, 0.9, 0.95, 0.95]
    late = [summary("a", "Failed", None, 0), summary("b", "Completed", 2.0, 1)]
    assert running_best(trials(job(), late)) == [None, 2.0]


def tuned_trials(count: int) -> list[dict[str, Any]]:
    """Trials whose loss is (depth - 7)²: depth decides it all, eta and kind not at all."""
    return [summary(f"t-{n:03d}", "Completed", float((n % 10 + 1 - 7) ** 2), n, depth=str(n % 10 + 1),
                    eta=f"{0.001 * 3 ** (n % 7):.6f}", kind=['"gbtree"', '"dart"'][n % 2]) for n in range(count)]


def test_the_importance_is_optunas_over_the_trials_in_their_ranges() -> None:
    found = trials(job(best=None), tuned_trials(30))
    importance = importances(found, parameter_ranges(job()))
    assert set(importance) == {"depth", "eta", "kind"}
    assert sum(importance.values()) == pytest.approx(1)
    assert list(importance)[0] == "depth" and importance["depth"] > 0.5


def test_trials_outside_the_ranges_or_without_an_objective_are_left_out_of_the_importance() -> None:
    outside = summary("far", "Completed", 0.1, 99, depth="50", eta="0.01", kind='"dart"')
    found = trials(job(best=None), [*tuned_trials(1), outside, summary("x", "Failed", None, 98)])
    assert importances(found, parameter_ranges(job())) == {}  # one trial left: too few to tell


def test_several_definitions_have_their_own_ranges_and_objective() -> None:
    described = job(best=None)
    config = described["HyperParameterTuningJobConfig"]
    del config["HyperParameterTuningJobObjective"], config["ParameterRanges"]
    definition = described.pop("TrainingJobDefinition")
    described["TrainingJobDefinitions"] = [
        definition | {"DefinitionName": "small", "TuningObjective": {"Type": "Maximize", "MetricName": "auc"},
                      "HyperParameterRanges": RANGES},
        definition | {"DefinitionName": "other", "TuningObjective": {"Type": "Maximize", "MetricName": "auc"}}]
    assert parameter_ranges(described) == {"small": RANGES, "other": {}}
    found = trials(described, [trial | {"TrainingJobDefinitionName": "small"} for trial in tuned_trials(12)])
    assert found.title == "Maximize auc"
    assert list(importances(found, parameter_ranges(described)))[0] == "depth"


def test_plot_writes_the_png_and_prints_the_importance(stubbed: Stubber, tmp_path: Path) -> None:
    answer_trials(stubbed, job(best="t-006"), tuned_trials(12))
    done = run("trials", "tj", "--plot", str(tmp_path / "trials.png"))
    assert png_size(tmp_path / "trials.png") == PLOT_PIXELS
    assert "Parameter importance: depth " in done.stdout
    assert f"plot written to {tmp_path / 'trials.png'}" in done.stdout.replace("\n", "")


def test_the_plot_of_a_job_without_scored_trials_is_drawn_too(tmp_path: Path) -> None:
    found = trials(job(best=None), [summary("a", "Failed", None), summary("b", "InProgress", None, 1)])
    draw(tmp_path / "t.png", "tj", found, {})
    assert png_size(tmp_path / "t.png") == PLOT_PIXELS


def test_plot_names_a_png_before_any_call() -> None:
    done = CliRunner().invoke(app, ["--url", "http://127.0.0.1:9", "tuning", "trials", "tj", "--plot", "t.svg"])
    assert (done.exit_code, done.stderr) == (2, "error: --plot writes a PNG image: name a .png file, not 't.svg'\n")


def test_list_asks_newest_first_and_counts_trials_of_the_limit(stubbed: Stubber) -> None:
    listed = {key: job()[key] for key in ("HyperParameterTuningJobName", "HyperParameterTuningJobArn",
                                           "HyperParameterTuningJobStatus", "CreationTime",
                                           "TrainingJobStatusCounters", "ObjectiveStatusCounters")}
    listed |= {"Strategy": "Random", "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2}}
    stubbed.add_response("list_hyper_parameter_tuning_jobs", {"HyperParameterTuningJobSummaries": [listed]},
                         {"StatusEquals": "Completed", "SortBy": "CreationTime", "SortOrder": "Descending"})
    [header, row] = run("list", "--status", "Completed").stdout.splitlines()
    assert header.split()[:4] == ["Name", "Status", "Strategy", "Trials"]
    assert row.split()[:6] == ["tj", "Completed", "Random", "5", "of", "6"]


def test_describe_shows_the_job_in_words_and_json_as_answered(stubbed: Stubber) -> None:
    for _ in range(2):
        stubbed.add_response("describe_hyper_parameter_tuning_job", job(), {"HyperParameterTuningJobName": "tj"})
    shown = " ".join(run("describe", "tj").stdout.split())
    for fact in ("Strategy Bayesian", "Objective Minimize loss", "Limits at most 6 trials, 2 at a time, for 3,600 s",
                 "Trials 3 completed, 1 stopped, 1 failed", "Best training job t-002 (loss = 0.5)",
                 "Runtime 95 s", "depth Integer 1 to 10 Linear", "eta Continuous 0.001 to 1 Logarithmic",
                 'kind Categorical "gbtree", "dart"'):
        assert fact in shown
    assert "Overall best" not in shown and "Warm start" not in shown
    printed = json.loads(run("describe", "tj", "--json").stdout)
    assert printed["BestTrainingJob"]["TrainingJobName"] == "t-002" and "ResponseMetadata" not in printed


def test_an_unknown_job_is_the_servers_error_in_one_line(stubbed: Stubber) -> None:
    stubbed.add_client_error("describe_hyper_parameter_tuning_job", "ResourceNotFound",
                             "Amazon SageMaker can't find a tuning job with name nope")
    done = CliRunner().invoke(app, ["tuning", "trials", "nope"])
    assert (done.exit_code, done.stderr) == (
        1, "error: ResourceNotFound: Amazon SageMaker can't find a tuning job with name nope\n")
