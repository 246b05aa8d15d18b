"""SageMaker's hyperparameter tuning jobs: CreateHyperParameterTuningJob, DescribeHyperParameterTuningJob,
ListHyperParameterTuningJobs, ListTrainingJobsForHyperParameterTuningJob, StopHyperParameterTuningJob and
DeleteHyperParameterTuningJob.

These functions record desired state only; the tuning controller runs the trials (each a training job) and
moves the job through its statuses (TuningJobRepository.advance). What Describe and the listings count is
read from the trials and their training jobs as they stand.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from modelbay.errors import ResourceNotFound, ValidationError
from modelbay.services.base import Context, Handler, present
from modelbay.services.listing import DEFAULT_MAX_RESULTS, list_page, reading_tokens
from modelbay.services.sagemaker.algorithm_metrics import metric_definitions
from modelbay.services.sagemaker.jobs import name_in_use
from modelbay.services.sagemaker.kms_key_ids import check_training_keys
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.services.sagemaker.training_jobs import REQUEST_DEFAULTS as TRAINING_DEFAULTS
from modelbay.services.sagemaker.tuning_job_checks import check_tuning_job
from modelbay.statuses import ObjectiveStatus, TrainingJobStatus
from modelbay.store.metadata import (
    RecordExists,
    StatusConflict,
    TrainingJob,
    Trial,
    TrialState,
    TuningJob,
    TuningJobNotFound,
)
from modelbay.store.metadata.paging import decode_token, encode_token
from modelbay.store.metadata.records import from_json_times
from modelbay.store.metadata.tuning_jobs import training_resources

# The CreateHyperParameterTuningJob members that DescribeHyperParameterTuningJob gives back.
ECHOED_MEMBERS = ("HyperParameterTuningJobConfig", "TrainingJobDefinition", "TrainingJobDefinitions",
                  "WarmStartConfig")
CONFIG_DEFAULTS = {"TrainingJobEarlyStoppingType": "Off"}  # what Describe shows when the request left it out
# The static hyperparameter SageMaker adds to every definition: the objective metric's name (built-in algorithms such
# as XGBoost evaluate it; the SDK's HyperparameterTuner.attach() removes it).
OBJECTIVE_HYPERPARAMETER = "_tuning_objective_metric"
_SORT_KEYS = {"Name": lambda s: s["TrainingJobName"], "CreationTime": lambda s: s["CreationTime"],
              "Status": lambda s: s["TrainingJobStatus"],
              "FinalObjectiveMetricValue": lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]}


def create_hyper_parameter_tuning_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record the job as InProgress with its tags; ResourceInUse if a tuning job has the name."""
    check_tuning_job(params, lambda parent: _status(ctx, parent))
    for definition in params.get("TrainingJobDefinitions", []):
        check_training_keys(ctx, definition, f"TrainingJobDefinition {definition['DefinitionName']}: ")
    if "TrainingJobDefinition" in params:
        check_training_keys(ctx, params["TrainingJobDefinition"], "TrainingJobDefinition.")
    name: str = params["HyperParameterTuningJobName"]
    arn = ctx.arn("sagemaker", f"hyper-parameter-tuning-job/{name.lower()}")
    tags = creation_tags(params)
    try:
        ctx.metadata.tuning_jobs.create(name, arn, _with_defaults(params))
    except RecordExists as err:
        raise name_in_use("hyperparameter tuning job", err) from err
    store_tags(ctx, arn, tags)
    return {"HyperParameterTuningJobArn": arn}


def _status(ctx: Context, name: str) -> str | None:
    job = ctx.metadata.tuning_jobs.get(name)
    return None if job is None else str(job.status)


def _with_defaults(params: dict[str, Any]) -> dict[str, Any]:
    """The echoed members with what Describe shows besides: the config's defaults, and each definition's
    MetricDefinitions (a built-in algorithm's own when it gives none), ResourceConfig, OutputDataConfig's KmsKeyId,
    StoppingCondition defaults and objective hyperparameter (which its trials' training jobs get too)."""
    request = {key: value for key, value in params.items() if key in ECHOED_MEMBERS}
    config = request["HyperParameterTuningJobConfig"] = CONFIG_DEFAULTS | request["HyperParameterTuningJobConfig"]
    if "TrainingJobDefinition" in request:
        request["TrainingJobDefinition"] = _filled(request["TrainingJobDefinition"], config)
    if "TrainingJobDefinitions" in request:
        request["TrainingJobDefinitions"] = [_filled(d, config) for d in request["TrainingJobDefinitions"]]
    return request


