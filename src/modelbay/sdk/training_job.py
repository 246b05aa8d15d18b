"""One training job on the server: describe it, wait for it to end, print its progress and logs."""

from __future__ import annotations

import time
from typing import Any

from modelbay.sdk.job_logs import LogEvent, TrainingLogs
from modelbay.sdk.session import Session
from modelbay.sdk.waiting import UnexpectedStatus

POLL_S = 0.5
_RUNNING = frozenset({"InProgress", "Stopping"})


class TrainingJobFailed(UnexpectedStatus):
    """The training job ended Failed."""

    MESSAGE = "training job {name} failed: {reason}"

    @property
    def job_name(self) -> str:
        return self.name


class TrainingJob:
    """A training job by name, as `Estimator.latest_training_job` gives it."""

    def __init__(self, session: Session, name: str) -> None:
        self.session, self.name = session, name

    def describe(self) -> dict[str, Any]:
        """DescribeTrainingJob's answer, without ResponseMetadata."""
        job: dict[str, Any] = self.session.sagemaker.describe_training_job(TrainingJobName=self.name)
        job.pop("ResponseMetadata", None)
        return job

    def wait(self, logs: bool = True) -> dict[str, Any]:
        """Poll until the job has ended and return its description; raise TrainingJobFailed if it failed.

        With `logs`, print each status transition and every instance's log lines as they arrive,
        prefixed with `[algo-n]` when the job has several instances. A Stopped job does not raise.
        """
        job = self._follow(TrainingLogs(self.session.logs, self.name)) if logs else self._poll()
        if job["TrainingJobStatus"] == "Failed":
            raise TrainingJobFailed(self.name, job.get("FailureReason", "no reason given"))
        return job

    def _poll(self) -> dict[str, Any]:
        while (job := self.describe())["TrainingJobStatus"] in _RUNNING:
            time.sleep(POLL_S)
        return job

    def _follow(self, reader: TrainingLogs) -> dict[str, Any]:
        """Print new transitions and lines after each look at the job, merged by time, until it has ended.

        The lines are read after the job is described, so the read that follows the look showing the
        job ended gets the last of them: the server ships every line before it ends a job.
        """
        shown = 0
        while True:
            job = self.describe()
            transitions = job.get("SecondaryStatusTransitions", [])
            _print_in_order(transitions[shown:], reader.read_events(), job["ResourceConfig"]["InstanceCount"] > 1)
            shown = len(transitions)
            if job["TrainingJobStatus"] not in _RUNNING:
                return job
            time.sleep(POLL_S)


def _print_in_order(transitions: list[dict[str, Any]], events: list[LogEvent], several: bool) -> None:
    """Print status transitions (`<time> <Status> - <message>`) and log lines in time order; a line stamped in
    the same millisecond as a transition goes first, as the server rounds transition times to milliseconds."""
    entries = [(event.timestamp_ms / 1000, 0, f"[{event.host}] {event.message}" if several else event.message)
               for event in events]
    entries += [(step["StartTime"].timestamp(), 1,
                 f"{step['StartTime']:%Y-%m-%d %H:%M:%S} {step['Status']} - {step.get('StatusMessage', '')}")
                for step in transitions]
    for _, _, text in sorted(entries, key=lambda entry: entry[:2]):
        print(text, flush=True)
