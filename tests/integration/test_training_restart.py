"""SIGKILL the server while a training job runs, start it again on the same data dir (issue 4, part 5).

What the design does, and so what these tests expect: the process runtime starts each instance
under a supervisor in its own session, so an instance outlives a SIGKILLed server, and a
restarted server adopts it (its runtime record and live supervisor say it runs). The supervisor
records the program's exit in a file, so a job whose program ends well after the restart
completes. When the instance is killed too while the server is down, supervisor and all, as when
the whole machine goes, the restarted controller finds a record saying "running" with no exit
recorded and ends the job Failed with the lost reason. A job that had completed before the crash
keeps its status, ModelArtifacts and model.tar.gz. A server stopped gracefully stops its instances
(unless told to keep them): a job running then is Failed when the server comes back, and says why.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelbay.controllers.loops import SHUTDOWN_REASON
from modelbay.controllers.training_jobs.controller import LOST_REASON
from tests.conftest import client
from tests.helpers import ServerProcess, instance_dir, is_running, wait_until
from tests.integration.test_training_jobs import WAITER, create, program

BUCKET = "restart"
COPY_ROWS = "cp /opt/ml/input/data/train/rows.csv /opt/ml/model/model.txt\n"


def test_running_job_fails_as_lost_and_finished_job_is_intact_after_sigkill(crash: Crash) -> None:
    server, scratch, (pid_file, _) = crash.server, crash.scratch, crash.files("running")
    sagemaker, s3 = _start(server)
    _put_rows(s3)

    # STEP 1: one job runs to Completed before the crash
    create(sagemaker, "done", program(scratch / "done", COPY_ROWS), BUCKET)
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName="done", WaiterConfig=WAITER)
    before = sagemaker.describe_training_job(TrainingJobName="done")
    assert before["TrainingJobStatus"] == "Completed", before.get("FailureReason")
    key = "out/done/output/model.tar.gz"
    etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]

    # STEP 2: a second job is surely running (its program wrote its pid and waits for a file)
    create(sagemaker, "running", _waiting_program(scratch / "running"), BUCKET)
    wait_until(pid_file.exists, 60, "the second job's program to start")
    assert sagemaker.describe_training_job(TrainingJobName="running")["SecondaryStatus"] == "Training"
    pid = int(pid_file.read_text())

    # STEP 3: crash; the instance, in its own session, outlives the server; then it goes too
    server.kill()
    assert is_running(pid), "the instance should outlive the SIGKILLed server (it has its own session)"
    _kill_instance(pid)
    wait_until(lambda: not is_running(pid), 30, "the instance's processes to end")

    # STEP 4: restart on the same data dir: the store and the runtime records are all there is
    sagemaker, s3 = _start(server)
    wait_until(lambda: sagemaker.describe_training_job(TrainingJobName="running")["TrainingJobStatus"]
               in ("Completed", "Failed", "Stopped"), 60, "the lost job to end")
    lost = sagemaker.describe_training_job(TrainingJobName="running")
    assert (lost["TrainingJobStatus"], lost["SecondaryStatus"]) == ("Failed", "Failed")
    assert lost["FailureReason"] == LOST_REASON

    after = sagemaker.describe_training_job(TrainingJobName="done")
    assert after["TrainingJobStatus"] == "Completed"
    assert after["ModelArtifacts"] == before["ModelArtifacts"]
    assert after["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{BUCKET}/{key}"
    assert s3.head_object(Bucket=BUCKET, Key=key)["ETag"] == etag
    assert _model_txt(s3, key) == b"1,2\n"

    listed = {j["TrainingJobName"]: j["TrainingJobStatus"]
              for j in sagemaker.list_training_jobs(SortBy="Name")["TrainingJobSummaries"]}
    assert listed == {"done": "Completed", "running": "Failed"}


def test_job_running_through_a_server_crash_completes_after_the_restart(crash: Crash) -> None:
    server, scratch, (pid_file, go_file) = crash.server, crash.scratch, crash.files("survivor")
    sagemaker, s3 = _start(server)
    _put_rows(s3)
    create(sagemaker, "survivor", _waiting_program(scratch / "image", COPY_ROWS), BUCKET)
    wait_until(pid_file.exists, 60, "the job's program to start")
    pid = int(pid_file.read_text())

    server.kill()
    sagemaker, s3 = _start(server)  # adopts the instance, whose program has not ended yet
    assert is_running(pid)
    assert sagemaker.describe_training_job(TrainingJobName="survivor")["TrainingJobStatus"] == "InProgress"
    go_file.touch()
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName="survivor",
                                                                   WaiterConfig=WAITER)
    job = sagemaker.describe_training_job(TrainingJobName="survivor")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert _model_txt(s3, "out/survivor/output/model.tar.gz") == b"1,2\n"


def test_a_job_running_when_the_server_stops_gracefully_fails_saying_why(crash: Crash) -> None:
    server, scratch, (pid_file, _) = crash.server, crash.scratch, crash.files("cut")
    sagemaker, s3 = _start(server)
    _put_rows(s3)
    create(sagemaker, "cut", _waiting_program(scratch / "image", COPY_ROWS), BUCKET)
    wait_until(pid_file.exists, 60, "the job's program to start")
    pid = int(pid_file.read_text())

    server.interrupt(signal.SIGTERM)
    assert not is_running(pid)  # stopped before the server exited
    sagemaker, s3 = _start(server)
    wait_until(lambda: sagemaker.describe_training_job(TrainingJobName="cut")["TrainingJobStatus"] != "InProgress",
               60, "the job to end")
    job = sagemaker.describe_training_job(TrainingJobName="cut")
    assert (job["TrainingJobStatus"], job["SecondaryStatus"], job["FailureReason"]) == (
        "Failed", "Failed", f"InternalServerError: the training job's instances were {SHUTDOWN_REASON}")


@dataclass(frozen=True)
class Crash:
    """A server of the test's own to crash, and the files its waiting program uses (see _waiting_program)."""

    server: ServerProcess
    scratch: Path

    def files(self, job: str) -> tuple[Path, Path]:
        """The waiting program's pid and go files (/opt/ml/pid and /opt/ml/go) as the host sees them."""
        host = instance_dir(self.server.data_dir, job)
        return host / "pid", host / "go"


