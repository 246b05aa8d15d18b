"""Experiments, trials and trial components on every metadata backend: what each keeps, the associations, what
SageMaker refuses to delete, metric summaries computed in SQL, and a job's component following its job."""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Any

import pytest

from modelbay.statuses import SecondaryStatus, TrainingJobStatus
from modelbay.store.metadata import ListFilter, MetadataStore, MetricDatum, RecordExists
from modelbay.store.metadata.experiments import ExperimentNotFound, HasChildren, TrialFilter, TrialNotFound
from modelbay.store.metadata.job_trial_components import TRAINING, MetricPoint
from modelbay.store.metadata.search_index import Condition, Expression, Query, Sort
from modelbay.store.metadata.trial_components import (
    NotAssociated,
    TrialComponentChanges,
    TrialComponentFilter,
    TrialComponentNotFound,
)
from tests.helpers import T0

USER: dict[str, Any] = {"IamIdentity": {"Arn": "arn:aws:iam::000000000000:user/me"}}
TRAINING_REQUEST: dict[str, Any] = {
    "RoleArn": "arn:aws:iam::000000000000:role/r", "HyperParameters": {"epochs": "3", "kind": "tree"},
    "AlgorithmSpecification": {"TrainingImage": "modelbay/sklearn", "TrainingInputMode": "File"},
    "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train"}}}],
    "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
    "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
    "ExperimentConfig": {"TrialComponentDisplayName": "fit"}}


def _experiment_with_trial(store: MetadataStore, experiment: str = "exp", trial: str = "trial") -> None:
    store.experiments.create(experiment, f"arn:{experiment}", USER)
    store.experiments.create_trial(trial, f"arn:{trial}", experiment, USER)


def _component(store: MetadataStore, name: str, **changes: Any) -> None:
    store.trial_components.create(name, f"arn:{name}", USER, TrialComponentChanges(**changes))


def test_experiments_are_created_updated_listed_and_deleted(store: MetadataStore) -> None:
    created = store.experiments.create("exp", "arn:exp", USER, display_name="Exp", description="first")
    assert (created.name, created.display_name, created.description, created.created_by) == ("exp", "Exp", "first",
                                                                                              USER)
    with pytest.raises(RecordExists):
        store.experiments.create("exp", "arn:other", USER)
    updated = store.experiments.update("exp", {}, description="second")
    assert (updated.display_name, updated.description, updated.last_modified_by) == ("Exp", "second", {})
    assert updated.last_modified_time > created.last_modified_time
    store.experiments.create("late", "arn:late", USER)
    assert [found.name for found in store.experiments.list(ListFilter(created_after=created.creation_time)).items] \
        == ["late"]
    store.experiments.delete("late")
    assert store.experiments.get("late") is None
    with pytest.raises(ExperimentNotFound):
        store.experiments.delete("late")


def test_an_experiment_with_trials_and_a_trial_holding_components_are_kept(store: MetadataStore) -> None:
    _experiment_with_trial(store)
    _component(store, "tc")
    store.trial_components.associate("tc", "trial")
    with pytest.raises(HasChildren):
        store.experiments.delete("exp")
    with pytest.raises(HasChildren):
        store.experiments.delete_trial("trial")
    with pytest.raises(HasChildren):
        store.trial_components.delete("tc")
    store.trial_components.disassociate("tc", "trial")
    store.trial_components.delete("tc")
    store.experiments.delete_trial("trial")
    store.experiments.delete("exp")
    assert store.experiments.get("exp") is None and store.trial_components.get("tc") is None


