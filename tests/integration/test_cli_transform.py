"""`modelbay transform` against a real server, run as a user runs it: a subprocess with no AWS credentials."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelbay.sdk import Session
from tests.helpers import ServerProcess, wait_until
from tests.integration.models import echo_model
from tests.integration.test_cli import modelbay


@pytest.fixture(scope="module")
def echo(session: Session, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The name of a plain-Python model that echoes each record in capitals (see ECHO_SCRIPT)."""
    return echo_model(session, tmp_path_factory.mktemp("echo")).create()


def create(url: str, model: str, bucket: str, *more: str) -> Any:
    return modelbay("--json", "transform", "create", "--model", model, "--input", f"s3://{bucket}/in/",
                    "--output", f"s3://{bucket}/out", "--split-type", "Line", "--content-type", "text/csv",
                    "--strategy", "SingleRecord", "--assemble-with", "Line", *more, url=url)


def status(sagemaker: Any, name: str) -> str:
    return str(sagemaker.describe_transform_job(TransformJobName=name)["TransformJobStatus"])


def test_create_wait_describe_and_list(server: ServerProcess, sagemaker: Any, s3: Any, echo: str,
                                       unique: str) -> None:
    s3.create_bucket(Bucket=unique)
    s3.put_object(Bucket=unique, Key="in/rows.csv", Body=b"a,b\nc,d\n")
    created = create(server.url, echo, unique, "--name", unique, "--wait")
    assert (created.returncode, json.loads(created.stdout or "null")) == (0, {"TransformJobName": unique}), \
        created.stderr
    written = s3.get_object(Bucket=unique, Key="out/rows.csv.out")["Body"].read().decode()
    assert written.split() == ["text/csv:A,B", "text/csv:C,D"]

    described = json.loads(modelbay("--json", "transform", "describe", unique, url=server.url).stdout)
    assert (described["TransformJobStatus"], described["ModelName"]) == ("Completed", echo)
    assert "ResponseMetadata" not in described
    readable = modelbay("transform", "describe", unique, url=server.url).stdout
    assert "Completed" in readable and f"s3://{unique}/in/ (text/csv, split Line)" in readable
    listed = modelbay("--json", "transform", "list", "--name-contains", unique, "--status", "Completed",
                      url=server.url)
    assert [job["TransformJobName"] for job in json.loads(listed.stdout)] == [unique]
    table = modelbay("transform", "list", "--max", "50", url=server.url).stdout
    assert unique in table and "Completed" in table


def test_a_failed_job_waited_for_is_one_line_with_its_reason(server: ServerProcess, s3: Any, echo: str,
                                                             unique: str) -> None:
    s3.create_bucket(Bucket=unique)
    s3.put_object(Bucket=unique, Key="in/rows.csv", Body=b"boom\n")
    failed = create(server.url, echo, unique, "--name", unique, "--wait")
    assert failed.returncode == 1
    assert f"error: transform job {unique} failed: " in failed.stderr and "boom" in failed.stderr
    assert "Traceback" not in failed.stderr
    readable = modelbay("transform", "describe", unique, url=server.url).stdout
    assert "Failure reason" in readable and "Failed" in readable


def test_stop_a_job(server: ServerProcess, sagemaker: Any, s3: Any, echo: str, unique: str) -> None:
    s3.create_bucket(Bucket=unique)
    s3.put_object(Bucket=unique, Key="in/rows.csv", Body=b"hang\n")  # runs until stopped
    name = json.loads(create(server.url, echo, unique).stdout)["TransformJobName"]
    assert name.startswith(echo[:20])  # named after the model
    stopped = modelbay("transform", "stop", name, url=server.url)
    assert (stopped.returncode, stopped.stdout.strip()) == (0, f"stopping {name}"), stopped.stderr
    wait_until(lambda: status(sagemaker, name) != "Stopping", 60, f"{name} to stop")
    assert status(sagemaker, name) == "Stopped"


def test_errors_are_one_clear_line(server: ServerProcess, unique: str) -> None:
    for args in (["transform", "describe", "nope"], ["transform", "stop", "nope"],
                 ["transform", "create", "--model", "nope", "--input", "s3://b/in/", "--output", "s3://b/out"]):
        done = modelbay(*args, url=server.url)
        assert done.returncode == 1, args
        assert "error:" in done.stderr and "nope" in done.stderr and "Traceback" not in done.stderr
