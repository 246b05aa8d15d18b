"""The AWS CLI from PyPI, pointed at modelbay by `eval "$(modelbay env)"` alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import user_shell

AWS = str(Path(sys.executable).with_name("aws"))


def aws(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AWS, *args], capture_output=True, text=True, env=env, timeout=120)


def test_aws_s3_and_sagemaker_commands(server: Any, unique: str, tmp_path: Path) -> None:
    env = user_shell(server.url, tmp_path)
    data = tmp_path / "data.csv"
    data.write_text("1,2,3\n")
    assert aws(env, "s3", "mb", f"s3://{unique}").returncode == 0
    copied = aws(env, "s3", "cp", str(data), f"s3://{unique}/train/data.csv")
    assert copied.returncode == 0, copied.stderr
    listed = aws(env, "s3", "ls", f"s3://{unique}/train/")
    assert "data.csv" in listed.stdout
    tags = aws(env, "sagemaker", "list-tags", "--resource-arn",
               f"arn:aws:sagemaker:us-east-1:000000000000:model/{unique}")
    assert tags.returncode == 0, tags.stderr
    assert '"Tags": []' in tags.stdout
    identity = aws(env, "sts", "get-caller-identity")
    assert '"Account": "000000000000"' in identity.stdout