def test_associations_are_many_to_many_and_filter_the_listings(store: MetadataStore) -> None:
    _experiment_with_trial(store, "exp", "t1")
    store.experiments.create_trial("t2", "arn:t2", "exp", USER)
    _experiment_with_trial(store, "other", "t3")
    for name in ("a", "b", "c"):
        _component(store, name)
    for component, trial in (("a", "t1"), ("a", "t2"), ("b", "t2"), ("c", "t3")):
        store.trial_components.associate(component, trial)
    with pytest.raises(RecordExists):
        store.trial_components.associate("a", "t1")
    held = store.trial_components.get("a")
    assert held is not None and held.parents == (("t1", "exp"), ("t2", "exp"))
    trial = store.experiments.get_trial("t2")
    assert trial is not None and trial.components == (("a", "arn:a"), ("b", "arn:b"))

    def components(**filters: Any) -> list[str]:
        page = store.trial_components.list(TrialComponentFilter(**filters), "Name", ascending=True)
        return [found.name for found in page.items]

    assert components(experiment="exp") == ["a", "b"]
    assert components(trial="t3") == ["c"]
    trials = store.experiments.list_trials(TrialFilter(trial_component="a"), "Name", ascending=True)
    assert [found.name for found in trials.items] == ["t1", "t2"]
    assert [found.name for found in store.experiments.list_trials(TrialFilter(experiment="other")).items] == ["t3"]
    with pytest.raises(NotAssociated):
        store.trial_components.disassociate("c", "t1")
    with pytest.raises(TrialNotFound):
        store.trial_components.associate("a", "nope")
    with pytest.raises(TrialComponentNotFound):
        store.trial_components.associate("nope", "t1")
    with pytest.raises(ExperimentNotFound):
        store.experiments.create_trial("t9", "arn:t9", "nope", USER)


def test_updates_merge_parameters_and_artifacts_and_remove_what_is_named(store: MetadataStore) -> None:
    _component(store, "tc", status={"PrimaryStatus": "InProgress", "Message": "going"}, start_time=T0,
               parameters={"lr": {"NumberValue": 0.1}, "kind": {"StringValue": "tree"}},
               input_artifacts={"data": {"Value": "s3://b/d"}})
    updated = store.trial_components.update("tc", USER, TrialComponentChanges(
        status={"PrimaryStatus": "Completed"}, end_time=T0 + timedelta(minutes=1),
        parameters={"depth": {"NumberValue": 3.0}}, parameters_to_remove=("kind",),
        output_artifacts={"model": {"Value": "s3://b/m", "MediaType": "application/x-tar"}}))
    assert updated.status == {"PrimaryStatus": "Completed"}
    assert (updated.start_time, updated.end_time) == (T0, T0 + timedelta(minutes=1))
    assert updated.parameters == {"lr": {"NumberValue": 0.1}, "depth": {"NumberValue": 3.0}}
    assert updated.input_artifacts == {"data": {"Value": "s3://b/d"}}
    assert updated.output_artifacts == {"model": {"Value": "s3://b/m", "MediaType": "application/x-tar"}}


def test_metric_summaries_are_computed_over_the_logged_values(store: MetadataStore) -> None:
    _component(store, "tc")
    values = [3.0, 1.0, 4.0, 1.5]
    # logged out of order: Last is the latest by timestamp, not the last logged
    times = [T0 + timedelta(seconds=s) for s in (10, 20, 40, 30)]
    store.trial_components.put_metrics("tc", [MetricPoint("loss", v, t, step) for step, (v, t)
                                              in enumerate(zip(values, times, strict=True))])
    store.trial_components.put_metrics("tc", [MetricPoint("acc", 0.5, T0)])
    found = store.trial_components.get("tc")
    assert found is not None
    acc, loss = found.metrics
    assert (acc.name, acc.count, acc.last, acc.std_dev) == ("acc", 1, 0.5, 0.0)
    assert (loss.name, loss.minimum, loss.maximum, loss.count, loss.last, loss.timestamp) == (
        "loss", 1.0, 4.0, 4, 4.0, times[2])
    assert loss.average == pytest.approx(statistics.fmean(values))
    assert loss.std_dev == pytest.approx(statistics.stdev(values))
    assert [p.value for p in store.trial_components.metric_values("arn:tc", "loss") or ()] == [3.0, 1.0, 1.5, 4.0]
    assert store.trial_components.metric_values("arn:nope", "loss") is None
    with pytest.raises(TrialComponentNotFound):
        store.trial_components.put_metrics("nope", [MetricPoint("loss", 1.0, T0)])


