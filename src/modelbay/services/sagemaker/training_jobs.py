"""SageMaker's training-job records: CreateTrainingJob, DescribeTrainingJob, ListTrainingJobs, StopTrainingJob.

These functions record desired state only; the training controller runs the jobs and moves
them through their statuses (TrainingJobRepository.advance).
"""

from __future__ import annotations

import math
from pathlib import PurePosixPath
from typing import Any

from modelbay.errors import ValidationError
from modelbay.services.base import Context, Handler, present
from modelbay.services.listing import list_page
from modelbay.services.sagemaker.jobs import name_in_use
from modelbay.services.sagemaker.kms_key_ids import check_training_keys
from modelbay.services.sagemaker.network_config import check_network
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.services.sagemaker.trial_components import job_trial_component
from modelbay.statuses import SecondaryStatus
from modelbay.store.metadata import RecordExists, StatusConflict, TrainingJob, TrainingJobNotFound
from modelbay.store.metadata.job_trial_components import TRAINING
from modelbay.store.metadata.training_jobs import DEFAULT_CHECKPOINT_PATH, SPOT_SAVINGS

STARTING_MESSAGE = "Starting the training job"
# What SageMaker shows in DescribeTrainingJob when the request left these out; a member given in part (a
# StoppingCondition without MaxRuntimeInSeconds) gets the defaults it lacks. The only place they are written.
REQUEST_DEFAULTS: dict[str, Any] = {
    "StoppingCondition": {"MaxRuntimeInSeconds": 86400}, "OutputDataConfig": {"KmsKeyId": ""},
    "EnableNetworkIsolation": False,
    "EnableInterContainerTrafficEncryption": False, "EnableManagedSpotTraining": False}
# The CreateTrainingJob members that DescribeTrainingJob gives back as they were sent.
ECHOED_MEMBERS = (
    "HyperParameters", "AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig",
    "ResourceConfig", "VpcConfig", "StoppingCondition", "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining", "CheckpointConfig", "DebugHookConfig",
    "ExperimentConfig", "DebugRuleConfigurations", "TensorBoardOutputConfig", "ProfilerConfig",
    "ProfilerRuleConfigurations", "Environment", "RetryStrategy", "RemoteDebugConfig", "InfraCheckConfig",
    "ServerlessJobConfig", "MlflowConfig", "ModelPackageConfig")
_NOT_FOUND = "Requested resource not found."
MAX_RUNTIME_S = 28 * 24 * 3600  # SageMaker's longest training job


