"""SIGKILL the server while a training job runs, start it again on the same data dir (issue 4, part 5).

What the design does, and so what this test expects: the process runtime starts each instance
in its own session, so an instance outlives a SIGKILLed server. While it lives, a restarted
server adopts it (its runtime record and live pid say it runs). Here the instance is killed too
while the server is down, as when the whole machine goes: the restarted controller then finds a
record saying "running" whose process is gone, and ends the job Failed with the lost reason.
A job that had completed before the crash keeps its status, ModelArtifacts and model.tar.gz.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import tarfile
from pathlib import Path

from modelbay.controllers.training import LOST_REASON
from tests.conftest import client
from tests.helpers import ServerProcess, wait_until
from tests.integration.test_training_jobs import WAITER, create, program

BUCKET = "restart"


def test_running_job_fails_as_lost_and_finished_job_is_intact_after_sigkill(tmp_path: Path) -> None:
    data, scratch = tmp_path / "data", tmp_path / "scratch"
    data.mkdir()
    scratch.mkdir()
    pid_file, go_file = scratch / "pid", scratch / "go"
    server = ServerProcess(data)
    url = server.start()
    try:
        sagemaker, s3 = client(url, "sagemaker"), client(url, "s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="data/rows.csv", Body=b"1,2\n")

        # STEP 1: one job runs to Completed before the crash
        create(sagemaker, "done", program(scratch / "done", "cp /opt/ml/input/data/train/rows.csv "
                                          "/opt/ml/model/model.txt\n"), BUCKET)
        sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName="done", WaiterConfig=WAITER)
        before = sagemaker.describe_training_job(TrainingJobName="done")
        assert before["TrainingJobStatus"] == "Completed", before.get("FailureReason")
        key = "out/done/output/model.tar.gz"
        etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]

        # STEP 2: a second job is surely running (its program wrote its pid and waits for a file)
        create(sagemaker, "running", program(scratch / "running", f"echo $$ > {pid_file}.tmp\n"
                                             f"mv {pid_file}.tmp {pid_file}\necho waiting\n"
                                             f"while [ ! -e {go_file} ]; do sleep 0.05; done\n"), BUCKET)
        wait_until(pid_file.exists, 60, "the second job's program to start")
        assert sagemaker.describe_training_job(TrainingJobName="running")["SecondaryStatus"] == "Training"
        pid = int(pid_file.read_text())

        # STEP 3: crash; the instance, in its own session, outlives the server; then it goes too
        server.kill()
        assert _is_alive(pid), "the instance should outlive the SIGKILLed server (it has its own session)"
        _kill_group(pid)
        wait_until(lambda: not _is_alive(pid), 30, "the instance's processes to end")

        # STEP 4: restart on the same data dir: the store and the runtime records are all there is
        url = server.start()
        sagemaker, s3 = client(url, "sagemaker"), client(url, "s3")
        wait_until(lambda: sagemaker.describe_training_job(TrainingJobName="running")["TrainingJobStatus"]
                   in ("Completed", "Failed", "Stopped"), 60, "the lost job to end")
        lost = sagemaker.describe_training_job(TrainingJobName="running")
        assert (lost["TrainingJobStatus"], lost["SecondaryStatus"]) == ("Failed", "Failed")
        assert lost["FailureReason"] == LOST_REASON

        after = sagemaker.describe_training_job(TrainingJobName="done")
        assert after["TrainingJobStatus"] == "Completed"
        assert after["ModelArtifacts"] == before["ModelArtifacts"]
        assert after["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{BUCKET}/{key}"
        got = s3.get_object(Bucket=BUCKET, Key=key)
        assert got["ETag"] == etag
        with tarfile.open(fileobj=io.BytesIO(got["Body"].read())) as archive:
            model = archive.extractfile("model.txt")
            assert model is not None and model.read() == b"1,2\n"

        listed = {j["TrainingJobName"]: j["TrainingJobStatus"]
                  for j in sagemaker.list_training_jobs(SortBy="Name")["TrainingJobSummaries"]}
        assert listed == {"done": "Completed", "running": "Failed"}
    finally:
        go_file.touch()  # lets a surviving program end by itself if an assertion failed early
        if pid_file.exists():
            _kill_group(int(pid_file.read_text()))
        server.stop()


def _is_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(os.getpgid(pid), signal.SIGKILL)
