"""The tuning controller over the real training controller and ProcessRuntime, running a tiny training program
that logs `objective=<value>` each epoch."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelbay.config import Settings
from modelbay.controllers.images import Images
from modelbay.controllers.training_jobs.controller import TrainingController
from modelbay.controllers.tuning_jobs.capacity import Capacity, Demand
from modelbay.controllers.tuning_jobs.controller import TuningController, no_success_reason, out_of_time_reason
from modelbay.controllers.tuning_jobs.trials import trial_name
from modelbay.platform import Platform, open_platform
from modelbay.runtime.process import ProcessRuntime
from modelbay.store.metadata import TrainingJob, TuningJob
from modelbay.store.metadata.records import utc_now
from tests.helpers import wait_until

GIB = 1024**3
BIG_MACHINE = Capacity(cpus=64, memory_bytes=256 * GIB)
# The objective is (x - 0.3)^2 at the last epoch, worse before; fail_above makes trials with a larger x fail; with
# a `counter` file, the 4th trial to run is a slow and bad one.
PROGRAM = """#!/bin/sh
exec python3 - <<'EOF'
import json, os, sys, time
hp = json.load(open(os.path.join(os.environ["SM_INPUT_CONFIG_DIR"], "hyperparameters.json")))
x, epoch_s = float(hp["x"]), float(hp.get("epoch_s", "0.2"))
if "counter" in hp:
    runs = int(open(hp["counter"]).read()) + 1 if os.path.exists(hp["counter"]) else 1
    open(hp["counter"], "w").write(str(runs))
    x, epoch_s = (50.0, 30.0) if runs == 4 else (x, epoch_s)
if x > float(hp.get("fail_above", "2")):
    sys.exit("bad x")
for epoch in range(1, 4):
    print(f"objective={(x - 0.3) ** 2 + 0.1 / epoch}", flush=True)
    time.sleep(epoch_s)
EOF
"""


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    platform = open_platform(Settings(data_dir=tmp_path / "data"))
    platform.objects.create_bucket("out", "us-east-1")
    return platform


@pytest.fixture
def training(platform: Platform, runtime: ProcessRuntime, images: Images) -> TrainingController:
    return TrainingController(platform, runtime, images, stop_grace_s=1)


@pytest.fixture
def image(tmp_path: Path) -> str:
    directory = tmp_path / "image"
    directory.mkdir()
    (directory / "train").write_text(PROGRAM)
    (directory / "train").chmod(0o755)
    return str(directory)


def create(platform: Platform, name: str, image: str, *, jobs: int = 4, parallel: int = 2,
           static: dict[str, str] | None = None, **config: Any) -> None:
    definition = {
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "objective", "Regex": "objective=([0-9.e-]+)"}]},
        "RoleArn": "arn:aws:iam::000000000000:role/r", "OutputDataConfig": {"S3OutputPath": "s3://out/tuning"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60}, "StaticHyperParameters": static or {}}
    request = {"HyperParameterTuningJobConfig": {
        "Strategy": "Random", "RandomSeed": 7, "TrainingJobEarlyStoppingType": "Off",
        "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "objective"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs, "MaxParallelTrainingJobs": parallel},
        "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1"}]}}
        | config, "TrainingJobDefinition": definition}
    platform.metadata.tuning_jobs.create(name, f"arn:aws:sagemaker:us-east-1:000000000000:hyper-parameter-tuning-job/"
                                               f"{name}", request)


def drive(tuning: TuningController, training: TrainingController, name: str, until: tuple[str, ...],
          timeout_s: float = 90) -> TuningJob:
    """Run passes of both controllers until the tuning job's status is one of `until`."""
    def settled() -> TuningJob | None:
        for job in training.names():
            training.reconcile(job)
        tuning.reconcile(name)
        found = tuning.jobs.get(name)
        return found if found is not None and found.status in until else None
    found = wait_until(settled, timeout_s, f"{name} to reach {until}")
    assert isinstance(found, TuningJob)
    return found


def trial_jobs(platform: Platform, name: str) -> list[TrainingJob]:
    """The training jobs of the tuning job's trials, in trial order."""
    trials = platform.metadata.tuning_jobs.trials(name)
    found = [platform.metadata.training_jobs.get(trial.training_job_name) for trial in trials]
    assert None not in found
    return [job for job in found if job is not None]