def create_training_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record the job as InProgress / Starting and store its tags; answer with its ARN.

    Raises ResourceInUse if a job of that name exists, ValidationError for a reserved tag key.
    """
    check_runnable(params)
    check_training_keys(ctx, params)
    name: str = params["TrainingJobName"]
    arn = ctx.arn("sagemaker", f"training-job/{name.lower()}")
    tags = creation_tags(params)
    request = _with_defaults({key: value for key, value in params.items() if key in ECHOED_MEMBERS})
    try:
        with job_trial_component(ctx, TRAINING, name, arn, params.get("ExperimentConfig")):
            ctx.metadata.training_jobs.create(name, arn, request, SecondaryStatus.STARTING, STARTING_MESSAGE)
    except RecordExists as err:
        raise name_in_use("training job", err) from err
    store_tags(ctx, arn, tags)
    return {"TrainingJobArn": arn}


def _with_defaults(request: dict[str, Any]) -> dict[str, Any]:
    """The request with REQUEST_DEFAULTS filled in, member by member."""
    filled = {key: default | request.get(key, {}) if isinstance(default, dict) else request.get(key, default)
              for key, default in REQUEST_DEFAULTS.items()}
    return request | filled


def check_runnable(params: dict[str, Any]) -> None:
    """Refuse what the model leaves optional but a job needs, naming the member, as SageMaker does."""
    algorithm = params.get("AlgorithmSpecification")
    if algorithm is None:
        raise ValidationError("AlgorithmSpecification is required: give its TrainingImage and TrainingInputMode")
    if "TrainingImage" not in algorithm:
        raise ValidationError("AlgorithmSpecification.TrainingImage is required: AlgorithmName (AWS Marketplace "
                              "and SageMaker built-in algorithms by name) is not available in modelbay")
    _check_resources(params.get("ResourceConfig"))
    check_network(params.get("VpcConfig"), params.get("EnableInterContainerTrafficEncryption", False),
                  params["ResourceConfig"]["InstanceCount"])
    _check_channels(params.get("InputDataConfig", []), algorithm["TrainingInputMode"])
    max_runtime = params.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 0)
    if max_runtime > MAX_RUNTIME_S:
        raise ValidationError(f"StoppingCondition.MaxRuntimeInSeconds must be at most {MAX_RUNTIME_S} (28 days)")
    _check_spot(params)
    _check_checkpoint(params.get("CheckpointConfig"))


def _check_spot(params: dict[str, Any]) -> None:
    """MaxWaitTimeInSeconds with managed spot training, and only then, at least MaxRuntimeInSeconds."""
    stopping = REQUEST_DEFAULTS["StoppingCondition"] | params.get("StoppingCondition", {})
    max_wait = stopping.get("MaxWaitTimeInSeconds")
    if params.get("EnableManagedSpotTraining"):
        if max_wait is None or max_wait < stopping["MaxRuntimeInSeconds"]:
            raise ValidationError("Invalid MaxWaitTimeInSeconds. It must be present and be greater than or equal "
                                  "to MaxRuntimeInSeconds")
    elif max_wait is not None:
        raise ValidationError("Invalid MaxWaitTimeInSeconds. It may be given only with managed spot training "
                              "(EnableManagedSpotTraining true)")


def _check_checkpoint(checkpoint: dict[str, Any] | None) -> None:
    """CheckpointConfig: an s3:// S3Uri, and a LocalPath the instance's directory holds."""
    if checkpoint is None:
        return
    if not checkpoint["S3Uri"].startswith("s3://"):
        raise ValidationError(f"CheckpointConfig.S3Uri must be an S3 URI (s3://bucket/prefix), not "
                              f"{checkpoint['S3Uri']}")
    local_path = PurePosixPath(checkpoint.get("LocalPath", DEFAULT_CHECKPOINT_PATH))
    if not local_path.is_relative_to("/opt/ml") or ".." in local_path.parts:
        raise ValidationError(f"CheckpointConfig.LocalPath must lie under /opt/ml in modelbay (the instance's own "
                              f"directory, synced to S3), not {local_path}")


def _check_resources(resources: dict[str, Any] | None) -> None:
    if resources is None or "InstanceType" not in resources:
        raise ValidationError("ResourceConfig.InstanceType and ResourceConfig.InstanceCount are required "
                              "(InstanceGroups, for heterogeneous clusters, are not available in modelbay)")
    if resources.get("InstanceCount", 0) < 1:
        raise ValidationError("ResourceConfig.InstanceCount must be at least 1")


def _check_channels(channels: list[dict[str, Any]], default_mode: str) -> None:
    names = [channel["ChannelName"] for channel in channels]
    if repeated := sorted({name for name in names if names.count(name) > 1}):
        raise ValidationError(f"InputDataConfig: channel names must be unique; repeated: {', '.join(repeated)}")
    for channel in channels:
        mode = channel.get("InputMode", default_mode)
        if mode == "Pipe":
            raise ValidationError(f"Channel {channel['ChannelName']}: Pipe input mode is not available in modelbay "
                                  "yet; use File or FastFile (the channel is then delivered as files)")
        if channel.get("CompressionType") == "Gzip":  # SageMaker decompresses in Pipe mode only
            raise ValidationError(f"Invalid compression type for channel {channel['ChannelName']}: {mode} mode only "
                                  "supports NONE, got Gzip instead")


