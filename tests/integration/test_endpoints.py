"""Endpoints through boto3 against a real server: the whole lifecycle, traffic split, live changes,
blue/green under load, rollback, self-healing under load, inference pipelines and the errors.

The model is a scikit-learn LogisticRegression trained once by a script-mode training job.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.helpers import ROOT_SIGNED, ServerProcess, error_response, serve_image, serve_program, wait_until
from tests.integration.models import (
    CLASSIFIER,
    CLASSIFIER_ROWS,
    ROLE,
    SKLEARN,
    create_model,
    trained_artifact,
)

IN_SERVICE = {"Delay": 1, "MaxAttempts": 120}
CHI_SQUARE_1_DF_P001 = 10.828  # critical value of the chi-square distribution, 1 degree of freedom, p = 0.001
# A bring-your-own pipeline step: answers its input with a tag added, as text/csv or JSON.
STEP = serve_program(on_post="""
    text = body.decode()
    if os.environ["STEP"] == "pre":  # swap the two features: "a,b" -> "b,a"
        self.answer(",".join(reversed(text.strip().split(","))).encode(), "text/csv")
    else:
        seen = {"prediction": json.loads(text), "content_type": self.headers["Content-Type"]}
        self.answer(json.dumps(seen).encode(), "application/json")
""")


@pytest.fixture(scope="module")
def artifact(sagemaker: Any, s3: Any) -> str:
    """model.tar.gz of a classifier of (x, y) that says whether x > y, trained by a training job."""
    return trained_artifact(sagemaker, s3, "endpoints-" + os.urandom(4).hex(), CLASSIFIER, CLASSIFIER_ROWS)


@pytest.fixture(scope="module")
def runtime(server: ServerProcess) -> Any:
    return client(server.url, "sagemaker-runtime")


def create_config(sagemaker: Any, name: str, variants: list[tuple[str, str, int, float]]) -> str:
    """An endpoint config of variants (name, model, instance count, weight)."""
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": variant, "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": count,
         "InitialVariantWeight": weight} for variant, model, count, weight in variants])
    return name


def deploy(sagemaker: Any, name: str, config: str) -> dict[str, Any]:
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=IN_SERVICE)
    described: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=name)
    return described


def invoke(runtime: Any, endpoint: str, body: bytes = b"3,1", **extra: Any) -> tuple[str, str]:
    """(the answer, the variant that gave it)."""
    answer = runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv", **extra)
    return answer["Body"].read().decode(), answer["InvokedProductionVariant"]


def error_of(call: Any, **params: Any) -> dict[str, Any]:
    """The Error, its HTTP status as Status, and a model's Original* members."""
    response = error_response(call, **params)
    return dict(response["Error"]) | {"Status": response["ResponseMetadata"]["HTTPStatusCode"]} | {
        k: v for k, v in response.items() if k.startswith("Original")}


class Load:
    """Clients invoking an endpoint without pause on their own threads, counting answers and failures."""

    def __init__(self, url: str, endpoint: str, clients: int = 4) -> None:
        self.url, self.endpoint, self.clients = url, endpoint, clients
        self.variants: Counter[str] = Counter()
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        wait_until(lambda: sum(self.variants.values()) > 20, 30, "the load to flow")
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        runtime = client(self.url, "sagemaker-runtime")
        while not self._stop.is_set():
            try:
                self.variants[invoke(runtime, self.endpoint)[1]] += 1
            except Exception as error:  # every failure counts against the test
                self.failures.append(repr(error))


def test_the_whole_lifecycle(server: ServerProcess, sagemaker: Any, runtime: Any, artifact: str,
                             unique: str) -> None:
    config = create_config(sagemaker, unique, [("AllTraffic", create_model(sagemaker, unique, artifact), 2, 1.0)])
    described = deploy(sagemaker, unique, config)
    variant, = described["ProductionVariants"]
    assert (described["EndpointStatus"], variant["CurrentInstanceCount"], variant["CurrentWeight"]) == (
        "InService", 2, 1.0)
    assert variant["DeployedImages"][0]["SpecifiedImage"] == SKLEARN
    assert invoke(runtime, unique) == ("[1]", "AllTraffic")  # 3 > 1
    assert invoke(runtime, unique, b"1,3", Accept="text/csv") == ("0\n", "AllTraffic")
    placement = httpx.get(f"{server.url}/_modelbay/v1/endpoints/{unique}/instances",
                          auth=ROOT_SIGNED).json()["Instances"]
    assert sorted((p["variant"], p["zone"], p["in_rotation"]) for p in placement) == [
        ("AllTraffic", "us-east-1a", True), ("AllTraffic", "us-east-1b", True)]
    model_servers = [url for p in placement for url in p["urls"]]  # each its own, on SageMaker's port where it can
    assert len(set(model_servers)) == 2 and all(httpx.get(f"{url}/ping").status_code == 200 for url in model_servers)
    sagemaker.delete_endpoint(EndpointName=unique)
    sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=unique, WaiterConfig=IN_SERVICE)
    assert error_of(sagemaker.describe_endpoint, EndpointName=unique)["Message"] == (
        f'Could not find endpoint "arn:aws:sagemaker:us-east-1:000000000000:endpoint/{unique}".')
    assert error_of(runtime.invoke_endpoint, EndpointName=unique, Body=b"3,1", ContentType="text/csv")[
        "Message"] == f"Endpoint {unique} of account 000000000000 not found."
    assert httpx.get(f"{server.url}/_modelbay/v1/endpoints/{unique}/instances", auth=ROOT_SIGNED).status_code == 404


