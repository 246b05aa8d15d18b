"""The `modelbay` command as people and scripts use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def modelbay(*args: str, url: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a clean environment with no AWS credentials, as on a fresh machine."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MODELBAY_"))}
    base |= {"HOME": os.environ.get("HOME", "/tmp"), "AWS_CONFIG_FILE": "/nonexistent",
             "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", **(env or {})}
    if url:
        base["MODELBAY_URL"] = url
    return subprocess.run([sys.executable, "-m", "modelbay", *args], capture_output=True, text=True, env=base,
                          timeout=120)


def test_env_prints_exports_with_default_credentials(tmp_path: Path) -> None:
    done = modelbay("env", "--url", "http://127.0.0.1:9999", env={"HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    lines = dict(line.removeprefix("export ").split("=", 1) for line in done.stdout.splitlines())
    assert lines["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9999"
    assert lines["AWS_ACCESS_KEY_ID"] == "modelbay"
    assert lines["AWS_REGION"] == "us-east-1"
    defaults = json.loads(Path(lines["SAGEMAKER_USER_CONFIG_OVERRIDE"]).read_text())
    assert Path(lines["SAGEMAKER_USER_CONFIG_OVERRIDE"]) == tmp_path / ".modelbay" / "sagemaker" / "config.yaml"
    assert defaults["SageMaker"]["PythonSDK"]["Modules"]["Session"]["DefaultS3Bucket"] == (
        "sagemaker-us-east-1-000000000000")


def test_env_writes_the_sdk_defaults_under_the_data_dir(tmp_path: Path) -> None:
    done = modelbay("env", env={"HOME": str(tmp_path), "MODELBAY_DATA_DIR": str(tmp_path / "data")})
    assert f"SAGEMAKER_USER_CONFIG_OVERRIDE={tmp_path / 'data' / 'sagemaker' / 'config.yaml'}" in done.stdout


def test_configure_writes_a_profile_that_boto3_follows(server: Any, tmp_path: Path) -> None:
    files = {"AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds")}
    (tmp_path / "config").write_text("[profile mine]\nregion = eu-west-1\n")
    done = modelbay("configure", "--profile", "modelbay", url=server.url, env={"HOME": str(tmp_path), **files})
    assert done.returncode == 0, done.stderr
    assert "export AWS_PROFILE=modelbay SAGEMAKER_USER_CONFIG_OVERRIDE=" in done.stdout
    script = "import boto3; print(boto3.Session(profile_name='modelbay').client('sts').get_caller_identity()['Arn'])"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MODELBAY_"))} | files
    arn = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=clean, timeout=60)
    assert arn.stdout.strip() == "arn:aws:iam::000000000000:user/modelbay", arn.stderr
    assert "[profile mine]\nregion = eu-west-1" in (tmp_path / "config").read_text()  # the user's own is kept
    assert oct((tmp_path / "creds").stat().st_mode & 0o777) == "0o600"


def test_env_keeps_the_users_own_credentials(tmp_path: Path) -> None:
    done = modelbay("env", env={"AWS_ACCESS_KEY_ID": "mine", "AWS_SECRET_ACCESS_KEY": "s", "HOME": str(tmp_path)})
    assert "AWS_ACCESS_KEY_ID" not in done.stdout
    assert "AWS_ENDPOINT_URL=http://127.0.0.1:7070" in done.stdout


def test_s3_commands_round_trip(server: Any, unique: str, tmp_path: Path) -> None:
    source = tmp_path / "data.csv"
    source.write_text("a,b\n1,2\n")
    assert modelbay("s3", "mb", f"s3://{unique}", url=server.url).returncode == 0
    copied = modelbay("--json", "s3", "cp", str(source), f"s3://{unique}/train/", url=server.url)
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)["bytes"] == source.stat().st_size
    listed = json.loads(modelbay("--json", "s3", "ls", f"s3://{unique}/", url=server.url).stdout)
    assert listed == [{"LastModified": "", "Size": "PRE", "Key": "train/"}]
    listed = json.loads(modelbay("--json", "s3", "ls", "-r", f"s3://{unique}", url=server.url).stdout)
    assert [row["Key"] for row in listed] == ["train/data.csv"]
    back = tmp_path / "back.csv"
    assert modelbay("s3", "cp", f"s3://{unique}/train/data.csv", str(back), url=server.url).returncode == 0
    assert back.read_text() == source.read_text()
    assert modelbay("s3", "rm", "-r", f"s3://{unique}/train/", url=server.url).returncode == 0
    assert json.loads(modelbay("--json", "s3", "ls", "-r", f"s3://{unique}", url=server.url).stdout) == []


def test_errors_are_one_clear_line(server: Any) -> None:
    done = modelbay("s3", "ls", "s3://no-such-bucket-here", url=server.url)
    assert done.returncode == 1
    assert "NoSuchBucket" in done.stderr
    assert "Traceback" not in done.stderr
    unreachable = modelbay("s3", "ls", url="http://127.0.0.1:9")
    assert unreachable.returncode == 1
    assert "Traceback" not in unreachable.stderr
