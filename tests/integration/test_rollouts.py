"""Deployment guardrails through boto3 against a server of their own, each under a steady load that must see no
failed request: a canary rolled back by its latency alarm, a linear traffic shift measured on the variants'
Invocations, and a rolling update."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import client
from tests.helpers import ServerProcess, modelbay_server, serve_image, serve_program, wait_until
from tests.integration.load import Load
from tests.integration.models import ROLE


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The rollouts' own server: the shared one's endpoint controller passes over every other test's endpoints too,
    which stretched these tests' bakes and alarm periods from 10-19 s each to 71-86 s in the whole suite."""
    with modelbay_server(tmp_path_factory.mktemp("rollouts")) as proc:
        yield proc


@pytest.fixture(scope="module")
def sagemaker(server: ServerProcess) -> Any:
    return client(server.url, "sagemaker")


FAST = serve_program(on_post='self.answer(b"blue")')
SLOW = serve_program(preamble="import time", on_post='time.sleep(0.03)\nself.answer(b"green")')


def endpoint_on(sagemaker: Any, tmp_path: Path, name: str, variant: str, program: str, count: int = 1) -> None:
    """A model serving `program` and an endpoint config `name` of one variant of `count` instances."""
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                           PrimaryContainer={"Image": serve_image(tmp_path / name, program)})
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": variant, "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": count}])


def in_service(sagemaker: Any, name: str) -> dict[str, Any]:
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 90})
    described: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=name)
    return described


def pending_status(sagemaker: Any, name: str) -> str | None:
    pending = sagemaker.describe_endpoint(EndpointName=name).get("PendingDeploymentSummary")
    statuses = pending["ProductionVariants"][0].get("VariantStatus", []) if pending else []
    return statuses[0]["Status"] if statuses else None


def test_a_canary_whose_latency_alarm_fires_rolls_back_without_a_failed_request(
        server: ServerProcess, sagemaker: Any, unique: str, tmp_path: Path) -> None:
    cloudwatch = client(server.url, "cloudwatch")
    endpoint_on(sagemaker, tmp_path, unique, "blue", FAST)
    endpoint_on(sagemaker, tmp_path, f"{unique}-slow", "green", SLOW)
    sagemaker.create_endpoint(EndpointName=unique, EndpointConfigName=unique)
    in_service(sagemaker, unique)
    alarm = f"{unique}-latency"
    cloudwatch.put_metric_alarm(  # the green fleet answers in 30 ms: over 20 ms on average is too slow
        AlarmName=alarm, Namespace="AWS/SageMaker", MetricName="ModelLatency", Statistic="Average", Period=10,
        EvaluationPeriods=1, Threshold=20_000, ComparisonOperator="GreaterThanThreshold",
        Dimensions=[{"Name": "EndpointName", "Value": unique}, {"Name": "VariantName", "Value": "green"}])
    with Load(server.url, unique, clients=4, pause_s=0) as load:
        sagemaker.update_endpoint(EndpointName=unique, EndpointConfigName=f"{unique}-slow", DeploymentConfig={
            "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
                "Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                "WaitIntervalInSeconds": 600}},
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]}})
        wait_until(lambda: pending_status(sagemaker, unique) == "Baking", 60, "the canary to bake")
        wait_until(lambda: sagemaker.describe_endpoint(EndpointName=unique)["EndpointStatus"] != "Updating", 60,
                   "the alarm to roll the canary back")
        described = in_service(sagemaker, unique)
    assert load.failures == [] and load.answers > 100
    assert described["EndpointConfigName"] == unique and "PendingDeploymentSummary" not in described
    assert described["FailureReason"] == (f"CloudWatch alarm {alarm} went into the ALARM state during traffic "
                                          "shifting step 1 of 2; the deployment was rolled back to the previous "
                                          "endpoint configuration.")
    assert described["LastDeploymentConfig"]["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": alarm}]}
    assert [v["VariantName"] for v in described["ProductionVariants"]] == ["blue"]
    cloudwatch.delete_alarms(AlarmNames=[alarm])
    sagemaker.delete_endpoint(EndpointName=unique)


