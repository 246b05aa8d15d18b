"""Managed spot training: the interruption model, and the controller interrupting, waiting for capacity, resuming
from checkpoints and ending a job past MaxWaitTimeInSeconds (the real ProcessRuntime running tiny programs)."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from modelbay.config import Settings
from modelbay.controllers.images import Images
from modelbay.controllers.instance_logs import LOG_GROUP
from modelbay.controllers.training_jobs.controller import TrainingController
from modelbay.controllers.training_jobs.spot import SpotMarket
from modelbay.platform import Platform, open_platform
from modelbay.runtime.process import ProcessRuntime
from modelbay.statuses import SecondaryStatus
from tests.helpers import wait_until
from tests.unit.controllers.training_jobs.test_controller import create, image, run

NOW = datetime(2026, 12, 5, tzinfo=UTC)
SPOT = {"EnableManagedSpotTraining": True, "CheckpointConfig": {"S3Uri": "s3://out/ckpt/job"}}
# Counts epochs 1..3 in its checkpoint directory, from the last one checkpointed.
EPOCHS = ('e=$(cat "$SM_CHECKPOINT_DIR/epoch" 2>/dev/null || echo 0)\necho "resumed at epoch $e"\n'
          'while [ "$e" -lt 3 ]; do sleep 0.4; e=$((e+1)); echo "$e" > "$SM_CHECKPOINT_DIR/epoch"; echo "epoch $e"; '
          'done\necho done > "$SM_MODEL_DIR/model.txt"\n')


def spot_controller(tmp_path: Path, runtime: ProcessRuntime, images: Images, **settings: Any) -> TrainingController:
    platform = open_platform(Settings(data_dir=tmp_path / "data", **settings))
    platform.objects.create_bucket("out", "us-east-1")
    return TrainingController(platform, runtime, images, stop_grace_s=1)


def spot(max_wait_s: int = 600) -> dict[str, Any]:
    return SPOT | {"StoppingCondition": {"MaxRuntimeInSeconds": 60, "MaxWaitTimeInSeconds": max_wait_s}}


def test_no_rate_never_interrupts_and_a_seeded_rate_draws_the_same_times() -> None:
    assert SpotMarket(0.0, 60).next_interruption("job", 0, 1, NOW) is None
    market = SpotMarket(2.0, 60, seed=7)
    first = [market.next_interruption("job", run, 1, NOW) for run in range(3)]
    assert [market.next_interruption("job", run, 1, NOW) for run in range(3)] == first
    assert len(set(first)) == 3 and market.next_interruption("other", 0, 1, NOW) != first[0]
    assert market.capacity_back(NOW) == NOW + timedelta(seconds=60)


def test_the_market_is_the_servers_settings() -> None:
    settings = Settings.from_env({"MODELBAY_SPOT_INTERRUPTION_RATE": "0.5", "MODELBAY_SPOT_CAPACITY_WAIT_S": "2.5",
                                  "MODELBAY_SPOT_SEED": "7"})
    assert SpotMarket.from_settings(settings) == SpotMarket(0.5, 2.5, seed=7)
    assert SpotMarket.from_settings(Settings()) == SpotMarket(0.0, 60.0, seed=None)


def test_the_rate_is_per_instance_hour() -> None:
    market = SpotMarket(2.0, 60, seed=1)
    def mean_hours(count: int) -> float:
        times = [market.next_interruption("job", run, count, NOW) for run in range(4000)]
        return statistics.fmean((t - NOW).total_seconds() / 3600 for t in times if t is not None)
    assert abs(mean_hours(1) - 0.5) < 0.025  # 2 an instance-hour: every half hour on average
    assert abs(mean_hours(4) - 0.125) < 0.00625  # four instances are interrupted four times as often


def test_an_interrupted_job_waits_for_capacity_and_resumes_from_its_checkpoints_after_a_restart(
        tmp_path: Path, runtime: ProcessRuntime, images: Images) -> None:
    controller = spot_controller(tmp_path, runtime, images, spot_capacity_wait_s=0.5)
    platform, jobs = controller.platform, controller.jobs
    checkpoints = tmp_path / "data/training/spot/algo-1/checkpoints"
    create(platform, "spot", image(tmp_path, EPOCHS), **spot())
    for epoch in (1, 2):
        wait_until(lambda: _reconciled(controller, "spot") is SecondaryStatus.TRAINING, 20, "training")
        wait_until(lambda: _epoch(checkpoints) >= epoch, 20, f"epoch {epoch} checkpointed")  # noqa: B023
        jobs.request_interruption("spot")
        wait_until(lambda: _reconciled(controller, "spot") is SecondaryStatus.INTERRUPTED, 10, "the interruption")
    restarted = TrainingController(platform, runtime, images, stop_grace_s=1)  # what a server restarted knows
    job = run(restarted, "spot")
    assert (job.status, job.interruptions) == ("Completed", 2)
    statuses = [t.status for t in job.transitions]
    assert statuses[:4] == ["Starting", "Downloading", "Training", "Interrupted"]
    assert statuses[4:8] == ["Starting", "Downloading", "Training", "Interrupted"]
    assert statuses[-2:] == ["Uploading", "Completed"]
    waited = job.transitions[3]
    assert waited.end_time is not None and (waited.end_time - waited.start_time).total_seconds() >= 0.5
    resumed = [int(line.rsplit(" ", 1)[1]) for line in _log(platform, "spot") if line.startswith("resumed at")]
    assert resumed[0] == 0 and resumed[1] >= 1 and resumed[2] >= resumed[1]  # each run from the last checkpoint
    with platform.objects.open("out", "ckpt/job/epoch") as body:
        assert body.read() == b"3\n"
    assert 0 < job.running_seconds(datetime.now(UTC)) < (job.last_modified_time - job.creation_time).total_seconds()


def test_a_job_interrupted_past_its_max_wait_ends_stopped_max_wait_time_exceeded(
        tmp_path: Path, runtime: ProcessRuntime, images: Images) -> None:
    """A rate of 36,000 an instance-hour interrupts each run within a second; capacity takes longer than the wait."""
    controller = spot_controller(tmp_path, runtime, images, spot_interruption_rate=36_000.0,
                                 spot_capacity_wait_s=30.0, spot_seed=3)
    create(controller.platform, "wait", image(tmp_path, 'echo partial > "$SM_MODEL_DIR/model.txt"\nsleep 30\n'),
           **spot(max_wait_s=3) | {"StoppingCondition": {"MaxRuntimeInSeconds": 2, "MaxWaitTimeInSeconds": 3}})
    job = run(controller, "wait")
    assert (job.status, job.secondary_status, job.interruptions) == ("Stopped", "MaxWaitTimeExceeded", 1)
    assert [t.status for t in job.transitions][-3:] == ["Interrupted", "Stopping", "MaxWaitTimeExceeded"]
    assert job.model_artifacts == "s3://out/jobs/wait/output/model.tar.gz"
    assert controller.runtime.list({"training-job": "wait"}) == []


def _reconciled(controller: TrainingController, name: str) -> SecondaryStatus | None:
    controller.reconcile(name)
    job = controller.jobs.get(name)
    return None if job is None else job.secondary_status


def _epoch(checkpoints: Path) -> int:
    try:
        return int((checkpoints / "epoch").read_text())
    except (FileNotFoundError, ValueError):
        return 0


def _log(platform: Platform, name: str) -> list[str]:
    return [event.message for stream in platform.logs.streams(LOG_GROUP, f"{name}/")
            for event in platform.logs.read(LOG_GROUP, stream.name, None, None)]