def test_a_jobs_component_follows_its_job(store: MetadataStore) -> None:
    job = store.training_jobs.create("job", "arn:job", TRAINING_REQUEST, SecondaryStatus.STARTING, "Starting")
    name = TRAINING.component_name("job")
    source = {"SourceArn": "arn:job", "SourceType": "SageMakerTrainingJob"}
    _component(store, "run")
    created = store.trial_components.create(name, f"arn:{name}", USER, source=source, run_name="run")
    assert created.creation_time == job.creation_time
    assert created.status == {"PrimaryStatus": "InProgress", "Message": "Starting"}
    assert created.display_name == "fit"
    assert created.parameters == {
        "epochs": {"NumberValue": 3.0}, "kind": {"StringValue": "tree"},
        "SageMaker.InstanceType": {"StringValue": "ml.m5.large"}, "SageMaker.InstanceCount": {"NumberValue": 1.0},
        "SageMaker.VolumeSizeInGB": {"NumberValue": 5.0}, "SageMaker.ImageUri": {"StringValue": "modelbay/sklearn"}}
    assert created.input_artifacts == {"SageMaker.ImageUri": {"Value": "modelbay/sklearn"},
                                       "train": {"Value": "s3://bucket/train"}}
    store.training_jobs.advance("job", TrainingJobStatus.IN_PROGRESS, secondary=SecondaryStatus.TRAINING,
                                message="Training")
    store.training_jobs.advance("job", TrainingJobStatus.COMPLETED, secondary=SecondaryStatus.COMPLETED,
                                message="done", model_artifacts="s3://bucket/out/job/output/model.tar.gz",
                                final_metrics=[MetricDatum("loss", 0.25, T0)])
    found = store.trial_components.get_by_arn(f"arn:{name}")
    assert found is not None
    assert found.status == {"PrimaryStatus": "Completed", "Message": "done"}
    assert found.start_time is not None and found.end_time is not None
    assert found.output_artifacts == {"SageMaker.ModelArtifact": {"Value": "s3://bucket/out/job/output/model.tar.gz"}}
    assert [(m.name, m.last, m.count) for m in found.metrics] == [("loss", 0.25, 1)]
    run = store.trial_components.get("run")
    assert run is not None and run.sources == (("arn:job", "SageMakerTrainingJob"),)
    assert [found.name for found in store.trial_components.list(TrialComponentFilter(source_arn="arn:job")).items] \
        == [name]


def _found(store: MetadataStore, resource: str, *conditions: Condition) -> list[str]:
    query = Query(resource, Expression("And", conditions) if conditions else None, Sort(), name_path="")
    return sorted(hit.arn for hit in store.search.search(query, limit=100).items)


def test_search_finds_components_by_metric_parent_and_job_status(store: MetadataStore) -> None:
    _experiment_with_trial(store)
    _component(store, "tc", parameters={"lr": {"NumberValue": 0.1}})
    store.trial_components.put_metrics("tc", [MetricPoint("loss", v, T0 + timedelta(seconds=i))
                                              for i, v in enumerate((3.0, 2.0))])
    assert _found(store, "ExperimentTrialComponent", Condition("Metrics.loss.Last", "Equals", 2.0)) == ["arn:tc"]
    assert _found(store, "ExperimentTrialComponent", Condition("Parents.TrialName", "Equals", "trial")) == []
    store.trial_components.associate("tc", "trial")
    assert _found(store, "ExperimentTrialComponent", Condition("Parents.TrialName", "Equals", "trial"),
                  Condition("Parameters.lr.NumberValue", "LessThan", 0.5)) == ["arn:tc"]
    assert _found(store, "ExperimentTrial", Condition("TrialComponentSummaries.TrialComponentName", "Equals",
                                                      "tc")) == ["arn:trial"]
    store.trial_components.disassociate("tc", "trial")
    assert _found(store, "ExperimentTrialComponent", Condition("Parents.TrialName", "Exists")) == []
    assert _found(store, "ExperimentTrial", Condition("TrialComponentSummaries.TrialComponentName", "Exists")) == []
    store.training_jobs.create("job", "arn:job", TRAINING_REQUEST, SecondaryStatus.STARTING, "Starting")
    store.trial_components.create("job-aws-training-job", "arn:job-tc", USER,
                                  source={"SourceArn": "arn:job", "SourceType": "SageMakerTrainingJob"})
    store.training_jobs.advance("job", TrainingJobStatus.STOPPING, secondary=SecondaryStatus.STOPPING,
                                message="Stopping")
    assert _found(store, "ExperimentTrialComponent", Condition("Status.PrimaryStatus", "Equals", "Stopping")) == [
        "arn:job-tc"]
    store.trial_components.delete("tc")
    store.experiments.delete_trial("trial")
    assert _found(store, "ExperimentTrial") == []
    assert _found(store, "Experiment") == ["arn:exp"]
