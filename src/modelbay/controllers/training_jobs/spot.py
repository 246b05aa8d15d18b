"""Managed spot training's simulated capacity: when a spot job's instances are taken back, and when capacity returns.

The machine has no spot market, so SpotMarket stands in for EC2's, configured by the server's settings:

- interruptions come as a Poisson process, `MODELBAY_SPOT_INTERRUPTION_RATE` of them expected per instance-hour
  (default 0: none but those asked for); each run of a job draws its time to the next one from the exponential
  distribution, from a generator seeded by `MODELBAY_SPOT_SEED`, the job's name and the run's number, so a seeded
  server interrupts a job at the same points of each run every time;
- an interruption asked for (`POST /_modelbay/v1/training-jobs/<name>/interrupt`, `modelbay jobs interrupt`)
  comes at once;
- capacity comes back `MODELBAY_SPOT_CAPACITY_WAIT_S` seconds after an interruption (default 60);
- spot capacity costs SPOT_SAVINGS less than on demand (store/metadata/training_jobs.py: BillableTimeInSeconds).

What the controller does of it (controller.py): an interrupted job's instances are stopped as a stopped job's are
(SIGTERM, then SIGKILL after the grace period), it waits Interrupted until capacity returns, then starts again
(Starting, Downloading, Training) with its checkpoints restored; past MaxWaitTimeInSeconds of wall time since its
creation it goes Stopping, then Stopped / MaxWaitTimeExceeded with what it has uploaded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from modelbay.config import Settings
from modelbay.store.metadata.training_jobs import TrainingJob

INTERRUPTED_MESSAGE = "The job stopped because the managed spot training instances were interrupted."
RESTARTING_MESSAGE = "Launching requested ML instances"
MAX_WAIT_MESSAGE = "Training job exceeded the MaxWaitTimeInSeconds of its StoppingCondition"


@dataclass(frozen=True)
class SpotMarket:
    """When spot instances are interrupted and capacity returns (the module docstring says how)."""

    interruption_rate: float  # expected interruptions per instance-hour
    capacity_wait_s: float
    seed: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SpotMarket:
        return cls(settings.spot_interruption_rate, settings.spot_capacity_wait_s, settings.spot_seed)

    def next_interruption(self, job: str, run: int, instance_count: int, now: datetime) -> datetime | None:
        """When run `run` (0 for the first) of `job`, on `instance_count` instances from `now`, is interrupted;
        None if never."""
        if self.interruption_rate <= 0:
            return None
        draws = random.Random(f"{self.seed}/{job}/{run}") if self.seed is not None else random.Random()
        return now + timedelta(hours=draws.expovariate(self.interruption_rate * instance_count))

    def capacity_back(self, now: datetime) -> datetime:
        """When capacity taken back `now` returns."""
        return now + timedelta(seconds=self.capacity_wait_s)


def max_wait_exceeded(job: TrainingJob, now: datetime) -> bool:
    """Whether a spot job has run past MaxWaitTimeInSeconds since its creation, its waits for capacity included."""
    max_wait = job.spec.max_wait_time_in_seconds
    return max_wait is not None and (now - job.creation_time).total_seconds() > max_wait


def interruption_due(job: TrainingJob, now: datetime) -> bool:
    """Whether a running spot job's instances are to be interrupted now."""
    return job.spot_interrupt_at is not None and now >= job.spot_interrupt_at
