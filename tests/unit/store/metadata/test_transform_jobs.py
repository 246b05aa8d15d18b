"""The transform-job repository on every metadata backend: create, get, list, status transitions, stop."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from modelbay.store.metadata import (
    ListFilter,
    MetadataStore,
    RecordExists,
    StatusConflict,
    TransformJobNotFound,
    TransformJobRepository,
)
from tests.helpers import T0

REQUEST = {"ModelName": "m", "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}


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
    with pytest.raises(StatusConflict) as caught:
        jobs.advance("j", "Completed")
    assert caught.value.status == "Failed"
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


def test_names_active_are_the_jobs_not_ended(jobs: TransformJobRepository) -> None:
    for name in ("a", "b", "c", "d"):
        _create(jobs, name)
    jobs.advance("a", "Completed")
    jobs.request_stop("c")
    assert jobs.names_active() == ["b", "c", "d"]


def test_list_filters_and_sorts(jobs: TransformJobRepository) -> None:
    for name in ("b", "a", "c"):  # t+1 .. t+3
        _create(jobs, name)
    jobs.advance("a", "Completed")  # t+4
    names = lambda **kw: [job.name for job in jobs.list(**kw).items]  # noqa: E731
    assert names() == ["c", "a", "b"]
    assert names(sort_by="Status", ascending=True) == ["a", "b", "c"]
    assert names(filters=ListFilter(status="InProgress"), sort_by="Name", ascending=True) == ["b", "c"]
    assert names(filters=ListFilter(modified_after=_at(3))) == ["a"]
