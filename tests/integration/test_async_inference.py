"""Asynchronous inference through boto3 and the SageMaker SDK's AsyncPredictor: InvokeEndpointAsync answers at once,
the answer (or the model's failure) lands where SageMaker writes it, and a queued request survives a server killed
under it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelbay.sdk import Model, Session
from tests.conftest import client
from tests.helpers import ROOT_SIGNED, ServerProcess, bad_request, user_shell, wait_until
from tests.integration.test_cli import modelbay
from tests.integration.test_endpoints import IN_SERVICE

# Answers in capitals with the content type it was sent; fails on "boom"; takes two seconds on "slow".
SCRIPT = """
    import time

    def model_fn(model_dir):
        return None

    def transform_fn(model, body, content_type, accept):
        text = body if isinstance(body, str) else body.decode()
        if "boom" in text:
            raise ValueError(f"cannot answer {text}")
        if "slow" in text:
            time.sleep(2)
        return f"{content_type}:{text.upper()}", "text/plain"
"""


def deploy_async(url: str, folder: Path, name: str, failure_path: bool = True) -> None:
    """An InService endpoint `name` of SCRIPT on one instance, asynchronous, its answers in bucket `name`."""
    (folder / "model.py").write_text(textwrap.dedent(SCRIPT))
    model = Model(framework="python", entry_point=str(folder / "model.py"), session=Session(url=url)).create()
    sagemaker = client(url, "sagemaker")
    client(url, "s3").create_bucket(Bucket=name)
    output = {"S3OutputPath": f"s3://{name}/out/"} | ({"S3FailurePath": f"s3://{name}/failed"} if failure_path else {})
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "a", "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
        AsyncInferenceConfig={"OutputConfig": output, "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2}})
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=IN_SERVICE)


def read_when_written(s3: Any, uri: str) -> tuple[bytes, str]:
    """The object at `uri` once it exists, and its content type."""
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    wait_until(lambda: s3.list_objects_v2(Bucket=bucket, Prefix=key)["KeyCount"], 60, f"{uri} to be written")
    found = s3.get_object(Bucket=bucket, Key=key)
    return found["Body"].read(), found["ContentType"]


def backlog(url: str, endpoint: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/_modelbay/v1/endpoints/{endpoint}/async-backlog", timeout=10, auth=ROOT_SIGNED)
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


@pytest.fixture(scope="module")
def endpoint(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    name = "async-shared"
    deploy_async(server.url, tmp_path_factory.mktemp("async"), name)
    return name


def test_answers_and_failures_are_written_where_sagemaker_writes_them(server: ServerProcess, endpoint: str,
                                                                      s3: Any) -> None:
    runtime = client(server.url, "sagemaker-runtime")
    s3.put_object(Bucket=endpoint, Key="in/ok.txt", Body=b"hello")
    s3.put_object(Bucket=endpoint, Key="in/bad.txt", Body=b"boom")
    ok = runtime.invoke_endpoint_async(EndpointName=endpoint, InputLocation=f"s3://{endpoint}/in/ok.txt",
                                       ContentType="text/plain", InferenceId="first")
    assert ok["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert (ok["InferenceId"], ok["OutputLocation"], ok["FailureLocation"]) == (
        "first", f"s3://{endpoint}/out/first.out", f"s3://{endpoint}/failed/first-error.out")
    assert read_when_written(s3, ok["OutputLocation"]) == (b"text/plain:HELLO", "text/plain")

    bad = runtime.invoke_endpoint_async(EndpointName=endpoint, InputLocation=f"s3://{endpoint}/in/bad.txt")
    assert bad["InferenceId"] and bad["OutputLocation"] == f"s3://{endpoint}/out/{bad['InferenceId']}.out"
    said, _ = read_when_written(s3, bad["FailureLocation"])
    assert b"cannot answer boom" in said
    assert s3.list_objects_v2(Bucket=endpoint, Prefix=f"out/{bad['InferenceId']}")["KeyCount"] == 0
    wait_until(lambda: backlog(server.url, endpoint)["ApproximateBacklogSize"] == 0, 30, "the queue to empty")
    described = modelbay("--json", "endpoints", "describe", endpoint, url=server.url)
    assert json.loads(described.stdout)["AsyncBacklog"] == {
        "EndpointName": endpoint, "ApproximateBacklogSize": 0, "ApproximateBacklogSizePerInstance": 0.0}
    assert "Async backlog" in modelbay("endpoints", "describe", endpoint, url=server.url).stdout


def test_requests_that_cannot_be_queued_are_refused_in_sagemakers_words(server: ServerProcess, endpoint: str,
                                                                       sagemaker: Any) -> None:
    runtime = client(server.url, "sagemaker-runtime")
    assert bad_request(runtime.invoke_endpoint_async, EndpointName="nowhere",
                          InputLocation="s3://b/k")["Message"] == "Endpoint nowhere of account 000000000000 not found."
    assert "exactly one of InputLocation and Body" in bad_request(
        runtime.invoke_endpoint_async, EndpointName=endpoint)["Message"]
    assert "must be the S3 URI of an object" in bad_request(
        runtime.invoke_endpoint_async, EndpointName=endpoint, InputLocation="s3://bucket-only")["Message"]
    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    assert described["AsyncInferenceConfig"]["ClientConfig"] == {"MaxConcurrentInvocationsPerInstance": 2}
    for invoke in (runtime.invoke_endpoint, runtime.invoke_endpoint_with_response_stream):  # only from its queue
        assert bad_request(invoke, EndpointName=endpoint, Body=b"x")["Message"] == (
            f"Endpoint {endpoint} of account 000000000000 is an asynchronous inference endpoint: "
            "call InvokeEndpointAsync.")


# The SDK's AsyncPredictor over the shared endpoint, as a user runs it: predict_async uploads the input to the default
# bucket, get_result polls the output and failure locations.
SDK_CODE = """
    import json, sys
    import sagemaker
    from sagemaker.async_inference import WaiterConfig
    from sagemaker.exceptions import AsyncInferenceModelError
    from sagemaker.predictor import Predictor
    from sagemaker.predictor_async import AsyncPredictor

    predictor = AsyncPredictor(Predictor(sys.argv[1], sagemaker_session=sagemaker.Session()))
    waiting = WaiterConfig(max_attempts=8, delay=1)  # a get_result's other waiter polls on: the process waits for it
    answer = predictor.predict_async(data=b"sdk").get_result(waiting)
    try:
        predictor.predict_async(data=b"boom").get_result(waiting)
        failure = None
    except AsyncInferenceModelError as error:
        failure = str(error)
    print(json.dumps({"answer": answer.decode(), "failure": failure}))
