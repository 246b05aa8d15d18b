"""Managed spot training in CreateTrainingJob and DescribeTrainingJob: SageMaker's checks of MaxWaitTimeInSeconds and
CheckpointConfig, and the training time against the time billed at the spot price."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from modelbay.errors import ValidationError
from modelbay.services.base import Context
from modelbay.services.sagemaker.training_jobs import create_training_job, describe_training_job
from modelbay.statuses import SecondaryStatus, TrainingJobStatus
from tests.helpers import Clock
from tests.unit.services.sagemaker.test_training_jobs import _request

MAX_WAIT = "Invalid MaxWaitTimeInSeconds. It must be present and be greater than or equal to MaxRuntimeInSeconds"


def spot(name: str = "j", **extra: Any) -> dict[str, Any]:
    return _request(name, EnableManagedSpotTraining=True, **{
        "StoppingCondition": {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 1200}} | extra)


@pytest.mark.parametrize(("request_", "message"), [
    (spot(StoppingCondition={"MaxRuntimeInSeconds": 600}), MAX_WAIT),
    (spot(StoppingCondition={"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 599}), MAX_WAIT),
    (spot(StoppingCondition={"MaxWaitTimeInSeconds": 3600}), MAX_WAIT),  # below the default MaxRuntime of a day
    (_request("j", StoppingCondition={"MaxRuntimeInSeconds": 60, "MaxWaitTimeInSeconds": 60}),
     "Invalid MaxWaitTimeInSeconds. It may be given only with managed spot training"),
    (spot(CheckpointConfig={"S3Uri": "https://bucket.s3.amazonaws.com/ckpt"}),
     "CheckpointConfig.S3Uri must be an S3 URI (s3://bucket/prefix), not https://bucket.s3.amazonaws.com/ckpt"),
    (spot(CheckpointConfig={"S3Uri": "s3://b/c", "LocalPath": "/checkpoints"}),
     "CheckpointConfig.LocalPath must lie under /opt/ml in modelbay"),
    (spot(CheckpointConfig={"S3Uri": "s3://b/c", "LocalPath": "/opt/ml/../etc"}),
     "CheckpointConfig.LocalPath must lie under /opt/ml in modelbay"),
])
def test_bad_spot_requests_are_refused_in_sagemakers_words(ctx: Context, request_: dict[str, Any],
                                                           message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        create_training_job(ctx, request_)
    assert str(refused.value).startswith(message)
    assert ctx.metadata.training_jobs.get("j") is None


def test_a_spot_job_is_stored_with_its_max_wait_and_checkpoint(ctx: Context) -> None:
    create_training_job(ctx, spot(CheckpointConfig={"S3Uri": "s3://b/ckpt"}))
    described = describe_training_job(ctx, {"TrainingJobName": "j"})
    assert described["EnableManagedSpotTraining"] is True
    assert described["StoppingCondition"] == {"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 1200}
    assert described["CheckpointConfig"] == {"S3Uri": "s3://b/ckpt"}
    job = ctx.metadata.training_jobs.get("j")
    assert job is not None and job.is_spot and job.spec.max_wait_time_in_seconds == 1200


def test_spot_training_time_leaves_out_interruptions_and_bills_thirty_percent(ctx: Context, clock: Clock) -> None:
    """10 s Downloading and Training, 20 s Interrupted and Starting, 10 s more: 20 s trained, 6 s billed (70 %
    saved), as SageMaker reports savings: 1 - BillableTimeInSeconds / TrainingTimeInSeconds."""
    create_training_job(ctx, spot())
    jobs, clock.step = ctx.metadata.training_jobs, timedelta(seconds=10)
    for secondary in (SecondaryStatus.DOWNLOADING, SecondaryStatus.INTERRUPTED, SecondaryStatus.STARTING,
                      SecondaryStatus.TRAINING):
        jobs.advance("j", TrainingJobStatus.IN_PROGRESS, secondary=secondary, message="m")
    jobs.advance("j", TrainingJobStatus.COMPLETED, secondary=SecondaryStatus.COMPLETED, message="m")
    described = describe_training_job(ctx, {"TrainingJobName": "j"})
    assert (described["TrainingTimeInSeconds"], described["BillableTimeInSeconds"]) == (20, 6)
    assert (described["TrainingEndTime"] - described["TrainingStartTime"]).total_seconds() == 40


def test_an_on_demand_job_bills_its_training_time(ctx: Context, clock: Clock) -> None:
    create_training_job(ctx, _request("j"))
    clock.step = timedelta(seconds=10)
    ctx.metadata.training_jobs.advance("j", TrainingJobStatus.IN_PROGRESS, secondary=SecondaryStatus.TRAINING,
                                       message="m")
    ctx.metadata.training_jobs.advance("j", TrainingJobStatus.COMPLETED, secondary=SecondaryStatus.COMPLETED,
                                       message="m")
    described = describe_training_job(ctx, {"TrainingJobName": "j"})
    assert (described["TrainingTimeInSeconds"], described["BillableTimeInSeconds"]) == (10, 10)
