"""Serverless endpoints deployed by the SageMaker Python SDK v2, unchanged: no instance while idle, a cold start on
the first invocation, back to zero after the idle timeout, ThrottlingException past MaxConcurrency, provisioned
concurrency kept warm, and usage in GB-seconds."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.helpers import ROOT_SIGNED, ServerProcess, modelbay_server, user_shell, wait_until
from tests.integration.test_cli import modelbay

IDLE_S = 3  # the test server's MODELBAY_SERVERLESS_IDLE_S
# The scikit-learn container's entry point: no model file is needed; "sleep" holds a worker for a second.
INFERENCE = """
    import time

    def model_fn(model_dir):
        return "model"

    def transform_fn(model, body, content_type, accept):
        text = body if isinstance(body, str) else body.decode()
        if text == "sleep":
            time.sleep(1.5)
        if text == "hog":  # more than the 1024 MB the "warm" variant has
            hoard = bytearray(1536 * 1024 * 1024)
            hoard[::4096] = b"x" * len(hoard[::4096])
        return text.upper(), "text/plain"
"""
# The user's script: an SKLearnModel deployed serverless twice, as the SDK's own documentation shows it.
DEPLOY = """
    import json, sys
    import sagemaker
    from sagemaker.sklearn import SKLearnModel
    from sagemaker.serverless import ServerlessInferenceConfig

    session = sagemaker.Session()
    data = session.upload_data("model.tar.gz", key_prefix="serverless-test")
    names = {}
    for name, config in (("cold", ServerlessInferenceConfig(memory_size_in_mb=2048, max_concurrency=2)),
                         ("warm", ServerlessInferenceConfig(memory_size_in_mb=1024, max_concurrency=1,
                                                            provisioned_concurrency=1))):
        model = SKLearnModel(model_data=data, entry_point="inference.py", framework_version="1.2-1",
                             role="SageMakerExecutionRole", sagemaker_session=session)
        predictor = model.deploy(serverless_inference_config=config, endpoint_name=f"serverless-{name}", wait=False)
        names[name] = predictor.endpoint_name
    print(json.dumps(names))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with modelbay_server(tmp_path_factory.mktemp("serverless"), {"MODELBAY_SERVERLESS_IDLE_S": str(IDLE_S)}) as srv:
        yield srv


