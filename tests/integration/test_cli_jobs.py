"""`modelbay jobs` against a real server, run as a user runs it: a subprocess with no AWS credentials."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.conftest import client
from tests.helpers import ServerProcess, instance_dir, wait_until
from tests.integration.test_cli import modelbay
from tests.integration.test_training_jobs import create, program


def status(sagemaker: Any, name: str) -> str:
    return str(sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"])


def wait_for_status(sagemaker: Any, name: str, *wanted: str) -> None:
    wait_until(lambda: status(sagemaker, name) in wanted, 60, f"{name} to be {' or '.join(wanted)}")


def wait_for_training(sagemaker: Any, name: str) -> None:
    wait_until(lambda: sagemaker.describe_training_job(TrainingJobName=name)["SecondaryStatus"] == "Training",
               30, f"{name} to train")


def test_list_describe_and_logs_of_a_completed_job(sagemaker: Any, server: ServerProcess, bucket: str,
                                                   unique: str, scratch: Path) -> None:
    create(sagemaker, unique, program(scratch / "image", "echo one\necho two\necho loss=0.5\n"), bucket)
    wait_for_status(sagemaker, unique, "Completed", "Failed")
    listed = modelbay("--json", "jobs", "list", "--name-contains", unique, "--status", "Completed", url=server.url)
    assert listed.returncode == 0, listed.stderr
    assert [(s["TrainingJobName"], s["TrainingJobStatus"]) for s in json.loads(listed.stdout)] == [
        (unique, "Completed")]
    table = modelbay("jobs", "list", "--max", "5", url=server.url)
    assert unique in table.stdout and "Completed" in table.stdout
    described = json.loads(modelbay("--json", "jobs", "describe", unique, url=server.url).stdout)
    assert described["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{bucket}/out/{unique}/output/model.tar.gz"
    assert "ResponseMetadata" not in described
    readable = modelbay("jobs", "describe", unique, url=server.url).stdout
    assert "Model artifacts" in readable and "loss" in readable and "Completed" in readable
    logs = modelbay("jobs", "logs", unique, url=server.url)
    assert (logs.returncode, logs.stdout) == (0, "one\ntwo\nloss=0.5\n")


def test_logs_follow_a_running_job_until_it_ends(sagemaker: Any, server: ServerProcess, bucket: str,
                                                 unique: str, scratch: Path) -> None:
    go = instance_dir(server.data_dir, unique) / "go"
    create(sagemaker, unique, program(scratch / "image", "echo one\nwhile [ ! -e /opt/ml/go ]; do sleep 0.05; done\n"
                                      "echo two\necho three\n"), bucket)
    wait_for_training(sagemaker, unique)
    logs = client(server.url, "logs")
    with ThreadPoolExecutor(1) as pool:
        following = pool.submit(modelbay, "jobs", "logs", "--follow", unique, url=server.url)
        wait_until(lambda: logs.filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                                  logStreamNamePrefix=unique + "/")["events"], 30, "the first line")
        assert not following.done()
        go.touch()
        done = following.result(timeout=60)
    assert (done.returncode, done.stdout) == (0, "one\ntwo\nthree\n"), done.stderr
    assert status(sagemaker, unique) == "Completed"


def test_stop_a_running_job(sagemaker: Any, server: ServerProcess, bucket: str, unique: str, scratch: Path) -> None:
    create(sagemaker, unique, program(scratch / "image", "sleep 60\n"), bucket)
    wait_for_training(sagemaker, unique)
    stopped = modelbay("jobs", "stop", unique, url=server.url)
    assert stopped.returncode == 0, stopped.stderr
    assert status(sagemaker, unique) in ("Stopping", "Stopped")
    wait_for_status(sagemaker, unique, "Stopped")


def test_unknown_job_is_one_clear_error(server: ServerProcess) -> None:
    for command in ("describe", "logs", "stop"):
        done = modelbay("jobs", command, "nope", url=server.url)
        assert done.returncode == 1
        assert "ValidationException" in done.stderr
        assert "Traceback" not in done.stderr


def test_a_table_at_80_columns_shows_a_long_job_name_whole(sagemaker: Any, server: ServerProcess, bucket: str,
                                                           unique: str, scratch: Path) -> None:
    name = f"{unique}-{'x' * (62 - len(unique))}"  # 63 characters, the longest SageMaker allows
    create(sagemaker, name, program(scratch / "image", "echo done\n"), bucket)
    wait_for_status(sagemaker, name, "Completed", "Failed")
    table = modelbay("jobs", "list", "--name-contains", unique, url=server.url, env={"COLUMNS": "80"})
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert any(name in line for line in lines) and "…" not in table.stdout, table.stdout
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert "Completed" in table.stdout  # the status still fits; less important columns wrap or go
