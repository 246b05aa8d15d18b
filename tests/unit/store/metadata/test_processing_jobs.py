"""The processing-job repository on every metadata backend: create, get, list, status transitions, stop, the spec."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from modelbay.statuses import ProcessingJobStatus
from modelbay.store.metadata import (
    ListFilter,
    MetadataStore,
    ProcessingJobNotFound,
    ProcessingJobRepository,
    ProcessingJobSpec,
    RecordExists,
    StatusConflict,
)
from modelbay.store.metadata.lifecycle import IllegalTransition
from modelbay.store.metadata.processing_jobs import DEFAULT_MAX_RUNTIME_S, LIFECYCLE
from tests.helpers import T0

S3_INPUT = {"S3Uri": "s3://b/in", "LocalPath": "/opt/ml/processing/input", "S3DataType": "S3Prefix",
            "S3InputMode": "File", "S3DataDistributionType": "ShardedByS3Key"}
REQUEST = {"AppSpecification": {"ImageUri": "modelbay/python", "ContainerEntrypoint": ["python3", "x.py"]},
           "ProcessingResources": {"ClusterConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.large",
                                                     "VolumeSizeInGB": 1}},
           "ProcessingInputs": [{"InputName": "in", "S3Input": S3_INPUT}],
           "ProcessingOutputConfig": {"Outputs": [{"OutputName": "out", "S3Output": {
               "S3Uri": "s3://b/out", "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]},
           "RoleArn": "arn:aws:iam::000000000000:role/r"}


@pytest.fixture
def jobs(store: MetadataStore) -> ProcessingJobRepository:
    return store.processing_jobs


def _at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _create(jobs: ProcessingJobRepository, name: str) -> None:
    jobs.create(name, f"arn:aws:sagemaker:us-east-1:000000000000:processing-job/{name.lower()}", REQUEST)


def test_create_then_get(jobs: ProcessingJobRepository) -> None:
    _create(jobs, "Job-1")
    job = jobs.get("Job-1")
    assert job is not None
    assert (job.name, job.request, job.status, job.stop_requested, job.failure_reason, job.exit_message) == (
        "Job-1", REQUEST, "InProgress", False, None, None)
    assert (job.creation_time, job.processing_start_time, job.processing_end_time) == (_at(1), None, None)
    assert jobs.get("nope") is None
    with pytest.raises(RecordExists):
        _create(jobs, "JOB-1")


def test_advance_sets_start_and_end_times_reason_and_exit_message(jobs: ProcessingJobRepository) -> None:
    _create(jobs, "j")  # t+1
    started = jobs.advance("j", "InProgress")  # t+2
    jobs.advance("j", "InProgress")  # t+3: the start time stays
    done = jobs.advance("j", "Failed", failure_reason="AlgorithmError: boom", exit_message="boom")  # t+4
    assert started.processing_start_time == done.processing_start_time == _at(2)
    assert (done.status, done.processing_end_time, done.failure_reason, done.exit_message) == (
        "Failed", _at(4), "AlgorithmError: boom", "boom")
    with pytest.raises(IllegalTransition):
        jobs.advance("j", "Completed")
    with pytest.raises(ProcessingJobNotFound):
        jobs.advance("nope", "Completed")


def test_stop_only_from_in_progress_and_not_undone_by_a_late_advance(jobs: ProcessingJobRepository) -> None:
    _create(jobs, "j")
    stopping = jobs.request_stop("j")
    assert (stopping.status, stopping.stop_requested) == ("Stopping", True)
    with pytest.raises(StatusConflict):
        jobs.request_stop("j")
    assert jobs.advance("j", "Completed").status == "Stopping"
    assert jobs.advance("j", "Stopped").status == "Stopped"
    with pytest.raises(ProcessingJobNotFound):
        jobs.request_stop("nope")


def test_names_to_reconcile_and_list(jobs: ProcessingJobRepository) -> None:
    for name in ("b", "a", "c", "d"):  # t+1 .. t+4
        _create(jobs, name)
    jobs.advance("a", "Completed")
    jobs.request_stop("c")
    assert jobs.names_to_reconcile() == ["b", "c", "d"]
    names = lambda **kw: [job.name for job in jobs.list(**kw).items]  # noqa: E731
    assert names() == ["d", "c", "a", "b"]
    assert names(filters=ListFilter(status="InProgress"), sort_by="Name", ascending=True) == ["b", "d"]


def test_the_lifecycle_ends_in_completed_failed_or_stopped(jobs: ProcessingJobRepository) -> None:
    assert LIFECYCLE.ended == {ProcessingJobStatus.COMPLETED, ProcessingJobStatus.FAILED, ProcessingJobStatus.STOPPED}
    assert set(LIFECYCLE.moves) == set(ProcessingJobStatus)
    _create(jobs, "k")
    with pytest.raises(IllegalTransition, match="k: InProgress cannot move to Stopped"):
        jobs.advance("k", ProcessingJobStatus.STOPPED)  # only a stop request leads there


def test_the_spec_reads_the_request() -> None:
    spec = ProcessingJobSpec.from_request(REQUEST)
    assert (spec.image_uri, spec.entrypoint, spec.arguments, spec.instance_count) == (
        "modelbay/python", ("python3", "x.py"), (), 2)
    assert spec.max_runtime_in_seconds == DEFAULT_MAX_RUNTIME_S
    [given] = spec.inputs
    assert (given.name, given.local_path, given.is_sharded, given.is_gzipped) == (
        "in", "/opt/ml/processing/input", True, False)
    [output] = spec.outputs
    assert (output.local_path, output.s3_uri) == ("/opt/ml/processing/output", "s3://b/out")