def _filled(definition: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    objective = config.get("HyperParameterTuningJobObjective") or definition["TuningObjective"]
    algorithm = definition["AlgorithmSpecification"]
    return definition | {
        "AlgorithmSpecification": algorithm | {"MetricDefinitions": metric_definitions(algorithm)},
        "ResourceConfig": training_resources(definition),  # shown for a HyperParameterTuningResourceConfig too
        "OutputDataConfig": {"KmsKeyId": ""} | definition["OutputDataConfig"],  # the SDK's attach() reads it
        "StoppingCondition": TRAINING_DEFAULTS["StoppingCondition"] | definition.get("StoppingCondition", {}),
        "StaticHyperParameters": definition.get("StaticHyperParameters", {}) | {
            OBJECTIVE_HYPERPARAMETER: objective["MetricName"]}}


def describe_hyper_parameter_tuning_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The job's request and state as DescribeHyperParameterTuningJobResponse; ResourceNotFound if unknown."""
    job = _get(ctx, params["HyperParameterTuningJobName"])
    trials = _trials(ctx, job)
    best = job.spec.best(trial for trial, _ in trials)
    overall = _overall_best(ctx, job, [trial for trial, _ in trials])
    completion = from_json_times(job.completion_details, frozenset({"ConvergenceDetectedTime"}))
    return _summary_of(job, trials) | job.request | present(
        BestTrainingJob=None if best is None else _trial_summary(ctx, job, best),
        OverallBestTrainingJob=None if overall is None else _trial_summary(ctx, job, overall),
        FailureReason=job.failure_reason) | {
        "TuningJobCompletionDetails": completion,
        "ConsumedResources": {"RuntimeInSeconds": int(((job.end_time or datetime.now(UTC))
                                                       - job.creation_time).total_seconds())}}


def _overall_best(ctx: Context, job: TuningJob, trials: list[Trial]) -> Trial | None:
    """The best of the job's trials and its IdenticalDataAndAlgorithm parents' (None for other jobs)."""
    if job.spec.warm_start_type != "IdenticalDataAndAlgorithm":
        return None
    return job.spec.best(trials + [trial for parent in job.spec.parents
                                   for trial in ctx.metadata.tuning_jobs.trials(parent)])


def list_hyper_parameter_tuning_jobs(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of job summaries, filtered and sorted as asked (by name, ascending, by default)."""
    return list_page({"SortBy": "Name", "SortOrder": "Ascending"} | params, ctx.metadata.tuning_jobs.list,
                     "HyperParameterTuningJobSummaries", lambda job: _summary_of(job, _trials(ctx, job)) | {
                         "Strategy": job.spec.strategy,
                         "ResourceLimits": job.request["HyperParameterTuningJobConfig"]["ResourceLimits"]})


def list_training_jobs_for_hyper_parameter_tuning_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of the job's trials as HyperParameterTrainingJobSummary, filtered by status and sorted as asked
    (by name, ascending, by default); sorted by FinalObjectiveMetricValue, trials without one are left out."""
    job = _get(ctx, params["HyperParameterTuningJobName"])
    summaries = [_trial_summary(ctx, job, trial, training) for trial, training in _trials(ctx, job)]
    sort_by = params.get("SortBy", "Name")
    wanted = [s for s in summaries if params.get("StatusEquals") in (None, s["TrainingJobStatus"])
              and (sort_by != "FinalObjectiveMetricValue" or "FinalHyperParameterTuningJobObjectiveMetric" in s)]
    wanted.sort(key=_SORT_KEYS[sort_by], reverse=params.get("SortOrder", "Ascending") == "Descending")
    scope = f"{job.arn} {sort_by} {params.get('SortOrder')} {params.get('StatusEquals')}"
    with reading_tokens():
        start = decode_token(scope, params["NextToken"]) if params.get("NextToken") else 0
    end = start + params.get("MaxResults", DEFAULT_MAX_RESULTS)
    return {"TrainingJobSummaries": wanted[start:end]} | present(
        NextToken=encode_token(scope, end) if end < len(wanted) else None)


def stop_hyper_parameter_tuning_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Move an InProgress job to Stopping; the controller stops its running trials, then it is Stopped."""
    _request(ctx.metadata.tuning_jobs.request_stop, params["HyperParameterTuningJobName"], ".")
    return {}


def delete_hyper_parameter_tuning_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Move an ended job to Deleting; the controller removes it (its training jobs stay, as SageMaker's do)."""
    _request(ctx.metadata.tuning_jobs.request_delete, params["HyperParameterTuningJobName"],
             ": only a Completed, Failed or Stopped tuning job can be deleted.")
    return {}


def _request(request: Callable[[str], object], name: str, refusal_end: str) -> None:
    """A request of the job's lifecycle, its refusals in SageMaker's words (`refusal_end` ends a status conflict's)."""
    try:
        request(name)
    except TuningJobNotFound as err:
        raise _not_found(name) from err
    except StatusConflict as err:
        raise ValidationError(f"The request was rejected because the hyperparameter tuning job is in status "
                              f"{err.status}{refusal_end}") from err


def _get(ctx: Context, name: str) -> TuningJob:
    job = ctx.metadata.tuning_jobs.get(name)
    if job is None:
        raise _not_found(name)
    return job


def _not_found(name: str) -> ResourceNotFound:
    return ResourceNotFound(f"Amazon SageMaker can't find a tuning job with name {name}")


def _trials(ctx: Context, job: TuningJob) -> list[tuple[Trial, TrainingJob]]:
    """The job's trials whose training job exists (one made a moment ago may not yet), with that job."""
    found = ((trial, ctx.metadata.training_jobs.get(trial.training_job_name))
             for trial in ctx.metadata.tuning_jobs.trials(job.name))
    return [(trial, training) for trial, training in found if training is not None]


def _summary_of(job: TuningJob, trials: list[tuple[Trial, TrainingJob]]) -> dict[str, Any]:
    """What HyperParameterTuningJobSummary and Describe share: names, status, times and the counters."""
    statuses = Counter(training.status for _, training in trials)
    objectives = Counter(_objective_status(trial) for trial, _ in trials)
    return {"HyperParameterTuningJobName": job.name, "HyperParameterTuningJobArn": job.arn,
            "HyperParameterTuningJobStatus": job.status, "CreationTime": job.creation_time,
            "LastModifiedTime": job.last_modified_time,
            "TrainingJobStatusCounters": {
                "Completed": statuses[TrainingJobStatus.COMPLETED],
                "InProgress": statuses[TrainingJobStatus.IN_PROGRESS] + statuses[TrainingJobStatus.STOPPING],
                "RetryableError": 0, "NonRetryableError": statuses[TrainingJobStatus.FAILED],
                "Stopped": statuses[TrainingJobStatus.STOPPED]},
            "ObjectiveStatusCounters": {status.value: objectives[status] for status in ObjectiveStatus}} | present(
        HyperParameterTuningEndTime=job.end_time)


def _objective_status(trial: Trial) -> ObjectiveStatus:
    if trial.objective is not None:
        return ObjectiveStatus.SUCCEEDED
    return ObjectiveStatus.PENDING if trial.state is TrialState.RUNNING else ObjectiveStatus.FAILED


def _trial_summary(ctx: Context, job: TuningJob, trial: Trial, training: TrainingJob | None = None) -> dict[str, Any]:
    """A trial as HyperParameterTrainingJobSummary (a warm start parent's trial names its own tuning job)."""
    training = training or ctx.metadata.training_jobs.get(trial.training_job_name)
    if training is None:
        raise LookupError(f"the training job of trial {trial.number} of {trial.tuning_job} is gone")
    objective = None
    if trial.objective is not None:
        given = (job if trial.tuning_job == job.name else _get(ctx, trial.tuning_job)).spec.objective(trial.definition)
        objective = {"Type": given.type, "MetricName": given.metric_name, "Value": trial.objective}
    return {"TrainingJobName": training.name, "TrainingJobArn": training.arn, "TuningJobName": trial.tuning_job,
            "CreationTime": training.creation_time, "TrainingJobStatus": training.status,
            "TunedHyperParameters": trial.parameters, "ObjectiveStatus": _objective_status(trial)} | present(
        TrainingJobDefinitionName=trial.definition, TrainingStartTime=training.training_start_time,
        TrainingEndTime=training.training_end_time, FailureReason=training.failure_reason,
        FinalHyperParameterTuningJobObjectiveMetric=objective)


OPERATIONS: dict[str, Handler] = {
    "CreateHyperParameterTuningJob": create_hyper_parameter_tuning_job,
    "DescribeHyperParameterTuningJob": describe_hyper_parameter_tuning_job,
    "ListHyperParameterTuningJobs": list_hyper_parameter_tuning_jobs,
    "ListTrainingJobsForHyperParameterTuningJob": list_training_jobs_for_hyper_parameter_tuning_job,
    "StopHyperParameterTuningJob": stop_hyper_parameter_tuning_job,
    "DeleteHyperParameterTuningJob": delete_hyper_parameter_tuning_job}
