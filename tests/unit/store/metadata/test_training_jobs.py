"""The training-job repository on every metadata backend: create, get, list, status transitions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelbay.store.metadata import (
    MetadataStore,
    MetricDatum,
    SecondaryStatusTransition,
    TrainingJobExists,
    TrainingJobFilter,
    TrainingJobNotFound,
    TrainingJobRepository,
    TrainingJobStatusConflict,
)
from modelbay.store.metadata.paging import InvalidToken
from tests.helpers import T0

REQUEST = {"RoleArn": "arn:aws:iam::000000000000:role/r", "HyperParameters": {"epochs": "3"},
           "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1}}


@pytest.fixture
def jobs(store: MetadataStore) -> TrainingJobRepository:
    return store.training_jobs


def _create(jobs: TrainingJobRepository, name: str) -> None:
    jobs.create(name, f"arn:aws:sagemaker:us-east-1:000000000000:training-job/{name.lower()}", REQUEST,
                "Starting", "Starting the training job")


def _names(jobs: TrainingJobRepository, **kwargs: object) -> list[str]:
    return [job.name for job in jobs.list(**kwargs).items]  # type: ignore[arg-type]  # keywords of list()


def test_create_then_get(jobs: TrainingJobRepository) -> None:
    _create(jobs, "Job-1")
    job = jobs.get("Job-1")
    assert job is not None
    assert (job.name, job.arn, job.request) == (
        "Job-1", "arn:aws:sagemaker:us-east-1:000000000000:training-job/job-1", REQUEST)
    assert (job.status, job.secondary_status, job.stop_requested) == ("InProgress", "Starting", False)
    second = T0 + timedelta(seconds=1)
    assert (job.creation_time, job.last_modified_time) == (second, second)
    assert job.transitions == (SecondaryStatusTransition("Starting", second, None, "Starting the training job"),)
    assert (job.training_start_time, job.training_end_time, job.failure_reason, job.model_artifacts,
            job.final_metrics) == (None, None, None, None, ())
    assert jobs.get("job-1") is None


def test_a_name_or_arn_is_taken_once(jobs: TrainingJobRepository) -> None:
    _create(jobs, "job-1")
    for name in ("job-1", "JOB-1"):  # the second differs only in case, so its ARN is the same
        with pytest.raises(TrainingJobExists) as caught:
            _create(jobs, name)
        assert caught.value.arn == "arn:aws:sagemaker:us-east-1:000000000000:training-job/job-1"
    assert _names(jobs) == ["job-1"]


def test_advance_closes_the_current_transition_and_records_outcomes(jobs: TrainingJobRepository) -> None:
    _create(jobs, "j")  # t+1
    jobs.advance("j", "InProgress", "Training", "Training in progress")  # t+2
    jobs.advance("j", "InProgress", "Training", "Training image download completed")  # t+3: same status
    metric = MetricDatum("loss", 0.25, T0)
    done = jobs.advance("j", "Completed", "Completed", "Training job completed", model_artifacts="s3://b/j/model.tar.gz",
                        final_metrics=[metric], failure_reason=None)  # t+4
    at = [T0 + timedelta(seconds=i) for i in range(5)]
    assert done.transitions == (
        SecondaryStatusTransition("Starting", at[1], at[2], "Starting the training job"),
        SecondaryStatusTransition("Training", at[2], at[4], "Training image download completed"),
        SecondaryStatusTransition("Completed", at[4], None, "Training job completed"))
    assert (done.status, done.secondary_status, done.last_modified_time) == ("Completed", "Completed", at[4])
    assert (done.training_start_time, done.training_end_time) == (at[2], at[4])
    assert (done.model_artifacts, done.final_metrics) == ("s3://b/j/model.tar.gz", (metric,))
    assert jobs.get("j") == done


def test_an_ended_job_does_not_move(jobs: TrainingJobRepository) -> None:
    _create(jobs, "j")
    jobs.advance("j", "Failed", "Failed", "Training job failed", failure_reason="AlgorithmError: boom")
    with pytest.raises(TrainingJobStatusConflict) as caught:
        jobs.advance("j", "InProgress", "Training", "again")
    assert caught.value.status == "Failed"
    job = jobs.get("j")
    assert job is not None and (job.failure_reason, job.status, job.training_start_time) == (
        "AlgorithmError: boom", "Failed", None)
    with pytest.raises(TrainingJobNotFound):
        jobs.advance("nope", "Failed", "Failed", "x")


def test_request_stop_only_from_in_progress(jobs: TrainingJobRepository) -> None:
    _create(jobs, "j")
    stopping = jobs.request_stop("j")
    assert (stopping.status, stopping.secondary_status, stopping.stop_requested) == ("Stopping", "Stopping", True)
    assert [t.status for t in stopping.transitions] == ["Starting", "Stopping"]
    with pytest.raises(TrainingJobStatusConflict) as caught:
        jobs.request_stop("j")
    assert caught.value.status == "Stopping"
    with pytest.raises(TrainingJobNotFound):
        jobs.request_stop("nope")


def test_a_stopping_job_is_not_moved_back_in_progress(jobs: TrainingJobRepository) -> None:
    _create(jobs, "j")
    jobs.request_stop("j")
    late = jobs.advance("j", "InProgress", "Downloading", "Downloading input data")  # a preparation ending late
    assert (late.status, late.secondary_status) == ("Stopping", "Stopping")
    assert jobs.advance("j", "Stopped", "Stopped", "Training job stopped").status == "Stopped"


def test_list_filters(jobs: TrainingJobRepository) -> None:
    for name in ("alpha-1", "Beta-2", "alpha-3", "gamma-4"):  # created at t+1 .. t+4
        _create(jobs, name)
    jobs.advance("Beta-2", "Completed", "Completed", "done")  # modified at t+5
    t = [T0 + timedelta(seconds=i) for i in range(6)]
    assert _names(jobs, filters=TrainingJobFilter(name_contains="ALPHA")) == ["alpha-3", "alpha-1"]
    assert _names(jobs, filters=TrainingJobFilter(name_contains="mA-")) == ["gamma-4"]
    assert _names(jobs, filters=TrainingJobFilter(status="Completed")) == ["Beta-2"]
    assert _names(jobs, filters=TrainingJobFilter(created_after=t[2], created_before=t[4])) == ["alpha-3"]
    assert _names(jobs, filters=TrainingJobFilter(modified_after=t[4])) == ["Beta-2"]
    assert _names(jobs, filters=TrainingJobFilter(modified_before=t[2])) == ["alpha-1"]
    assert _names(jobs, filters=TrainingJobFilter(name_contains="%")) == []


@pytest.mark.parametrize(("sort_by", "ascending", "expected"), [
    ("CreationTime", False, ["c", "a", "d", "b"]),
    ("CreationTime", True, ["b", "d", "a", "c"]),
    ("Name", True, ["a", "b", "c", "d"]),
    ("Status", True, ["c", "d", "a", "b"]),  # Completed; InProgress in creation order; Stopping
    ("Status", False, ["b", "a", "d", "c"]),
])
def test_list_sorts_and_pages_through_every_job_once(
        jobs: TrainingJobRepository, sort_by: str, ascending: bool, expected: list[str]) -> None:
    for name in ("b", "d", "a", "c"):
        _create(jobs, name)
    jobs.advance("c", "Completed", "Completed", "done")
    jobs.request_stop("b")
    names, token, pages = [], None, 0
    while True:
        page = jobs.list(sort_by=sort_by, ascending=ascending, after_token=token, limit=3)  # type: ignore[arg-type]
        names += [job.name for job in page.items]
        pages += 1
        if page.next_token is None:
            break
        token = page.next_token
    assert (names, pages) == (expected, 2)


def test_list_refuses_a_token_of_another_sort(jobs: TrainingJobRepository) -> None:
    for name in ("a", "b"):
        _create(jobs, name)
    token = jobs.list(limit=1).next_token
    assert token is not None
    with pytest.raises(InvalidToken):
        jobs.list(sort_by="Name", after_token=token, limit=1)
    assert [job.name for job in jobs.list(after_token=token, limit=1).items] == ["a"]
