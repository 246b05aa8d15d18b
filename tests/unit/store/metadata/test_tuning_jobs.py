"""The tuning-job repository on every metadata backend: create, transitions, stop, delete, and the trials."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from modelbay.statuses import HyperParameterTuningJobStatus as Status
from modelbay.store.metadata import (
    MetadataStore,
    RecordExists,
    StatusConflict,
    TrialState,
    TuningJobNotFound,
    TuningJobRepository,
    TuningJobSpec,
)
from modelbay.store.metadata.lifecycle import IllegalTransition
from modelbay.store.metadata.tuning_jobs import training_resources
from tests.helpers import T0

DEFINITION: dict[str, Any] = {
    "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
    "RoleArn": "arn:aws:iam::000000000000:role/r", "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
    "StoppingCondition": {"MaxRuntimeInSeconds": 60}}
REQUEST: dict[str, Any] = {
    "HyperParameterTuningJobConfig": {
        "Strategy": "Random", "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
        "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1"}]}},
    "TrainingJobDefinition": DEFINITION,
    "WarmStartConfig": {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "p"}],
                        "WarmStartType": "IdenticalDataAndAlgorithm"}}


@pytest.fixture
def jobs(store: MetadataStore) -> TuningJobRepository:
    return store.tuning_jobs


def _create(jobs: TuningJobRepository, name: str) -> None:
    jobs.create(name, f"arn:aws:sagemaker:us-east-1:000000000000:hyper-parameter-tuning-job/{name.lower()}", REQUEST)


def test_create_then_get_with_its_spec(jobs: TuningJobRepository) -> None:
    _create(jobs, "Tune-1")
    job = jobs.get("Tune-1")
    assert job is not None
    assert (job.status, job.request, job.stop_requested, job.end_time, job.creation_time) == (
        "InProgress", REQUEST, False, None, T0 + timedelta(seconds=1))
    assert (job.spec.strategy, job.spec.max_jobs, job.spec.max_parallel, job.spec.early_stopping) == (
        "Random", 4, 2, False)
    assert job.spec.definitions == (DEFINITION,) and job.spec.parents == ("p",)
    assert (job.spec.objective().metric_name, job.spec.objective().maximize) == ("loss", False)
    with pytest.raises(RecordExists):
        _create(jobs, "TUNE-1")


def test_a_definitions_objective_is_used_without_the_jobs() -> None:
    config = {key: value for key, value in REQUEST["HyperParameterTuningJobConfig"].items()
              if key != "HyperParameterTuningJobObjective"}
    definitions = [DEFINITION | {"DefinitionName": name, "TuningObjective": {"Type": "Maximize", "MetricName": name}}
                   for name in ("a", "b")]
    spec = TuningJobSpec.from_request({"HyperParameterTuningJobConfig": config, "TrainingJobDefinitions": definitions})
    assert spec.objective("b").metric_name == "b" and spec.objective("b").maximize
    assert spec.definition("a")["DefinitionName"] == "a"


def test_completing_sets_the_end_time_and_only_delete_follows(jobs: TuningJobRepository) -> None:
    _create(jobs, "t")
    done = jobs.advance("t", Status.COMPLETED, completion_details={"NumberOfTrainingJobsObjectiveNotImproving": 2})
    assert (done.status, done.end_time, done.completion_details) == (
        "Completed", T0 + timedelta(seconds=2), {"NumberOfTrainingJobsObjectiveNotImproving": 2})
    with pytest.raises(IllegalTransition):
        jobs.advance("t", Status.IN_PROGRESS)
    with pytest.raises(StatusConflict):
        jobs.request_stop("t")
    assert jobs.names_to_reconcile() == []
    assert jobs.request_delete("t").status == "Deleting"
    assert jobs.names_to_reconcile() == ["t"]
    jobs.delete("t")
    assert jobs.get("t") is None


def test_stop_wins_over_the_controller(jobs: TuningJobRepository) -> None:
    _create(jobs, "s")
    assert jobs.request_stop("s").status == "Stopping"
    assert jobs.advance("s", Status.COMPLETED).status == "Stopping"  # overtaken: dropped
    stopped = jobs.advance("s", Status.STOPPED)
    assert (stopped.status, stopped.stop_requested) == ("Stopped", True) and stopped.end_time is not None
    with pytest.raises(TuningJobNotFound):
        jobs.request_stop("nope")


def test_a_running_job_cannot_be_deleted(jobs: TuningJobRepository) -> None:
    _create(jobs, "r")
    with pytest.raises(StatusConflict):
        jobs.request_delete("r")


def test_trials_are_recorded_once_per_number(jobs: TuningJobRepository) -> None:
    _create(jobs, "t")
    jobs.add_trial("t", 1, "t-001-aaaaaaaa", None, {"x": "0.5"})
    jobs.add_trial("t", 2, "t-002-bbbbbbbb", None, {"x": "0.1"})
    with pytest.raises(RecordExists):
        jobs.add_trial("t", 1, "t-001-cccccccc", None, {"x": "0.9"})
    with pytest.raises(RecordExists):
        jobs.add_trial("t", 3, "t-001-aaaaaaaa", None, {"x": "0.9"})
    jobs.record_trial("t", 1, intermediate=[(1, 0.9), (2, 0.7)])
    done = jobs.record_trial("t", 1, state=TrialState.STOPPED, objective=0.7, early_stopped=True)
    assert (done.state, done.objective, done.intermediate, done.early_stopped, done.parameters) == (
        "stopped", 0.7, ((1, 0.9), (2, 0.7)), True, {"x": "0.5"})
    assert [t.number for t in jobs.trials("t")] == [1, 2]
    assert [t.training_job_name for t in jobs.running_trials()] == ["t-002-bbbbbbbb"]
    trial = jobs.trial_of("t-002-bbbbbbbb")
    assert trial is not None and trial.tuning_job == "t"
    jobs.advance("t", Status.COMPLETED)
    jobs.request_delete("t")
    jobs.delete("t")
    assert jobs.trials("t") == [] and jobs.trial_of("t-002-bbbbbbbb") is None


def test_a_trial_of_an_unknown_job_is_refused(jobs: TuningJobRepository) -> None:
    with pytest.raises(TuningJobNotFound):
        jobs.add_trial("nope", 1, "nope-001-aaaaaaaa", None, {})


def test_training_resources_are_the_definitions_or_its_first_tuning_instance_config() -> None:
    assert training_resources(DEFINITION) == DEFINITION["ResourceConfig"]
    sdk = {"HyperParameterTuningResourceConfig": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1,
                                                  "VolumeSizeInGB": 30}}
    assert training_resources(sdk) == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
    choices = {"HyperParameterTuningResourceConfig": {"AllocationStrategy": "Prioritized", "InstanceConfigs": [
        {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 5},
        {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5}]}}
    assert training_resources(choices) == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 5}
    assert training_resources({}) is None