"""


def test_the_sdks_async_predictor_gets_results_and_model_errors(server: ServerProcess, endpoint: str,
                                                                tmp_path: Path) -> None:
    (tmp_path / "user.py").write_text(textwrap.dedent(SDK_CODE))
    done = subprocess.run([sys.executable, "user.py", endpoint], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env=user_shell(server.url, tmp_path) | {"SAGEMAKER_SUPPRESS_V2_WARNING": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["answer"] == "application/octet-stream:SDK"  # the input's type, as the SDK stored it in S3
    assert "cannot answer boom" in result["failure"]


def test_a_queued_request_survives_a_server_killed_under_it(tmp_path: Path, unique: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = ServerProcess(data)
    server.start()
    try:
        deploy_async(server.url, tmp_path, unique, failure_path=False)
        s3 = client(server.url, "s3")
        s3.put_object(Bucket=unique, Key="in/slow.txt", Body=b"slow")
        queued = client(server.url, "sagemaker-runtime").invoke_endpoint_async(
            EndpointName=unique, InputLocation=f"s3://{unique}/in/slow.txt", ContentType="text/plain")
        assert "FailureLocation" not in queued
        assert backlog(server.url, unique)["ApproximateBacklogSize"] == 1  # the model takes two seconds on it
        server.kill()
        server.start()
        s3 = client(server.url, "s3")
        assert read_when_written(s3, queued["OutputLocation"]) == (b"text/plain:SLOW", "text/plain")
        wait_until(lambda: backlog(server.url, unique)["ApproximateBacklogSize"] == 0, 30, "the queue to empty")
    finally:
        server.stop()
