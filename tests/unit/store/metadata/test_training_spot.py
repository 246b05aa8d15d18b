"""Managed spot training's state in the training-job repository, on every metadata backend: when instances are to be
interrupted, when capacity returns, and the time a job's instances ran."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelbay.statuses import SecondaryStatus, TrainingJobStatus
from modelbay.store.metadata import MetadataStore, StatusConflict, TrainingJobNotFound, TrainingJobRepository
from tests.helpers import T0
from tests.unit.store.metadata.test_training_jobs import REQUEST

SPOT = REQUEST | {"EnableManagedSpotTraining": True,
                  "StoppingCondition": {"MaxRuntimeInSeconds": 60, "MaxWaitTimeInSeconds": 120}}
Status, Secondary = TrainingJobStatus, SecondaryStatus


@pytest.fixture
def jobs(store: MetadataStore) -> TrainingJobRepository:
    store.training_jobs.create("spot", "arn:spot", SPOT, Secondary.STARTING, "Starting the training job")
    return store.training_jobs


def test_the_earliest_interruption_holds_and_entering_interrupted_clears_it(jobs: TrainingJobRepository) -> None:
    later, earlier = T0 + timedelta(hours=2), T0 + timedelta(hours=1)
    jobs.advance("spot", Status.IN_PROGRESS, secondary=Secondary.TRAINING, message="m", interrupt_at=later)
    assert jobs.advance("spot", Status.IN_PROGRESS, secondary=Secondary.TRAINING, message="m",
                        interrupt_at=earlier).spot_interrupt_at == earlier
    asked = jobs.request_interruption("spot")  # now: the clock's fourth reading
    assert asked.spot_interrupt_at == T0 + timedelta(seconds=4)
    back = T0 + timedelta(minutes=5)
    job = jobs.advance("spot", Status.IN_PROGRESS, secondary=Secondary.INTERRUPTED, message="m", capacity_at=back)
    assert (job.spot_interrupt_at, job.spot_capacity_at, job.interruptions) == (None, back, 1)
    stored = jobs.get("spot")
    assert stored is not None and (stored.spot_interrupt_at, stored.spot_capacity_at) == (None, back)


def test_only_a_running_job_not_interrupted_already_can_be_interrupted(jobs: TrainingJobRepository) -> None:
    with pytest.raises(TrainingJobNotFound):
        jobs.request_interruption("nothing")
    jobs.advance("spot", Status.IN_PROGRESS, secondary=Secondary.INTERRUPTED, message="m")
    with pytest.raises(StatusConflict) as interrupted:
        jobs.request_interruption("spot")
    assert interrupted.value.status == "Interrupted"
    jobs.advance("spot", Status.STOPPED, secondary=Secondary.STOPPED, message="m")
    with pytest.raises(StatusConflict):
        jobs.request_interruption("spot")


def test_running_seconds_count_the_running_phases_only(jobs: TrainingJobRepository) -> None:
    """Each advance is one second on the clock: Downloading 1 s, Training 1 s, Interrupted and Starting 2 s,
    Training 1 s, then Completed."""
    for secondary in (Secondary.DOWNLOADING, Secondary.TRAINING, Secondary.INTERRUPTED, Secondary.STARTING,
                      Secondary.TRAINING):
        jobs.advance("spot", Status.IN_PROGRESS, secondary=secondary, message="m")
    job = jobs.advance("spot", Status.COMPLETED, secondary=Secondary.COMPLETED, message="m")
    assert job.is_spot and job.running_seconds(T0 + timedelta(days=1)) == 3.0