def describe_training_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The job's request and state as DescribeTrainingJobResponse; ValidationException if it is unknown."""
    job = ctx.metadata.training_jobs.get(params["TrainingJobName"])
    if job is None:
        raise ValidationError(_NOT_FOUND)
    return _description(job)


def list_training_jobs(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of job summaries, filtered and sorted as asked (newest first by default)."""
    if params.get("WarmPoolStatusEquals") or params.get("TrainingPlanArnEquals"):
        return {"TrainingJobSummaries": []}  # no job here uses warm pools or training plans
    return list_page(params, ctx.metadata.training_jobs.list, "TrainingJobSummaries", _summary)


def stop_training_job(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Ask the controller to stop an InProgress job, which goes to Stopping / Stopping now.

    ValidationException if the job is unknown or not InProgress.
    """
    try:
        ctx.metadata.training_jobs.request_stop(params["TrainingJobName"])
    except TrainingJobNotFound as err:
        raise ValidationError(_NOT_FOUND) from err
    except StatusConflict as err:
        raise ValidationError(f"The request was rejected because the training job is in status {err.status}.") from err
    return {}


def _summary(job: TrainingJob) -> dict[str, Any]:
    summary = {"TrainingJobName": job.name, "TrainingJobArn": job.arn, "CreationTime": job.creation_time,
               "LastModifiedTime": job.last_modified_time, "TrainingJobStatus": job.status,
               "SecondaryStatus": job.secondary_status}
    return summary | present(TrainingEndTime=job.training_end_time)


def _description(job: TrainingJob) -> dict[str, Any]:
    transitions = [{"Status": t.status, "StartTime": t.start_time, "StatusMessage": t.message}
                   | present(EndTime=t.end_time) for t in job.transitions]
    metrics = [{"MetricName": m.name, "Value": m.value, "Timestamp": m.timestamp} for m in job.final_metrics]
    return _summary(job) | job.request | {"SecondaryStatusTransitions": transitions,
                                          "ModelArtifacts": {"S3ModelArtifacts": _model_artifacts(job)}} | present(
        FailureReason=job.failure_reason, TrainingStartTime=job.training_start_time,
        FinalMetricDataList=metrics or None) | _durations(job)


def _model_artifacts(job: TrainingJob) -> str:
    """Where model.tar.gz is, or will be once uploaded (the model requires the member throughout)."""
    if job.model_artifacts is not None:
        return job.model_artifacts
    return f"{job.spec.s3_output_path.rstrip('/')}/{job.name}/output/model.tar.gz"


def _durations(job: TrainingJob) -> dict[str, int]:
    """TrainingTimeInSeconds and BillableTimeInSeconds of an ended job: equal on demand; with managed spot, the
    time its instances ran (interruptions and waits for capacity left out), billed at the spot price.

    Whole seconds rounded up, at least 1 as the model requires: a 0.4 s job reports 1 s, not 0."""
    if job.training_end_time is None:
        return {}
    if job.is_spot:
        elapsed = job.running_seconds(job.training_end_time)
        return {"TrainingTimeInSeconds": _whole(elapsed), "BillableTimeInSeconds": _whole(elapsed * (1 - SPOT_SAVINGS))}
    elapsed = (job.training_end_time - (job.training_start_time or job.training_end_time)).total_seconds()
    return {"TrainingTimeInSeconds": _whole(elapsed), "BillableTimeInSeconds": _whole(elapsed)}


def _whole(seconds: float) -> int:
    return max(1, math.ceil(round(seconds, 6)))  # rounded first: 20 s × 0.3 is 6 s, not 6.000000000000001


OPERATIONS: dict[str, Handler] = {
    "CreateTrainingJob": create_training_job, "DescribeTrainingJob": describe_training_job,
    "ListTrainingJobs": list_training_jobs, "StopTrainingJob": stop_training_job}