@pytest.fixture
def crash(tmp_path: Path) -> Iterator[Crash]:
    """A server on its own data dir; at the end, a waiting program is let go (or killed) and the server stopped."""
    data, scratch = tmp_path / "data", tmp_path / "scratch"
    data.mkdir()
    scratch.mkdir()
    crash = Crash(ServerProcess(data), scratch)
    try:
        yield crash
    finally:
        for pid_file, go_file in map(crash.files, os.listdir(data / "training")):
            with contextlib.suppress(FileNotFoundError):  # a job that did not start its program
                go_file.touch()  # lets a surviving program end by itself if an assertion failed early
                _kill_instance(int(pid_file.read_text()))
        crash.server.stop()


def _start(server: ServerProcess) -> tuple[Any, Any]:
    """(Re)start the server; return SageMaker and S3 clients for it."""
    url = server.start()
    return client(url, "sagemaker"), client(url, "s3")


def _put_rows(s3: Any) -> None:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="data/rows.csv", Body=b"1,2\n")


def _model_txt(s3: Any, key: str) -> bytes:
    """model.txt from the model.tar.gz at `key`."""
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())) as archive:
        model = archive.extractfile("model.txt")
        assert model is not None
        return model.read()


def _waiting_program(directory: Path, then: str = "") -> str:
    """A program that writes its pid to /opt/ml/pid, waits for /opt/ml/go to exist, then runs `then`."""
    return program(directory, "echo $$ > /opt/ml/pid.tmp\nmv /opt/ml/pid.tmp /opt/ml/pid\necho waiting\n"
                              f"while [ ! -e /opt/ml/go ]; do sleep 0.05; done\n{then}")


def _kill_instance(pid: int) -> None:
    """SIGKILL the program `pid` and its instance's supervisor (the leader of the program's session)."""
    with contextlib.suppress(ProcessLookupError):
        for group in (os.getsid(pid), os.getpgid(pid)):
            os.killpg(group, signal.SIGKILL)