@pytest.fixture(scope="module")
def deployed(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The two endpoints the SDK deployed: "cold" (MaxConcurrency 2) and "warm" (ProvisionedConcurrency 1)."""
    home = tmp_path_factory.mktemp("user")
    (home / "inference.py").write_text(textwrap.dedent(INFERENCE))
    with tarfile.open(home / "model.tar.gz", "w:gz") as archive:
        info = tarfile.TarInfo("README")
        archive.addfile(info, io.BytesIO(b""))
    (home / "user.py").write_text(textwrap.dedent(DEPLOY))
    done = subprocess.run([sys.executable, "user.py"], cwd=home, capture_output=True, text=True, timeout=600,
                          env=user_shell(server.url, home) | {"SAGEMAKER_SUPPRESS_V2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-5000:]
    names: dict[str, str] = json.loads(done.stdout.splitlines()[-1])  # after the SDK's own lines
    sagemaker = client(server.url, "sagemaker")
    for name in names.values():  # as the SDK's deploy(wait=True) does, polling more often than its 30 s
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.2})
    return names


@pytest.fixture(scope="module")
def runtime(server: ServerProcess) -> Any:
    return client(server.url, "sagemaker-runtime")


def instances(server: ServerProcess, endpoint: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.url}/_modelbay/v1/endpoints/{endpoint}/instances", timeout=10, auth=ROOT_SIGNED)
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()["Instances"]
    return found


def invoke(runtime: Any, endpoint: str, text: str) -> str:
    answer = runtime.invoke_endpoint(EndpointName=endpoint, Body=text, ContentType="text/plain")
    said: str = answer["Body"].read().decode()
    return said


def test_describe_shows_the_serverless_config(server: ServerProcess, deployed: dict[str, str]) -> None:
    sagemaker = client(server.url, "sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=deployed["cold"])
    assert endpoint["EndpointStatus"] == "InService"
    [variant] = endpoint["ProductionVariants"]
    expected = {"MemorySizeInMB": 2048, "MaxConcurrency": 2}
    assert variant["CurrentServerlessConfig"] == variant["DesiredServerlessConfig"] == expected
    assert "CurrentInstanceCount" not in variant


def test_a_cold_start_serves_then_the_variant_scales_to_zero_and_starts_again(
        server: ServerProcess, deployed: dict[str, str], runtime: Any) -> None:
    name = deployed["cold"]
    wait_until(lambda: instances(server, name) == [], timeout_s=30, what="no instance while idle")
    assert invoke(runtime, name, "hello") == "HELLO"  # waited for its cold start
    assert len(instances(server, name)) == 1
    wait_until(lambda: instances(server, name) == [], timeout_s=IDLE_S + 30, what="the idle instance to stop")
    assert invoke(runtime, name, "again") == "AGAIN"
    cloudwatch, now = client(server.url, "cloudwatch"), datetime.now(UTC)

    def setups() -> list[dict[str, Any]]:  # each cold start's ModelSetupTime, as SageMaker publishes it
        return list(cloudwatch.get_metric_statistics(
            Namespace="AWS/SageMaker", MetricName="ModelSetupTime", Statistics=["SampleCount", "Maximum"],
            Dimensions=[{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"}],
            StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=1), Period=3600)["Datapoints"])
    [setup] = wait_until(lambda: [p for p in setups() if p["SampleCount"] >= 2], 10, "both cold starts' ModelSetupTime")
    assert 0 < setup["Maximum"] < 60e6  # microseconds


def test_invocations_past_max_concurrency_are_throttled(deployed: dict[str, str], runtime: Any) -> None:
    name = deployed["cold"]
    invoke(runtime, name, "warm up")

    def attempt(_: int) -> str:
        try:
            return invoke(runtime, name, "sleep")
        except ClientError as error:
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            return str(error.response["Error"]["Code"])

    with ThreadPoolExecutor(5) as pool:
        outcomes = list(pool.map(attempt, range(5)))
    assert outcomes.count("SLEEP") == 2, outcomes  # MaxConcurrency 2: two answered at once
    assert outcomes.count("ThrottlingException") == 3, outcomes


def test_provisioned_concurrency_stays_warm(server: ServerProcess, deployed: dict[str, str], runtime: Any) -> None:
    warm, cold = deployed["warm"], deployed["cold"]
    assert invoke(runtime, warm, "warm") == "WARM"
    [instance] = instances(server, warm)
    invoke(runtime, cold, "later")  # idle for less time than the warm one from now on
    wait_until(lambda: instances(server, cold) == [], timeout_s=IDLE_S + 30, what="the idle instance to stop")
    assert instances(server, warm) == [instance]  # idle longer than the timeout, and still there


def test_describe_shows_the_gb_seconds_used(server: ServerProcess, deployed: dict[str, str], runtime: Any) -> None:
    name = deployed["cold"]
    invoke(runtime, name, "sleep")  # 1.5 s at 2 GB: at least 3 GB-seconds

    def used() -> float:
        done = modelbay("--json", "endpoints", "describe", name, url=server.url)
        assert done.returncode == 0, done.stderr
        [variant] = json.loads(done.stdout)["ServerlessUsage"]
        return float(variant["GBSeconds"])
    wait_until(lambda: used() >= 3.0, timeout_s=30, what="the invocation's GB-seconds to be recorded")
    done = modelbay("endpoints", "describe", name, url=server.url)
    assert "Serverless usage" in done.stdout and "2048 MB" in done.stdout, done.stdout


def test_a_model_that_outgrows_its_memory_size_fails_and_the_variant_recovers(
        deployed: dict[str, str], runtime: Any) -> None:
    name = deployed["warm"]  # 1024 MB
    with pytest.raises(ClientError) as failed:
        invoke(runtime, name, "hog")  # the kernel kills the worker at the limit: the connection drops unanswered
    assert failed.value.response["Error"]["Code"] == "ServiceUnavailable"
    wait_until(lambda: _answers(runtime, name), timeout_s=60, what="the variant to answer again")


def _answers(runtime: Any, name: str) -> bool:
    try:
        return invoke(runtime, name, "ok") == "OK"
    except ClientError:
        return False