def test_traffic_follows_the_weights_and_target_variant(sagemaker: Any, runtime: Any, artifact: str,
                                                        unique: str) -> None:
    model = create_model(sagemaker, unique, artifact)
    deploy(sagemaker, unique, create_config(sagemaker, unique, [("a", model, 1, 0.8), ("b", model, 1, 0.2)]))
    seen = Counter(invoke(runtime, unique)[1] for _ in range(2000))
    expected = {"a": 1600, "b": 400}
    chi_square = sum((seen[v] - e) ** 2 / e for v, e in expected.items())
    assert chi_square < CHI_SQUARE_1_DF_P001, seen
    assert {invoke(runtime, unique, TargetVariant="b")[1] for _ in range(30)} == {"b"}
    error = error_of(runtime.invoke_endpoint, EndpointName=unique, Body=b"3,1", ContentType="text/csv",
                     TargetVariant="c")
    assert (error["Code"], error["Status"]) == ("ValidationError", 400)


def test_weights_change_live(sagemaker: Any, runtime: Any, artifact: str, unique: str) -> None:
    model = create_model(sagemaker, unique, artifact)
    deploy(sagemaker, unique, create_config(sagemaker, unique, [("a", model, 1, 1.0), ("b", model, 1, 1.0)]))
    sagemaker.update_endpoint_weights_and_capacities(EndpointName=unique, DesiredWeightsAndCapacities=[
        {"VariantName": "a", "DesiredWeight": 0.0}, {"VariantName": "b", "DesiredWeight": 1.0}])
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=unique, WaiterConfig=IN_SERVICE)
    weights = {v["VariantName"]: (v["CurrentWeight"], v["DesiredWeight"])
               for v in sagemaker.describe_endpoint(EndpointName=unique)["ProductionVariants"]}
    assert weights == {"a": (0.0, 0.0), "b": (1.0, 1.0)}
    assert {invoke(runtime, unique)[1] for _ in range(100)} == {"b"}


def test_update_endpoint_under_load_fails_no_request(server: ServerProcess, sagemaker: Any, artifact: str,
                                                     unique: str) -> None:
    model = create_model(sagemaker, unique, artifact)
    deploy(sagemaker, unique, create_config(sagemaker, unique, [("blue", model, 1, 1.0)]))
    green = create_config(sagemaker, unique + "-green", [("green", model, 2, 1.0)])
    with Load(server.url, unique) as load:
        sagemaker.update_endpoint(EndpointName=unique, EndpointConfigName=green)
        assert sagemaker.describe_endpoint(EndpointName=unique)["EndpointStatus"] == "Updating"
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=unique, WaiterConfig=IN_SERVICE)
        before = load.variants["green"]
        wait_until(lambda: load.variants["green"] > before + 20, 30, "green to take the traffic")
    assert load.failures == []
    assert load.variants["blue"] > 0 and load.variants["green"] > 0
    described = sagemaker.describe_endpoint(EndpointName=unique)
    assert (described["EndpointConfigName"], [v["VariantName"] for v in described["ProductionVariants"]]) == (
        green, ["green"])


def test_a_failing_update_leaves_the_endpoint_serving_its_old_config(sagemaker: Any, runtime: Any, artifact: str,
                                                                     unique: str) -> None:
    deploy(sagemaker, unique, create_config(sagemaker, unique, [("a", create_model(sagemaker, unique, artifact),
                                                                 1, 1.0)]))
    broken = create_model(sagemaker, unique + "-broken", artifact.replace("model.tar.gz", "missing.tar.gz"))
    sagemaker.update_endpoint(EndpointName=unique, EndpointConfigName=create_config(
        sagemaker, unique + "-broken", [("a", broken, 1, 1.0)]))

    def rolled_back() -> dict[str, Any] | None:
        described: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=unique)
        return described if described["EndpointStatus"] == "InService" else None
    described = wait_until(rolled_back, 60, "the update to fail")
    assert isinstance(described, dict)
    assert described["EndpointConfigName"] == unique
    assert "missing.tar.gz could not be unpacked" in described["FailureReason"]
    assert invoke(runtime, unique) == ("[1]", "a")


