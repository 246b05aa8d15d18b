"""A server started with --tls-self-signed, as its users reach it: boto3 trusting its authority (verify=, and
AWS_CA_BUNDLE), the AWS CLI and the SageMaker Python SDK after `eval "$(modelbay env)"`, which hands out
AWS_CA_BUNDLE; a client that does not trust the authority is refused."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import httpx
import pytest

from modelbay.config import ROOT_KEY_FILE
from tests.conftest import CREDENTIALS
from tests.helpers import ServerProcess, modelbay_server
from tests.integration.test_aws_cli import AWS

# What the SageMaker SDK does first in a notebook: a session, data uploaded to S3, the jobs listed and described.
SDK_PROGRAM = """
    import sys, sagemaker
    session = sagemaker.Session()
    uri = session.upload_data(sys.argv[1], bucket=sys.argv[2], key_prefix="train")
    client = session.sagemaker_client
    print("uploaded:", uri, "listed:", len(client.list_training_jobs()["TrainingJobSummaries"]))
    try:
        client.describe_training_job(TrainingJobName="no-such-job")
    except client.exceptions.ClientError as error:
        print("described:", error.response["Error"]["Code"])
"""


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with modelbay_server(tmp_path_factory.mktemp("tls"), {"MODELBAY_TLS_SELF_SIGNED": "true"}) as server:
        yield server


def authority(server: ServerProcess) -> Path:
    return server.data_dir / "tls" / "ca.pem"


def shell(server: ServerProcess, home: Path) -> dict[str, str]:
    """A user's environment after `eval "$(modelbay env)"` on the server's machine (its data directory, so its root
    key and authority, are hers), with no AWS set-up of her own."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MODELBAY_", "SAGEMAKER_"))}
    clean |= {"HOME": str(home), "MODELBAY_DATA_DIR": str(server.data_dir),
              "AWS_CONFIG_FILE": str(home / "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "none")}
    exports = subprocess.run([sys.executable, "-m", "modelbay", "env", "--url", server.url], capture_output=True,
                             text=True, env=clean, check=True).stdout
    for line in exports.splitlines():
        name, value = line.removeprefix("export ").split("=", 1)
        clean[name] = shlex.split(value)[0]
    return clean


def test_the_server_listens_on_https_and_says_so(tls_server: ServerProcess) -> None:
    assert tls_server.url.startswith("https://127.0.0.1:")
    assert (tls_server.data_dir / ROOT_KEY_FILE).exists() and authority(tls_server).exists()
    with pytest.raises(httpx.RemoteProtocolError):  # plain HTTP is not answered on a TLS port
        httpx.get(tls_server.url.replace("https:", "http:") + "/", timeout=10)


def test_boto3_trusting_the_authority_is_served_and_one_that_does_not_is_refused(
        tls_server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    given = boto3.client("sagemaker", endpoint_url=tls_server.url, verify=str(authority(tls_server)), **CREDENTIALS)
    assert given.list_training_jobs()["TrainingJobSummaries"] == []
    monkeypatch.setenv("AWS_CA_BUNDLE", str(authority(tls_server)))
    from_environment = boto3.session.Session().client("sts", endpoint_url=tls_server.url, **CREDENTIALS)
    assert from_environment.get_caller_identity()["Arn"] == "arn:aws:iam::000000000000:root"
    monkeypatch.delenv("AWS_CA_BUNDLE")
    untrusting = boto3.session.Session().client("sts", endpoint_url=tls_server.url, **CREDENTIALS)
    with pytest.raises(botocore.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        untrusting.get_caller_identity()


def test_the_aws_cli_and_the_sagemaker_sdk_after_modelbay_env(tls_server: ServerProcess, tmp_path: Path) -> None:
    env = shell(tls_server, tmp_path)
    assert env["AWS_CA_BUNDLE"] == str(authority(tls_server)) and env["AWS_ENDPOINT_URL"] == tls_server.url
    listed = subprocess.run([AWS, "sagemaker", "list-training-jobs"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert listed.returncode == 0 and '"TrainingJobSummaries": []' in listed.stdout, listed.stderr
    made = subprocess.run([AWS, "s3", "mb", "s3://tls-sdk"], capture_output=True, text=True, env=env, timeout=120)
    assert made.returncode == 0, made.stderr
    refused = subprocess.run([AWS, "sts", "get-caller-identity"], capture_output=True, text=True, timeout=120,
                             env={k: v for k, v in env.items() if k != "AWS_CA_BUNDLE"})
    assert refused.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr

    data = tmp_path / "rows.csv"
    data.write_text("1,2\n")
    program = tmp_path / "notebook.py"
    program.write_text(textwrap.dedent(SDK_PROGRAM))
    done = subprocess.run([sys.executable, str(program), str(data), "tls-sdk"], capture_output=True, text=True,
                          env=env | {"SAGEMAKER_SUPPRESS_V2_WARNING": "1"}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "uploaded: s3://tls-sdk/train/rows.csv listed: 0" in done.stdout
    assert "described: ValidationException" in done.stdout
    s3: Any = boto3.client("s3", endpoint_url=tls_server.url, verify=str(authority(tls_server)), **CREDENTIALS)
    assert s3.get_object(Bucket="tls-sdk", Key="train/rows.csv")["Body"].read() == b"1,2\n"
