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


def test_env_prints_exports_with_default_credentials() -> None:
    done = modelbay("env", "--url", "http://127.0.0.1:9999")
    assert done.returncode == 0, done.stderr
    lines = dict(line.removeprefix("export ").split("=", 1) for line in done.stdout.splitlines())
    assert lines["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9999"
    assert lines["AWS_ACCESS_KEY_ID"] == "modelbay"
    assert lines["AWS_REGION"] == "us-east-1"


def test_env_keeps_the_users_own_credentials() -> None:
    done = modelbay("env", env={"AWS_ACCESS_KEY_ID": "mine", "AWS_SECRET_ACCESS_KEY": "s"})
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
