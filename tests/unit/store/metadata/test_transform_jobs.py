"""The transform-job repository on every metadata backend: create, get, list, status transitions, stop."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from modelbay.statuses import TransformJobStatus
from modelbay.store.metadata import (
    ListFilter,
    MetadataStore,
    RecordExists,
    StatusConflict,
    TransformJobNotFound,
    TransformJobRepository,
    TransformJobSpec,
)
from modelbay.store.metadata.lifecycle import IllegalTransition
from modelbay.store.metadata.transform_jobs import LIFECYCLE
from tests.helpers import T0

# A request as the service stores it (the defaults DescribeTransformJob shows filled in).
REQUEST = {"ModelName": "m", "MaxPayloadInMB": 6,
           "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in"}},
                              "CompressionType": "None", "SplitType": "None"},
           "TransformOutput": {"S3OutputPath": "s3://b/out", "AssembleWith": "None"},
           "DataProcessing": {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"},
           "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}


@pytest.fixture
def jobs(store: MetadataStore) -> TransformJobRepository:
    return store.transform_jobs


def _at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _create(jobs: TransformJobRepository, name: str) -> None:
    jobs.create(name, f"arn:aws:sagemaker:us-east-1:000000000000:transform-job/{name.lower()}", REQUEST)


def test_create_then_get(jobs: TransformJobRepository) -> None:
    _create(jobs, "Job-1")
    job = jobs.get("Job-1")
    assert job is not None
    assert (job.name, job.request, job.status, job.stop_requested, job.failure_reason) == (
        "Job-1", REQUEST, "InProgress", False, None)
    assert (job.creation_time, job.last_modified_time, job.transform_start_time, job.transform_end_time) == (
        _at(1), _at(1), None, None)
    with pytest.raises(RecordExists):
        _create(jobs, "JOB-1")


def test_advance_sets_start_and_end_times(jobs: TransformJobRepository) -> None:
    _create(jobs, "j")  # t+1
    started = jobs.advance("j", "InProgress")  # t+2
    jobs.advance("j", "InProgress")  # t+3: the start time stays
    done = jobs.advance("j", "Failed", failure_reason="ClientError: bad record")  # t+4
    assert started.transform_start_time == done.transform_start_time == _at(2)
    assert (done.status, done.transform_end_time, done.last_modified_time, done.failure_reason) == (
        "Failed", _at(4), _at(4), "ClientError: bad record")
    with pytest.raises(IllegalTransition) as caught:
        jobs.advance("j", "Completed")
    assert caught.value.current == "Failed"
    with pytest.raises(TransformJobNotFound):
        jobs.advance("nope", "Completed")


def test_stop_only_from_in_progress_and_not_undone_by_a_late_advance(jobs: TransformJobRepository) -> None:
    _create(jobs, "j")
    stopping = jobs.request_stop("j")
    assert (stopping.status, stopping.stop_requested) == ("Stopping", True)
    with pytest.raises(StatusConflict):
        jobs.request_stop("j")
    assert jobs.advance("j", "InProgress").status == "Stopping"
    assert jobs.advance("j", "Stopped").status == "Stopped"
    with pytest.raises(TransformJobNotFound):
        jobs.request_stop("nope")


def test_names_to_reconcile_are_the_jobs_not_ended(jobs: TransformJobRepository) -> None:
    for name in ("a", "b", "c", "d"):
        _create(jobs, name)
    jobs.advance("a", "Completed")
    jobs.request_stop("c")
    assert jobs.names_to_reconcile() == ["b", "c", "d"]


def test_list_filters_and_sorts(jobs: TransformJobRepository) -> None:
    for name in ("b", "a", "c"):  # t+1 .. t+3
        _create(jobs, name)
    jobs.advance("a", "Completed")  # t+4
    names = lambda **kw: [job.name for job in jobs.list(**kw).items]  # noqa: E731
    assert names() == ["c", "a", "b"]
    assert names(sort_by="Status", ascending=True) == ["a", "b", "c"]
    assert names(filters=ListFilter(status="InProgress"), sort_by="Name", ascending=True) == ["b", "c"]
    assert names(filters=ListFilter(modified_after=_at(3))) == ["a"]


def test_the_lifecycle_ends_in_completed_failed_or_stopped() -> None:
    assert LIFECYCLE.ended == {TransformJobStatus.COMPLETED, TransformJobStatus.FAILED, TransformJobStatus.STOPPED}
    assert set(LIFECYCLE.moves) == set(TransformJobStatus)


def test_advance_makes_the_moves_the_lifecycle_allows_and_refuses_the_others(jobs: TransformJobRepository) -> None:
    _create(jobs, "j")
    assert jobs.advance("j", TransformJobStatus.COMPLETED).status is TransformJobStatus.COMPLETED
    with pytest.raises(IllegalTransition, match="j: Completed cannot move to InProgress"):
        jobs.advance("j", TransformJobStatus.IN_PROGRESS)
    _create(jobs, "k")
    with pytest.raises(IllegalTransition, match="k: InProgress cannot move to Stopped"):
        jobs.advance("k", TransformJobStatus.STOPPED)  # only a stop request leads there
    unchanged = jobs.get("k")
    assert unchanged is not None and unchanged.status is TransformJobStatus.IN_PROGRESS


def test_a_stop_request_wins_over_an_outcome_the_controller_saw_before_it(jobs: TransformJobRepository) -> None:
    _create(jobs, "j")
    jobs.request_stop("j")
    assert jobs.advance("j", TransformJobStatus.FAILED, failure_reason="late").status is TransformJobStatus.STOPPING
    stopped = jobs.advance("j", TransformJobStatus.STOPPED)
    assert (stopped.status, stopped.failure_reason) == (TransformJobStatus.STOPPED, None)


def test_a_stop_request_on_a_job_that_has_ended_is_a_status_conflict(jobs: TransformJobRepository) -> None:
    _create(jobs, "j")
    jobs.request_stop("j")
    jobs.advance("j", TransformJobStatus.STOPPED)
    with pytest.raises(StatusConflict) as caught:
        jobs.request_stop("j")
    assert caught.value.status == "Stopped"


def test_the_spec_is_read_from_the_stored_request_with_the_defaults_describe_does_not_show(
        jobs: TransformJobRepository) -> None:
    _create(jobs, "j")
    job = jobs.get("j")
    assert job is not None
    assert job.spec == TransformJobSpec(
        model_name="m", instance_type="ml.m5.large", instance_count=1, environment={}, max_payload_mb=6,
        batch_strategy="MultiRecord", max_concurrent_transforms=1, invocations_timeout_s=600.0,
        invocations_max_retries=3, s3_data_source={"S3DataType": "S3Prefix", "S3Uri": "s3://b/in"},
        s3_uri="s3://b/in", content_type=None, split_type="None", s3_output_path="s3://b/out", accept=None,
        assemble_with="None", input_filter="$", output_filter="$", join_source="None")
