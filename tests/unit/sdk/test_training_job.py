"""TrainingJob.wait against fake SageMaker and Logs clients that play a job's life one look at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelbay.sdk import TrainingJob, TrainingJobFailed
from modelbay.sdk import training_job as training_job_module

START = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def transition(status: str, seconds: float) -> dict[str, Any]:
    return {"Status": status, "StartTime": at(seconds), "StatusMessage": f"{status.lower()} now"}


class FakeLogs:
    """Streams of events; get_log_events pages forward with the event count as token."""

    def __init__(self) -> None:
        self.streams: dict[str, list[dict[str, Any]]] = {}

    def write(self, host: str, message: str, seconds: float) -> None:
        self.streams.setdefault(f"job/{host}-1700000000", []).append(
            {"timestamp": int(at(seconds).timestamp() * 1000), "message": message})

    def get_paginator(self, operation: str) -> Any:
        assert operation == "describe_log_streams"
        return self

    def paginate(self, logGroupName: str, logStreamNamePrefix: str) -> list[dict[str, Any]]:  # noqa: N803
        assert (logGroupName, logStreamNamePrefix) == ("/aws/sagemaker/TrainingJobs", "job/")
        return [{"logStreams": [{"logStreamName": name} for name in sorted(self.streams)]}]

    def get_log_events(self, logStreamName: str, nextToken: str = "0", **_: Any) -> dict[str, Any]:  # noqa: N803
        events = self.streams[logStreamName][int(nextToken):]
        return {"events": events, "nextForwardToken": str(int(nextToken) + len(events))}


class FakeSageMaker:
    """Each describe shows the next look at the job, after writing the lines that look brings."""

    def __init__(self, logs: FakeLogs, looks: list[tuple[str, list[dict[str, Any]], list[tuple[str, str, float]]]],
                 instance_count: int = 1, reason: str | None = None) -> None:
        self.logs, self.looks, self.instance_count, self.reason = logs, looks, instance_count, reason
        self.described = 0

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:  # noqa: N803 (boto3's spelling)
        status, transitions, lines = self.looks[min(self.described, len(self.looks) - 1)]
        if self.described < len(self.looks):
            for host, message, seconds in lines:
                self.logs.write(host, message, seconds)
        self.described += 1
        job = {"TrainingJobName": TrainingJobName, "TrainingJobStatus": status, "SecondaryStatusTransitions":
               transitions, "ResourceConfig": {"InstanceCount": self.instance_count}, "ResponseMetadata": {}}
        return job | ({"FailureReason": self.reason} if self.reason else {})


class FakeSession:
    def __init__(self, sagemaker: FakeSageMaker, logs: FakeLogs) -> None:
        self.sagemaker, self.logs = sagemaker, logs


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training_job_module, "POLL_S", 0)


def job(looks: list[Any], **kwargs: Any) -> TrainingJob:
    logs = FakeLogs()
    return TrainingJob(FakeSession(FakeSageMaker(logs, looks, **kwargs), logs), "job")  # type: ignore[arg-type]


STARTING, TRAINING = transition("Starting", 0), transition("Training", 1)
UPLOADING, COMPLETED = transition("Uploading", 3), transition("Completed", 4)


def test_wait_prints_transitions_and_lines_in_the_order_they_happened(capsys: pytest.CaptureFixture[str]) -> None:
    looks = [
        ("InProgress", [STARTING], []),
        ("InProgress", [STARTING, TRAINING], [("algo-1", "one", 1.5)]),
        # the last line, Uploading and the end all happen between two looks
        ("Completed", [STARTING, TRAINING, UPLOADING, COMPLETED], [("algo-1", "two", 2.9)]),
    ]
    described = job(looks).wait()
    assert described["TrainingJobStatus"] == "Completed" and "ResponseMetadata" not in described
    assert capsys.readouterr().out.splitlines() == [
        "2026-11-25 10:00:00 Starting - starting now", "2026-11-25 10:00:01 Training - training now", "one", "two",
        "2026-11-25 10:00:03 Uploading - uploading now", "2026-11-25 10:00:04 Completed - completed now"]


def test_several_instances_interleave_by_time_with_host_prefixes(capsys: pytest.CaptureFixture[str]) -> None:
    looks = [("Completed", [TRAINING, COMPLETED],
              [("algo-1", "a1", 1.2), ("algo-2", "b1", 1.1), ("algo-1", "a2", 1.4), ("algo-2", "b2", 1.3)])]
    job(looks, instance_count=2).wait()
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:-1] == ["[algo-2] b1", "[algo-1] a1", "[algo-2] b2", "[algo-1] a2"]


def test_a_failed_job_raises_after_its_last_lines(capsys: pytest.CaptureFixture[str]) -> None:
    looks = [("InProgress", [TRAINING], []),
             ("Failed", [TRAINING, transition("Failed", 2)], [("algo-1", "Traceback", 1.5)])]
    with pytest.raises(TrainingJobFailed, match="training job job failed: AlgorithmError: boom") as failed:
        job(looks, reason="AlgorithmError: boom").wait()
    assert (failed.value.job_name, failed.value.reason) == ("job", "AlgorithmError: boom")
    assert capsys.readouterr().out.splitlines()[1:] == ["Traceback", "2026-11-25 10:00:02 Failed - failed now"]


def test_a_stopped_job_returns(capsys: pytest.CaptureFixture[str]) -> None:
    looks = [("Stopping", [TRAINING, transition("Stopping", 2)], []),
             ("Stopped", [TRAINING, transition("Stopping", 2), transition("Stopped", 3)], [])]
    assert job(looks).wait()["TrainingJobStatus"] == "Stopped"
    assert capsys.readouterr().out.splitlines()[-1] == "2026-11-25 10:00:03 Stopped - stopped now"


def test_without_logs_wait_polls_until_the_end_and_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    looks = [("InProgress", [STARTING], []), ("InProgress", [STARTING, TRAINING], [("algo-1", "one", 1.5)]),
             ("Completed", [STARTING, TRAINING, COMPLETED], [])]
    training = job(looks)
    assert training.wait(logs=False)["TrainingJobStatus"] == "Completed"
    assert training.session.sagemaker.described == 3
    assert capsys.readouterr().out == ""
