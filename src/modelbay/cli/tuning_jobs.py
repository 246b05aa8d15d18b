"""`modelbay tuning`: list, describe and stop hyperparameter tuning jobs, and rank their trials (`trials`, with
`--plot` for the objective over trials and the parameters' importance: cli/tuning_trials.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from modelbay.cli.commands import Commands, aws_client
from modelbay.cli.listing import list_options, print_summaries, summaries
from modelbay.cli.output import console, facts_table, fail, local_time, output, resource, styled, titled_table
from modelbay.cli.tuning_trials import Trials, draw, importances, parameter_ranges, status, trials, value
from modelbay.statuses import HyperParameterTuningJobStatus

app = Commands(help="See, stop and rank the trials of hyperparameter tuning jobs on a modelbay server.")
_COLUMNS = ["Name", "Status", "Strategy", "Trials", "Created", "Ended"]
_TRIAL_COLUMNS = ["Best", "Training job", "Objective", "Status"]
_COUNTERS = {"Completed": "completed", "InProgress": "in progress", "Stopped": "stopped",
             "RetryableError": "retryable errors", "NonRetryableError": "failed"}
_STATUS_OPTION, _NAME_CONTAINS_OPTION, _MAX_OPTION = list_options("tuning jobs")


@app.command("list")
def list_jobs(ctx: typer.Context, status: HyperParameterTuningJobStatus | None = _STATUS_OPTION,
              name_contains: str | None = _NAME_CONTAINS_OPTION, most: int | None = _MAX_OPTION) -> None:
    """List hyperparameter tuning jobs, newest first."""
    print_summaries(ctx, "list_hyper_parameter_tuning_jobs", "HyperParameterTuningJobSummaries",
                    {"StatusEquals": status, "NameContains": name_contains, "SortBy": "CreationTime",
                     "SortOrder": "Descending"}, most, _COLUMNS, _row)


def _row(summary: dict[str, Any]) -> dict[str, str]:
    return {"Name": summary["HyperParameterTuningJobName"], "Status": styled(summary["HyperParameterTuningJobStatus"]),
            "Strategy": summary["Strategy"], "Trials": _launched(summary),
            "Created": local_time(summary["CreationTime"]),
            "Ended": local_time(summary.get("HyperParameterTuningEndTime"))}


def _launched(job: dict[str, Any]) -> str:
    """'3 of 6': the trials launched, of at most MaxNumberOfTrainingJobs."""
    launched = sum(job["TrainingJobStatusCounters"].values())
    most = job.get("ResourceLimits", {}).get("MaxNumberOfTrainingJobs")
    return f"{launched}" if most is None else f"{launched} of {most}"


@app.command()
def describe(ctx: typer.Context, name: str) -> None:
    """Show a tuning job: status, strategy, objective, limits, its trials' counts, the best trial and the ranges."""
    job = resource(aws_client(ctx, "sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name))
    output(ctx).result(job, Group(facts_table(_facts(job)), Text(), _ranges_table(job)))


@app.command()
def stop(ctx: typer.Context, name: str) -> None:
    """Stop a running tuning job and every trial it runs; it goes to Stopping, then Stopped."""
    aws_client(ctx, "sagemaker").stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    output(ctx).result({"HyperParameterTuningJobName": name}, f"stopping {escape(name)}")


@app.command("trials")
def list_trials(
    ctx: typer.Context,
    name: str,
    plot: Path | None = typer.Option(None, "--plot", metavar="FILE.png", dir_okay=False,
                                     help="Also draw the objective over trials and the parameters' importance."),
) -> None:
    """List a tuning job's trials ranked by objective: ★ marks SageMaker's BestTrainingJob, early stops say so."""
    if plot is not None and plot.suffix.lower() != ".png":
        fail(f"--plot writes a PNG image: name a .png file, not {str(plot)!r}")
    sagemaker = aws_client(ctx, "sagemaker")
    job = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    found = trials(job, summaries(sagemaker, "list_training_jobs_for_hyper_parameter_tuning_job",
                                  "TrainingJobSummaries", {"HyperParameterTuningJobName": name}, None))
    importance = importances(found, parameter_ranges(job)) if plot is not None else None
    if plot is not None:
        draw(plot, name, found, importance or {})
    out = output(ctx)
    if out.as_json:
        out.result(_as_json(name, found, importance), "")
        return
    console.print(f"{escape(name)}: {escape(found.title)}", soft_wrap=True)
    parameters = sorted({parameter for trial in found.ranked for parameter in trial["TunedHyperParameters"]})
    out.table([*_TRIAL_COLUMNS, *map(escape, parameters)], [_trial_row(found, trial) for trial in found.ranked],
              names=["Training job"])
    if importance:
        console.print("Parameter importance: " + ", ".join(f"{escape(parameter)} {share:.2f}"
                                                           for parameter, share in importance.items()), soft_wrap=True)
    if plot is not None:
        console.print(f"plot written to {escape(str(plot))}", soft_wrap=True)


def _trial_row(found: Trials, trial: dict[str, Any]) -> dict[str, str]:
    score = value(trial)
    return {"Best": "[bold green]★[/bold green]" if trial["TrainingJobName"] == found.best else "",
            "Training job": trial["TrainingJobName"], "Objective": "" if score is None else f"{score:g}",
            "Status": styled(status(found, trial))} | {
        escape(parameter): escape(given) for parameter, given in trial["TunedHyperParameters"].items()}


def _as_json(name: str, found: Trials, importance: dict[str, float] | None) -> dict[str, Any]:
    """The trials' summaries as SageMaker answers them, best first, with what the table marks."""
    shown: dict[str, Any] = {"HyperParameterTuningJobName": name, "Objective": found.title,
                             "BestTrainingJobName": found.best, "EarlyStopped": sorted(found.early_stopped),
                             "TrainingJobSummaries": found.ranked}
    return shown if importance is None else shown | {"ParameterImportance": importance}


def _facts(job: dict[str, Any]) -> dict[str, str | None]:
    config = job["HyperParameterTuningJobConfig"]
    limits = config["ResourceLimits"]
    objective = config.get("HyperParameterTuningJobObjective")
    best, overall = job.get("BestTrainingJob"), job.get("OverallBestTrainingJob")
    return {"Name": job["HyperParameterTuningJobName"], "Status": styled(job["HyperParameterTuningJobStatus"]),
            "Failure reason": escape(job.get("FailureReason", "")), "Strategy": config["Strategy"],
            "Objective": f"{objective['Type']} {escape(objective['MetricName'])}" if objective else None,
            "Early stopping": config.get("TrainingJobEarlyStoppingType"),
            "Limits": _limits(limits), "Trials": _counts(job["TrainingJobStatusCounters"], _COUNTERS),
            "Objectives": _counts(job["ObjectiveStatusCounters"], {key: key.lower() for key in
                                                                   ("Succeeded", "Pending", "Failed")}),
            "Best training job": _best(best) if best else None,
            "Overall best": _best(overall) if overall and overall != best else None,
            "Warm start": _warm_start(job.get("WarmStartConfig")),
            "Completion": _completion(job.get("TuningJobCompletionDetails", {})),
            "Runtime": _seconds(job.get("ConsumedResources", {}).get("RuntimeInSeconds")),
            "Created": local_time(job["CreationTime"]), "Ended": local_time(job.get("HyperParameterTuningEndTime"))}


def _limits(limits: dict[str, Any]) -> str:
    """'at most 6 trials, 2 at a time, for 1h': ResourceLimits in words."""
    words = [f"at most {limits['MaxNumberOfTrainingJobs']} trials"] if "MaxNumberOfTrainingJobs" in limits else []
    words.append(f"{limits['MaxParallelTrainingJobs']} at a time")
    if "MaxRuntimeInSeconds" in limits:
        words.append(f"for {_seconds(limits['MaxRuntimeInSeconds'])}")
    return ", ".join(words)


def _counts(counters: dict[str, int], words: dict[str, str]) -> str:
    """'3 completed, 1 in progress': the counters that are not zero, in `words`' order."""
    return ", ".join(f"{counters[key]} {word}" for key, word in words.items() if counters.get(key)) or "none yet"


def _best(trial: dict[str, Any]) -> str:
    final, job = trial.get("FinalHyperParameterTuningJobObjectiveMetric"), trial["TrainingJobName"]
    return job if final is None else f"{job} ({escape(final['MetricName'])} = {final['Value']:g})"


def _warm_start(config: dict[str, Any] | None) -> str | None:
    """'TransferLearning from a, b': the WarmStartConfig in words."""
    if config is None:
        return None
    parents = (parent["HyperParameterTuningJobName"] for parent in config["ParentHyperParameterTuningJobs"])
    return f"{config['WarmStartType']} from {escape(', '.join(parents))}"


def _completion(details: dict[str, Any]) -> str | None:
    """TuningJobCompletionDetails in words, when the job has any."""
    words = []
    if details.get("NumberOfTrainingJobsObjectiveNotImproving"):
        words.append(f"{details['NumberOfTrainingJobsObjectiveNotImproving']} trials without improving the objective")
    if details.get("ConvergenceDetectedTime"):
        words.append(f"converged at {local_time(details['ConvergenceDetectedTime'])}")
    return ", ".join(words) or None


def _seconds(seconds: int | None) -> str | None:
    return None if seconds is None else f"{seconds:,} s"


def _ranges_table(job: dict[str, Any]) -> Table:
    """Every hyperparameter range, of each training job definition when the job has several."""
    table = titled_table("Hyperparameter ranges", "Parameter", "Type", "Range", "Scaling")
    for definition, ranges in parameter_ranges(job).items():
        prefix = "" if definition is None else f"{escape(definition)}: "
        for kind in ("Integer", "Continuous"):
            for given in ranges.get(f"{kind}ParameterRanges", []):
                table.add_row(prefix + escape(given["Name"]), kind, f"{given['MinValue']} to {given['MaxValue']}",
                              given.get("ScalingType", "Auto"))
        for given in ranges.get("CategoricalParameterRanges", []):
            table.add_row(prefix + escape(given["Name"]), "Categorical", escape(", ".join(given["Values"])), "")
    return table