def shares(cloudwatch: Any, endpoint: str, since: datetime, bucket_s: int) -> list[float]:
    """The green variant's share of the endpoint's Invocations (read per second) in each `bucket_s` seconds since
    `since` that had enough of them to tell."""
    def query(variant: str) -> dict[str, Any]:
        return {"Id": variant, "MetricStat": {"Stat": "Sum", "Period": 1, "Metric": {
            "Namespace": "AWS/SageMaker", "MetricName": "Invocations",
            "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]}}}
    results = cloudwatch.get_metric_data(StartTime=since, EndTime=datetime.now(UTC),
                                         MetricDataQueries=[query("blue"), query("green")])["MetricDataResults"]
    counts: dict[int, dict[str, float]] = {}
    for result in results:
        for at, value in zip(result["Timestamps"], result["Values"], strict=True):
            bucket = counts.setdefault(int(at.timestamp()) // bucket_s, {})
            bucket[result["Id"]] = bucket.get(result["Id"], 0) + value
    return [c.get("green", 0) / total for _, c in sorted(counts.items())
            if (total := c.get("green", 0) + c.get("blue", 0)) >= 100]


def test_a_linear_shift_moves_traffic_step_by_step(server: ServerProcess, sagemaker: Any, unique: str,
                                                   tmp_path: Path) -> None:
    cloudwatch = client(server.url, "cloudwatch")
    endpoint_on(sagemaker, tmp_path, unique, "blue", FAST)
    endpoint_on(sagemaker, tmp_path, f"{unique}-new", "green", serve_program(on_post='self.answer(b"green")'))
    sagemaker.create_endpoint(EndpointName=unique, EndpointConfigName=unique)
    in_service(sagemaker, unique)
    began = datetime.now(UTC) - timedelta(seconds=2)
    with Load(server.url, unique, clients=4, pause_s=0.005) as load:
        sagemaker.update_endpoint(EndpointName=unique, EndpointConfigName=f"{unique}-new", DeploymentConfig={
            "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": {
                "Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 34},
                "WaitIntervalInSeconds": 5}}})
        wait_until(lambda: pending_status(sagemaker, unique) == "Baking", 60, "the first step")
        described = in_service(sagemaker, unique)
    assert load.failures == [] and described["EndpointConfigName"] == f"{unique}-new"
    seen = shares(cloudwatch, unique, began, bucket_s=2)
    # each step's share shows in the periods within it (a period across two steps lies between them)
    for step in (0.34, 0.68, 1.0):
        assert any(abs(share - step) < 0.1 for share in seen), (step, seen)
    assert all(later > earlier - 0.15 for earlier, later in zip(seen, seen[1:], strict=False)), seen
    assert seen[-1] == 1.0
    sagemaker.delete_endpoint(EndpointName=unique)


def test_a_rolling_update_completes_without_a_failed_request(server: ServerProcess, sagemaker: Any, unique: str,
                                                             tmp_path: Path) -> None:
    endpoint_on(sagemaker, tmp_path, unique, "AllTraffic", FAST, count=2)
    endpoint_on(sagemaker, tmp_path, f"{unique}-new", "AllTraffic", serve_program(on_post='self.answer(b"new")'),
                count=2)
    sagemaker.create_endpoint(EndpointName=unique, EndpointConfigName=unique)
    in_service(sagemaker, unique)
    with Load(server.url, unique, clients=4, pause_s=0.005) as load:
        sagemaker.update_endpoint(EndpointName=unique, EndpointConfigName=f"{unique}-new", DeploymentConfig={
            "RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
                                    "WaitIntervalInSeconds": 2}})
        wait_until(lambda: pending_status(sagemaker, unique) == "Baking", 60, "the first batch to bake")
        described = in_service(sagemaker, unique)
    assert load.failures == [] and load.answers > 50
    assert described["EndpointConfigName"] == f"{unique}-new" and "FailureReason" not in described
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    sagemaker.delete_endpoint(EndpointName=unique)