def most_at_once(platform: Platform, name: str) -> int:
    """The most trials of the job whose training ran at the same time (from their start and end times; a held trial
    starts once released)."""
    spans: list[tuple[datetime, datetime]] = []
    for trial in platform.metadata.tuning_jobs.trials(name):
        job = platform.metadata.training_jobs.get(trial.training_job_name)
        assert job is not None and job.training_start_time is not None and job.training_end_time is not None
        spans.append((job.training_start_time, job.training_end_time))
    return max(sum(start <= moment < end for start, end in spans) for moment, _ in spans)


def test_a_random_job_completes_with_its_best_trial_and_parallel_trials(
        platform: Platform, training: TrainingController, image: str) -> None:
    create(platform, "rand", image)
    tuning = TuningController(platform, BIG_MACHINE)
    job = drive(tuning, training, "rand", ("Completed", "Failed"))
    assert (job.status, job.end_time is not None) == ("Completed", True)
    trials = platform.metadata.tuning_jobs.trials("rand")
    assert [t.number for t in trials] == [1, 2, 3, 4]
    assert [t.training_job_name for t in trials] == [trial_name(job, n) for n in (1, 2, 3, 4)]
    assert all(t.state == "completed" and len(t.intermediate) == 3 for t in trials)
    for trial in trials:
        x = float(trial.parameters["x"])
        assert trial.objective == pytest.approx((x - 0.3) ** 2 + 0.1 / 3)
        assert [step for step, _ in trial.intermediate] == [1, 2, 3]
    best = job.spec.best(trials)
    assert best is not None and best.objective == min(t.objective or 1 for t in trials)
    described = platform.metadata.training_jobs.get(trials[0].training_job_name)
    assert described is not None and described.request["TuningJobArn"] == job.arn
    assert described.spec.hyper_parameters == trials[0].parameters
    assert most_at_once(platform, "rand") == 2  # MaxParallelTrainingJobs, and no more


def test_trials_wait_for_a_machine_too_small_for_two(platform: Platform, training: TrainingController,
                                                      image: str) -> None:
    create(platform, "small", image, jobs=3, parallel=3)
    job = drive(TuningController(platform, Capacity(cpus=2, memory_bytes=16 * GIB)), training, "small",
                ("Completed", "Failed"))
    assert job.status == "Completed" and len(platform.metadata.tuning_jobs.trials("small")) == 3
    assert most_at_once(platform, "small") == 1  # an ml.m5.large takes both vCPUs


def test_a_trial_the_machine_cannot_hold_yet_is_held_saying_so_and_released_when_the_first_ends(
        platform: Platform, training: TrainingController, image: str) -> None:
    create(platform, "one", image, jobs=2, parallel=2)
    tuning = TuningController(platform, Capacity(cpus=2, memory_bytes=8 * GIB))  # one ml.m5.large
    tuning.reconcile("one")
    first, second = trial_jobs(platform, "one")
    assert (first.held, second.held) == (False, True)
    assert (second.status, second.secondary_status, second.transitions[-1].message) == (
        "InProgress", "Starting",
        "Waiting for capacity on this machine: 2 of 2 vCPUs and 8.0 of 8.0 GiB of memory in use by other trials")
    for _ in range(3):
        training.reconcile(second.name)
    assert training.runtime.list({"training-job": second.name}) == []
    job = drive(tuning, training, "one", ("Completed", "Failed"))
    first, second = trial_jobs(platform, "one")
    assert job.status == "Completed"
    assert (first.status, second.status, second.held) == ("Completed", "Completed", False)
    assert first.training_end_time is not None and second.training_start_time is not None
    assert second.training_start_time >= first.training_end_time  # released once the first had ended


def test_stopping_a_job_stops_its_held_trials_too(platform: Platform, training: TrainingController,
                                                  image: str) -> None:
    create(platform, "halt", image, static={"epoch_s": "30"})
    tuning = TuningController(platform, Capacity(cpus=2, memory_bytes=8 * GIB))
    tuning.reconcile("halt")
    assert [job.held for job in trial_jobs(platform, "halt")] == [False, True]
    platform.metadata.tuning_jobs.request_stop("halt")
    job = drive(tuning, training, "halt", ("Stopped",))
    assert job.end_time is not None and {t.state for t in platform.metadata.tuning_jobs.trials("halt")} == {"stopped"}
    assert trial_jobs(platform, "halt")[1].training_start_time is None  # the held trial never ran


