"""modelbay.sdk.local_server(): a server of one's own, with ready clients."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelbay.sdk import local_server
from tests.helpers import instance_dir, is_running, wait_until
from tests.integration.test_training_jobs import create, program


def test_local_server_yields_a_working_server(tmp_path: Path) -> None:
    with local_server(tmp_path / "data") as server:
        assert server.url.startswith("http://127.0.0.1:")
        server.s3.create_bucket(Bucket="demo")
        server.s3.put_object(Bucket="demo", Key="k", Body=b"v")
        assert server.s3.get_object(Bucket="demo", Key="k")["Body"].read() == b"v"
        assert server.sagemaker.list_tags(ResourceArn="arn:aws:sagemaker:us-east-1:000000000000:model/m")["Tags"] == []
        assert server.client("sts").get_caller_identity()["Account"] == "000000000000"
    with local_server(tmp_path / "data") as again:  # same data directory: the object is still there
        assert again.s3.get_object(Bucket="demo", Key="k")["Body"].read() == b"v"


def test_a_local_server_in_a_temporary_directory_leaves_no_instance_behind(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELBAY_KEEP_INSTANCES", "1")  # the user's setting, which cannot hold for a deleted directory
    with local_server() as server:
        server.s3.create_bucket(Bucket="scratch")
        server.s3.put_object(Bucket="scratch", Key="data/rows.csv", Body=b"1,2\n")
        create(server.sagemaker, "waits", program(tmp_path / "image", "echo $$ > /opt/ml/pid.tmp\n"
                                                  "mv /opt/ml/pid.tmp /opt/ml/pid\nexec sleep 300\n"), "scratch")
        pid_file = instance_dir(server.data_dir, "waits") / "pid"
        wait_until(pid_file.exists, 60, "the job's program to start")
        pid = int(pid_file.read_text())
    assert not is_running(pid)
