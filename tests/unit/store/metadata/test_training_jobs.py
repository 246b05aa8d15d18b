"""The training-job repository on every metadata backend: create, get, list, status transitions, the spec."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelbay.statuses import SecondaryStatus, TrainingJobStatus
from modelbay.store.metadata import (
    MetadataStore,
    MetricDatum,
    RecordExists,
    SecondaryStatusTransition,
    StatusConflict,
    TrainingJobFilter,
    TrainingJobNotFound,
    TrainingJobRepository,
)
from modelbay.store.metadata.lifecycle import IllegalTransition
from modelbay.store.metadata.paging import InvalidToken
from modelbay.store.metadata.training_jobs import LIFECYCLE, Channel, Checkpoint, MetricDefinition, TrainingJobSpec
from tests.helpers import T0

# A request as the service stores it: validated, defaults filled in.
REQUEST = {"RoleArn": "arn:aws:iam::000000000000:role/r", "HyperParameters": {"epochs": "3"},
           "AlgorithmSpecification": {"TrainingImage": "modelbay/sklearn", "TrainingInputMode": "File"},
           "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
           "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
           "StoppingCondition": {"MaxRuntimeInSeconds": 86400}}
Status, Secondary = TrainingJobStatus, SecondaryStatus


@pytest.fixture
def jobs(store: MetadataStore) -> TrainingJobRepository:
    return store.training_jobs


def _create(jobs: TrainingJobRepository, name: str) -> None:
    jobs.create(name, f"arn:aws:sagemaker:us-east-1:000000000000:training-job/{name.lower()}", REQUEST,
                Secondary.STARTING, "Starting the training job")


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
        with pytest.raises(RecordExists) as caught:
            _create(jobs, name)
        assert caught.value.arn == "arn:aws:sagemaker:us-east-1:000000000000:training-job/job-1"
    assert _names(jobs) == ["job-1"]


def test_advance_closes_the_current_transition_and_records_outcomes(jobs: TrainingJobRepository) -> None:
    _create(jobs, "j")  # t+1
    jobs.advance("j", Status.IN_PROGRESS, secondary=Secondary.TRAINING, message="Training in progress")  # t+2
    jobs.advance("j", Status.IN_PROGRESS, secondary=Secondary.TRAINING,
                 message="Training image download completed")  # t+3: same status
    metric = MetricDatum("loss", 0.25, T0)
    done = jobs.advance("j", Status.COMPLETED, secondary=Secondary.COMPLETED, message="Training job completed",
                        model_artifacts="s3://b/j/model.tar.gz", final_metrics=[metric], failure_reason=None)  # t+4
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
    jobs.advance("j", Status.FAILED, secondary=Secondary.FAILED, message="Training job failed",
                 failure_reason="AlgorithmError: boom")
    with pytest.raises(IllegalTransition) as caught:
        jobs.advance("j", Status.IN_PROGRESS, secondary=Secondary.TRAINING, message="again")
    assert caught.value.current == "Failed"
    job = jobs.get("j")
    assert job is not None and (job.failure_reason, job.status, job.training_start_time) == (
        "AlgorithmError: boom", "Failed", None)
    with pytest.raises(TrainingJobNotFound):
        jobs.advance("nope", Status.FAILED, secondary=Secondary.FAILED, message="x")


def test_request_stop_only_from_in_progress(jobs: TrainingJobRepository) -> None:
    _create(jobs, "j")
    stopping = jobs.request_stop("j")
    assert (stopping.status, stopping.secondary_status, stopping.stop_requested) == ("Stopping", "Stopping", True)
    assert [t.status for t in stopping.transitions] == ["Starting", "Stopping"]
    with pytest.raises(StatusConflict) as caught:
        jobs.request_stop("j")
    assert caught.value.status == "Stopping"
    with pytest.raises(TrainingJobNotFound):
        jobs.request_stop("nope")


def test_a_stopping_job_is_not_moved_back_in_progress(jobs: TrainingJobRepository) -> None:
    _create(jobs, "j")
    jobs.request_stop("j")
    late = jobs.advance("j", Status.IN_PROGRESS, secondary=Secondary.DOWNLOADING,
                        message="Downloading input data")  # a preparation ending late
    assert (late.status, late.secondary_status) == ("Stopping", "Stopping")
    assert jobs.advance("j", Status.STOPPED, secondary=Secondary.STOPPED,
                        message="Training job stopped").status == "Stopped"


def test_a_held_job_waits_saying_why_until_released(jobs: TrainingJobRepository) -> None:
    _create(jobs, "j")
    created = jobs.get("j")
    assert created is not None and not created.held
    held = jobs.hold("j", "Waiting for capacity: 2 of 2 vCPUs")
    assert (held.held, held.status, held.secondary_status) == (True, "InProgress", "Starting")
    assert [(t.status, t.message) for t in held.transitions] == [("Starting", "Waiting for capacity: 2 of 2 vCPUs")]
    assert jobs.hold("j", "Waiting for capacity: 4 of 4 vCPUs").transitions[-1].message == (
        "Waiting for capacity: 4 of 4 vCPUs")
    released = jobs.release("j", "Starting the training job")
    assert (released.held, released.transitions[-1].message) == (False, "Starting the training job")
    assert jobs.release("j", "again").transitions[-1].message == "Starting the training job"  # not held: as it is
    with pytest.raises(TrainingJobNotFound):
        jobs.hold("nope", "waiting")


def test_only_a_job_not_started_is_held_and_a_stopped_one_is_released_as_it_is(jobs: TrainingJobRepository) -> None:
    _create(jobs, "started")
    jobs.advance("started", Status.IN_PROGRESS, secondary=Secondary.DOWNLOADING, message="Downloading input data")
    assert not jobs.hold("started", "waiting").held
    jobs.create("stopped", "arn:stopped", REQUEST, Secondary.STARTING, "waiting", held=True)
    jobs.request_stop("stopped")
    released = jobs.release("stopped", "Starting the training job")
    assert (released.held, released.status, released.transitions[-1].message) == (False, "Stopping",
                                                                                   "Stopping the training job")


def test_list_filters(jobs: TrainingJobRepository) -> None:
    for name in ("alpha-1", "Beta-2", "alpha-3", "gamma-4"):  # created at t+1 .. t+4
        _create(jobs, name)
    jobs.advance("Beta-2", Status.COMPLETED, secondary=Secondary.COMPLETED, message="done")  # modified at t+5
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
    jobs.advance("c", Status.COMPLETED, secondary=Secondary.COMPLETED, message="done")
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


def test_the_lifecycle_ends_jobs_completed_failed_stopped_or_deleting() -> None:
    assert LIFECYCLE.ended == {Status.COMPLETED, Status.FAILED, Status.STOPPED, Status.DELETING}
    assert set(LIFECYCLE.moves) == set(TrainingJobStatus)


def test_a_legal_move_is_recorded_and_an_illegal_one_raises(jobs: TrainingJobRepository) -> None:
    _create(jobs, "j")
    stopped = jobs.advance("j", Status.STOPPED, secondary=Secondary.MAX_RUNTIME_EXCEEDED,
                           message="Training job exceeded the MaxRuntimeInSeconds")  # InProgress -> Stopped
    assert (stopped.status, stopped.secondary_status) == ("Stopped", "MaxRuntimeExceeded")
    for status in (Status.COMPLETED, Status.STOPPED):  # another move, or staying: an ended job records nothing
        with pytest.raises(IllegalTransition, match="j: Stopped cannot move to"):
            jobs.advance("j", status, secondary=Secondary.COMPLETED, message="late")
    assert jobs.get("j") == stopped


def test_a_stopping_job_may_still_end_as_it_would_have(jobs: TrainingJobRepository) -> None:
    for name, status in (("c", Status.COMPLETED), ("f", Status.FAILED)):
        _create(jobs, name)
        jobs.request_stop(name)
        assert jobs.advance(name, status, secondary=Secondary(status), message="raced").status == status


@pytest.mark.parametrize("status", [Status.COMPLETED, Status.FAILED, Status.STOPPED])
def test_stopping_an_ended_job_is_a_status_conflict(jobs: TrainingJobRepository, status: TrainingJobStatus) -> None:
    _create(jobs, "j")
    jobs.advance("j", status, secondary=Secondary(status), message="ended")
    with pytest.raises(StatusConflict) as caught:
        jobs.request_stop("j")
    assert caught.value.status == status
    job = jobs.get("j")
    assert job is not None and (job.status, job.stop_requested) == (status, False)


def test_names_to_reconcile_are_the_jobs_not_ended_oldest_first(jobs: TrainingJobRepository) -> None:
    for name in ("d", "c", "b", "a"):
        _create(jobs, name)
    jobs.request_stop("c")
    jobs.advance("b", Status.FAILED, secondary=Secondary.FAILED, message="Training job failed")
    assert jobs.names_to_reconcile() == ["d", "c", "a"]


def test_the_spec_is_read_from_the_request(jobs: TrainingJobRepository) -> None:
    s3 = {"S3DataType": "S3Prefix", "S3Uri": "s3://b/t/", "S3DataDistributionType": "ShardedByS3Key"}
    request = REQUEST | {
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "FastFile",
                                   "MetricDefinitions": [{"Name": "loss", "Regex": "loss=(.*)"}]},
        "ResourceConfig": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 2},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60, "MaxWaitTimeInSeconds": 120},
        "InputDataConfig": [
            {"ChannelName": "train", "InputMode": "File", "ContentType": "text/csv",
             "DataSource": {"S3DataSource": s3}},
            {"ChannelName": "fs", "DataSource": {"FileSystemDataSource": {"FileSystemId": "fs-1"}}}],
        "Environment": {"A": "1"}, "CheckpointConfig": {"S3Uri": "s3://b/ckpt"}}
    jobs.create("j", "arn:j", request, Secondary.STARTING, "Starting the training job")
    job = jobs.get("j")
    assert job is not None and job.request == request
    assert job.spec == TrainingJobSpec(
        training_image="img", training_input_mode="FastFile",
        metric_definitions=(MetricDefinition("loss", "loss=(.*)"),), instance_type="ml.c5.xlarge",
        instance_count=2, max_runtime_in_seconds=60, s3_output_path="s3://bucket/out",
        channels=(Channel("train", "File", "text/csv", "None", s3, "ShardedByS3Key"),
                  Channel("fs", "FastFile", None, "None", None, "FullyReplicated")),
        hyper_parameters={"epochs": "3"}, environment={"A": "1"},
        checkpoint=Checkpoint("s3://b/ckpt", "/opt/ml/checkpoints"), volume_size_gb=None, network_isolation=False)
    assert [channel.is_sharded for channel in job.spec.channels] == [True, False]