def test_a_stopped_job_stops_its_trials(platform: Platform, training: TrainingController, image: str) -> None:
    create(platform, "stop", image, static={"epoch_s": "30"})
    tuning = TuningController(platform, BIG_MACHINE)
    def trials_run() -> bool:
        drive(tuning, training, "stop", ("InProgress",))
        return len(training.runtime.list({})) == 2
    wait_until(trials_run, 30, "both trials to run")
    platform.metadata.tuning_jobs.request_stop("stop")
    job = drive(tuning, training, "stop", ("Stopped",))
    trials = platform.metadata.tuning_jobs.trials("stop")
    assert job.end_time is not None and len(trials) == 2
    assert {t.state for t in trials} == {"stopped"}


def test_a_restarted_controller_finishes_without_duplicate_trials(platform: Platform, training: TrainingController,
                                                                  image: str) -> None:
    create(platform, "again", image, jobs=3, parallel=1)
    first = TuningController(platform, BIG_MACHINE)
    first.reconcile("again")
    job = platform.metadata.tuning_jobs.get("again")
    assert job is not None
    # A server killed after recording trial 2 but before creating its training job.
    platform.metadata.tuning_jobs.add_trial("again", 2, trial_name(job, 2), None, {"x": "0.25"})
    job = drive(TuningController(platform, BIG_MACHINE), training, "again", ("Completed", "Failed"))
    trials = platform.metadata.tuning_jobs.trials("again")
    assert job.status == "Completed" and [t.number for t in trials] == [1, 2, 3]
    assert trials[1].parameters == {"x": "0.25"} and trials[1].state == "completed"
    names = {j.name for j in platform.metadata.training_jobs.list(limit=100).items}
    assert names == {t.training_job_name for t in trials}


def test_early_stopping_stops_a_bad_trial_by_the_median_rule(platform: Platform, training: TrainingController,
                                                              image: str, tmp_path: Path) -> None:
    create(platform, "early", image, jobs=4, parallel=1, static={"counter": str(tmp_path / "runs"), "fail_above": "99"},
           TrainingJobEarlyStoppingType="Auto")
    job = drive(TuningController(platform, BIG_MACHINE), training, "early", ("Completed", "Failed"))
    trials = platform.metadata.tuning_jobs.trials("early")
    assert job.status == "Completed" and [t.early_stopped for t in trials] == [False, False, False, True]
    bad = trials[3]
    assert bad.state == "stopped" and bad.intermediate[0][1] > 2000  # stopped after its first, bad, epoch
    training_job = platform.metadata.training_jobs.get(bad.training_job_name)
    assert training_job is not None and training_job.status == "Stopped"


def test_max_runtime_stops_the_running_trials_and_ends_the_job(platform: Platform, training: TrainingController,
                                                               image: str) -> None:
    create(platform, "late", image, static={"epoch_s": "30"}, ResourceLimits={
        "MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2, "MaxRuntimeInSeconds": 120})
    tuning = TuningController(platform, BIG_MACHINE)
    tuning.reconcile("late")
    assert len(platform.metadata.tuning_jobs.trials("late")) == 2
    tuning.clock = lambda: utc_now() + timedelta(seconds=121)
    job = drive(tuning, training, "late", ("Completed", "Failed"))
    assert (job.status, job.failure_reason) == ("Failed", out_of_time_reason(120))
    trials = platform.metadata.tuning_jobs.trials("late")
    assert len(trials) == 2 and {t.state for t in trials} == {"stopped"}


def test_a_job_whose_trials_all_fail_fails(platform: Platform, training: TrainingController, image: str) -> None:
    create(platform, "bad", image, jobs=2, static={"fail_above": "-1"})
    job = drive(TuningController(platform, BIG_MACHINE), training, "bad", ("Completed", "Failed"))
    assert (job.status, job.failure_reason) == ("Failed", no_success_reason(2))


def test_a_deleted_job_is_removed_with_its_trials_but_not_their_training_jobs(
        platform: Platform, training: TrainingController, image: str) -> None:
    create(platform, "gone", image, jobs=1, parallel=1)
    tuning = TuningController(platform, BIG_MACHINE)
    drive(tuning, training, "gone", ("Completed",))
    platform.metadata.tuning_jobs.request_delete("gone")
    assert tuning.names() == ["gone"]
    tuning.reconcile("gone")
    assert platform.metadata.tuning_jobs.get("gone") is None and tuning.names() == []
    assert len(platform.metadata.training_jobs.list().items) == 1


def test_capacity_always_lets_one_trial_run() -> None:
    machine = Capacity(cpus=2, memory_bytes=4 * GIB)
    huge = machine.demand("ml.m5.24xlarge", 1)
    assert huge == Demand(2, 4 * GIB)  # at most the machine's
    assert machine.fits([], huge) and not machine.fits([huge], machine.demand("ml.t3.medium", 1))
