"""Managed spot training on a real server: the SageMaker SDK's `use_spot_instances`, `max_wait` and
`checkpoint_s3_uri` unchanged, a script-mode job interrupted twice (`modelbay jobs interrupt`) resuming from the
checkpoints synced to S3 while it ran, and a job whose MaxWaitTimeInSeconds passes while it waits for capacity."""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import sagemaker as sagemaker_sdk
from sagemaker.estimator import Estimator

from tests.conftest import CREDENTIALS, client
from tests.helpers import ServerProcess, modelbay_server, wait_until
from tests.integration.models import ROLE
from tests.integration.test_cli import modelbay
from tests.integration.test_training_jobs import program

EPOCHS = 40  # of half a second: enough that two syncs to S3 (every 5 s) come before the end
# Resumes from the last epoch in /opt/ml/checkpoints, checkpointing each epoch there.
TRAIN_PY = f"""
import os, time
path = "/opt/ml/checkpoints/epoch"
epoch = int(open(path).read()) if os.path.exists(path) else 0
print(f"resuming at epoch {{epoch}}", flush=True)
while epoch < {EPOCHS}:
    time.sleep(0.5)
    epoch += 1
    with open(path + ".partial", "w") as partial:
        partial.write(str(epoch))
    os.replace(path + ".partial", path)
    print(f"epoch {{epoch}} done", flush=True)
with open("/opt/ml/model/model.txt", "w") as model:
    model.write(str(epoch))
"""
NO_TELEMETRY = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
DONE, RESUMED = re.compile(r"epoch (\d+) done"), re.compile(r"resuming at epoch (\d+)")


@pytest.fixture(scope="module")
def spot_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose spot capacity comes back a second after an interruption (the default is a minute)."""
    with modelbay_server(tmp_path_factory.mktemp("spot"), {"MODELBAY_SPOT_CAPACITY_WAIT_S": "1"}) as server:
        yield server


def sdk_session(server: ServerProcess, bucket: str, monkeypatch: pytest.MonkeyPatch) -> sagemaker_sdk.Session:
    """The SageMaker SDK's session with the server (every client it makes, its logs' included), without telemetry."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    return sagemaker_sdk.Session(boto_session=boto3.Session(**CREDENTIALS), default_bucket=bucket,
                                 sagemaker_config=NO_TELEMETRY)


def checkpointed_epoch(s3: Any, bucket: str) -> int:
    try:
        return int(s3.get_object(Bucket=bucket, Key="checkpoints/epoch")["Body"].read())
    except s3.exceptions.NoSuchKey:
        return 0


def secondary_status(sagemaker: Any, name: str) -> str:
    return str(sagemaker.describe_training_job(TrainingJobName=name)["SecondaryStatus"])


def interruptions(sagemaker: Any, name: str) -> int:
    """How often the job has been Interrupted, from its transitions: the status itself lasts only until capacity
    comes back (a second here), which a poll slowed by a busy machine can miss."""
    transitions = sagemaker.describe_training_job(TrainingJobName=name)["SecondaryStatusTransitions"]
    return sum(transition["Status"] == "Interrupted" for transition in transitions)


def runs(logs: Any, name: str) -> list[list[str]]:
    """Each run's log lines (a stream per run of the host), oldest run first."""
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=name)
    return [[event["message"] for event in logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                                                logStreamName=stream["logStreamName"])["events"]]
            for stream in sorted(streams["logStreams"], key=lambda stream: stream["logStreamName"])]