def model_servers(tag: str) -> list[int]:
    """Pids of the model servers (not their workers) whose environment holds TEST_TAG=<tag>."""
    found = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if (proc.name.isdigit() and f"TEST_TAG={tag}".encode() in (proc / "environ").read_bytes().split(b"\0")
                    and b"modelbay.container.serve" in (proc / "cmdline").read_bytes()):
                found.append(int(proc.name))
    return found


def test_sigkill_of_an_instance_under_load_fails_no_request_and_it_is_replaced(
        server: ServerProcess, sagemaker: Any, artifact: str, unique: str) -> None:
    model = create_model(sagemaker, unique, artifact, TEST_TAG=unique)
    deploy(sagemaker, unique, create_config(sagemaker, unique, [("a", model, 2, 1.0)]))
    first = model_servers(unique)
    assert len(first) == 2
    with Load(server.url, unique) as load:
        os.killpg(os.getpgid(first[0]), signal.SIGKILL)
        wait_until(lambda: len(set(model_servers(unique)) - set(first)) == 1, 60, "a replacement to start")
        wait_until(lambda: sagemaker.describe_endpoint(EndpointName=unique)["ProductionVariants"][0][
            "CurrentInstanceCount"] == 2, 60, "the replacement to serve")
        served = sum(load.variants.values())
        wait_until(lambda: sum(load.variants.values()) > served + 20, 30, "more answers")
    assert load.failures == []


def test_an_inference_pipeline_of_three_containers(sagemaker: Any, runtime: Any, artifact: str, unique: str,
                                                   scratch: Path) -> None:
    step = serve_image(scratch / "step", STEP)
    sagemaker.create_model(ModelName=unique, ExecutionRoleArn=ROLE, Containers=[
        {"Image": step, "Environment": {"STEP": "pre"}},
        {"Image": SKLEARN, "ModelDataUrl": artifact, "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}},
        {"Image": step, "Environment": {"STEP": "post"}}])
    deploy(sagemaker, unique, create_config(sagemaker, unique, [("AllTraffic", unique, 1, 1.0)]))
    answer = runtime.invoke_endpoint(EndpointName=unique, Body=b"3,1", ContentType="text/csv")
    assert answer["ContentType"] == "application/json"
    # "3,1" became "1,3" (so the model says 0), and the last step saw the model's JSON answer
    assert answer["Body"].read() == b'{"prediction": [0], "content_type": "application/json"}'


def test_invocation_errors_are_sagemakers(sagemaker: Any, runtime: Any, artifact: str, unique: str) -> None:
    deploy(sagemaker, unique, create_config(sagemaker, unique, [("a", create_model(sagemaker, unique, artifact),
                                                                 1, 1.0)]))
    model_error = error_of(runtime.invoke_endpoint, EndpointName=unique, Body=b"not,numbers", ContentType="text/csv")
    assert (model_error["Code"], model_error["Status"], model_error["OriginalStatusCode"]) == ("ModelError", 424, 500)
    assert model_error["OriginalMessage"].startswith("ValueError: ")  # the model server's own words
    too_big = error_of(runtime.invoke_endpoint, EndpointName=unique, Body=b"1" * (6 * 1024 * 1024 + 1),
                       ContentType="text/csv")
    assert (too_big["Code"], too_big["Status"]) == ("ValidationError", 400)
    unknown = error_of(runtime.invoke_endpoint, EndpointName="no-such-endpoint", Body=b"1", ContentType="text/csv")
    assert unknown["Message"] == "Endpoint no-such-endpoint of account 000000000000 not found."
    stream_error = error_of(runtime.invoke_endpoint_with_response_stream, EndpointName=unique, Body=b"not,numbers",
                            ContentType="text/csv")
    assert (stream_error["Code"], stream_error["OriginalStatusCode"]) == ("ModelError", 500)
    whole = runtime.invoke_endpoint(EndpointName=unique, Body=b"3,1", ContentType="text/csv")["Body"].read()
    streamed = runtime.invoke_endpoint_with_response_stream(EndpointName=unique, Body=b"3,1", ContentType="text/csv")
    assert b"".join(event["PayloadPart"]["Bytes"] for event in streamed["Body"]) == whole  # an answer sent whole


@pytest.fixture(autouse=True)
def _no_leftover_endpoints(sagemaker: Any, unique: str) -> Iterator[None]:
    """Delete what a test deployed (once it may be deleted), so its model servers do not outlive it."""
    yield

    def deleted_or_gone() -> bool:
        try:
            sagemaker.delete_endpoint(EndpointName=unique)
        except ClientError as error:
            return "Could not find endpoint" in error.response["Error"]["Message"]
        return True
    wait_until(deleted_or_gone, 120, f"endpoint {unique} to be deletable")