def test_an_sdk_spot_job_interrupted_twice_resumes_from_its_checkpoints(
        spot_server: ServerProcess, unique: str, scratch: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    s3, sagemaker = client(spot_server.url, "s3"), client(spot_server.url, "sagemaker")
    s3.create_bucket(Bucket=unique)
    (scratch / "train.py").write_text(TRAIN_PY)
    session = sdk_session(spot_server, unique, monkeypatch)
    estimator = Estimator(image_uri="modelbay/python", entry_point="train.py", source_dir=str(scratch), role=ROLE,
                          instance_count=1, instance_type="ml.m5.large", volume_size=1, sagemaker_session=session,
                          base_job_name=unique, output_path=f"s3://{unique}/out", use_spot_instances=True,
                          max_run=600, max_wait=1200, checkpoint_s3_uri=f"s3://{unique}/checkpoints")
    estimator.fit(wait=False)
    name = estimator.latest_training_job.name
    for interrupted_so_far in (1, 2):  # each time once a checkpoint newer than those it resumed from has reached S3
        wait_until(lambda: secondary_status(sagemaker, name) == "Training", 60, "training")
        reached = checkpointed_epoch(s3, unique)
        wait_until(lambda: checkpointed_epoch(s3, unique) > reached, 60, "a newer checkpoint in S3")  # noqa: B023
        interrupted = modelbay("jobs", "interrupt", name, url=spot_server.url)
        assert interrupted.returncode == 0, interrupted.stderr
        wait_until(lambda: interruptions(sagemaker, name) == interrupted_so_far, 30, "the interruption")  # noqa: B023
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    job = sagemaker.describe_training_job(TrainingJobName=name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    statuses = [transition["Status"] for transition in job["SecondaryStatusTransitions"]]
    assert statuses == ["Starting", "Downloading", "Training", "Interrupted"] * 2 + [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert job["BillableTimeInSeconds"] < job["TrainingTimeInSeconds"]
    first, second, third = runs(client(spot_server.url, "logs"), name)
    assert "resuming at epoch 0" in first
    for before, after in ((first, second), (second, third)):
        last_done = [int(match[1]) for line in before if (match := DONE.fullmatch(line))][-1]
        resumed = [int(match[1]) for line in after if (match := RESUMED.fullmatch(line))]
        # from the last checkpoint it made, not from scratch: the one it printed, or the next if the interruption
        # came between its writing that checkpoint and printing it
        assert resumed in ([last_done], [last_done + 1]), (last_done, resumed)
    assert f"epoch {EPOCHS} done" in third
    session.logs_for_job(name, wait=True, poll=1)  # what the SDK prints of a spot job's time
    printed = capsys.readouterr().out
    assert f"Billable seconds: {job['BillableTimeInSeconds']}" in printed
    assert "Managed Spot Training savings: " in printed
    described = modelbay("jobs", "describe", name, url=spot_server.url)
    assert "yes, 2 interruptions" in described.stdout and "Spot savings" in described.stdout, described.stderr


def test_a_spot_job_waiting_past_its_max_wait_ends_stopped(server: ServerProcess, sagemaker: Any, s3: Any,
                                                           bucket: str, unique: str, scratch: Path) -> None:
    """Capacity takes the server's default minute to come back, past the job's 8 s MaxWaitTimeInSeconds."""
    image = program(scratch / "image", "echo partial > /opt/ml/model/model.txt\necho started\nsleep 60\n")
    sagemaker.create_training_job(
        TrainingJobName=unique, RoleArn=ROLE, AlgorithmSpecification={"TrainingImage": image,
                                                                      "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out"}, EnableManagedSpotTraining=True,
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 8, "MaxWaitTimeInSeconds": 8})
    wait_until(lambda: secondary_status(sagemaker, unique) == "Training", 30, "training")
    interrupted = modelbay("jobs", "interrupt", unique, url=server.url)
    assert interrupted.returncode == 0, interrupted.stderr
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=unique, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    job = sagemaker.describe_training_job(TrainingJobName=unique)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxWaitTimeExceeded")
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-3:] == [
        "Interrupted", "Stopping", "MaxWaitTimeExceeded"]
    model = s3.get_object(Bucket=bucket, Key=f"out/{unique}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(model)) as archive:
        assert archive.getnames() == ["model.txt"]  # what the job had made when capacity was taken back
    again = modelbay("jobs", "interrupt", unique, url=server.url)
    assert again.returncode == 1 and "is MaxWaitTimeExceeded: only a running job can be interrupted" in again.stderr
