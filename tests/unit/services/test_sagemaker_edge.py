"""The sagemaker-edge API as service functions: a device's registration, what a heartbeat records (the device's
state, CloudWatch metrics, its deployment's result) and the deployments a device is given."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from modelbay.monitoring.edge_heartbeats import EDGE_NAMESPACE
from modelbay.services.base import Context
from modelbay.services.sagemaker.device_fleets import OPERATIONS as SAGEMAKER_OPERATIONS
from modelbay.services.sagemaker_edge import OPERATIONS
from modelbay.store.metadata.metrics import MetricKey
from tests.unit.services.service_calls import ServiceCalls

EDGE = ServiceCalls("sagemaker-edge", OPERATIONS)
SAGEMAKER = ServiceCalls("sagemaker", SAGEMAKER_OPERATIONS)
DEPLOYMENT = {"DeploymentName": "plan-stage", "Type": "Model", "FailureHandlingPolicy": "DO_NOTHING",
              "Definitions": [{"ModelHandle": "det", "S3Url": "s3://b/det-1.tar.gz",
                               "Checksum": {"Type": "SHA1", "Sum": "ab" * 20}, "State": "DEPLOY"}]}


class FakeDeploymentPlans:
    """edge_deployment_plans' two calls the edge API makes: what it was told, what it answers."""

    def __init__(self) -> None:
        self.results: list[tuple[str, str, Mapping[str, Any]]] = []

    def deployments_for_device(self, fleet: str, device: str) -> list[dict[str, Any]]:
        return [DEPLOYMENT] if device == "cam-1" else []

    def record_device_result(self, fleet: str, device: str, result: Mapping[str, Any]) -> None:
        self.results.append((fleet, device, result))


@pytest.fixture
def plans(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> FakeDeploymentPlans:
    fake = FakeDeploymentPlans()
    monkeypatch.setattr(ctx.metadata, "edge_deployment_plans", fake, raising=False)
    return fake


@pytest.fixture
def device(ctx: Context) -> tuple[str, str]:
    SAGEMAKER.call(ctx, "CreateDeviceFleet", DeviceFleetName="fleet", OutputConfig={"S3OutputLocation": "s3://b/e"})
    SAGEMAKER.call(ctx, "RegisterDevices", DeviceFleetName="fleet", Devices=[{"DeviceName": "cam-1"}])
    return "fleet", "cam-1"


def test_registration_is_answered_for_any_device(ctx: Context, device: tuple[str, str]) -> None:
    def registration(fleet: str, name: str) -> str:
        answer = EDGE.call(ctx, "GetDeviceRegistration", DeviceFleetName=fleet, DeviceName=name)
        assert answer["CacheTTL"] == "300"
        return str(answer["DeviceRegistration"])

    assert registration(*device) == "REGISTERED"
    assert registration("fleet", "never") == "NOT_REGISTERED"
    SAGEMAKER.call(ctx, "DeregisterDevices", DeviceFleetName="fleet", DeviceNames=["cam-1"])
    assert registration(*device) == "DEREGISTERED"


def test_a_heartbeat_is_recorded_with_its_metrics_and_deployment_result(
        ctx: Context, device: tuple[str, str], plans: FakeDeploymentPlans) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    result = {"DeploymentName": "plan-stage", "DeploymentStatus": "SUCCESS"}
    EDGE.call(ctx, "SendHeartbeat", DeviceFleetName="fleet", DeviceName="cam-1", AgentVersion="1.0",
              AgentMetrics=[{"MetricName": "CPU", "Value": 12.5, "Timestamp": now}],
              Models=[{"ModelName": "det", "ModelVersion": "1", "LatestInference": now,
                       "ModelMetrics": [{"MetricName": "Latency", "Value": 3.0, "Timestamp": now}]}],
              DeploymentResult=result)
    found = SAGEMAKER.call(ctx, "DescribeDevice", DeviceFleetName="fleet", DeviceName="cam-1")
    assert (found["AgentVersion"], found["Models"]) == ("1.0", [{"ModelName": "det", "ModelVersion": "1",
                                                                  "LatestInference": now}])
    assert found["LatestHeartbeat"] > found["RegistrationTime"]
    assert plans.results == [("fleet", "cam-1", result)]
    ctx.platform.metrics.flush()
    dimensions = {"DeviceFleetName": "fleet", "DeviceName": "cam-1"}
    assert {metric.key for metric in ctx.platform.metrics.metrics(EDGE_NAMESPACE)} == {
        MetricKey.of(EDGE_NAMESPACE, "CPU", dimensions),
        MetricKey.of(EDGE_NAMESPACE, "Latency", dimensions | {"ModelName": "det", "ModelVersion": "1"})}


def test_deployments_are_the_device_stages(ctx: Context, device: tuple[str, str], plans: FakeDeploymentPlans) -> None:
    assert EDGE.call(ctx, "GetDeployments", DeviceFleetName="fleet", DeviceName="cam-1") == {
        "Deployments": [DEPLOYMENT]}


def test_an_unregistered_device_is_refused(ctx: Context, device: tuple[str, str], plans: FakeDeploymentPlans) -> None:
    refusal = ("ValidationException", 400, "Device cam-9 is not registered in device fleet fleet.")
    assert EDGE.error(ctx, "SendHeartbeat", DeviceFleetName="fleet", DeviceName="cam-9", AgentVersion="1") == refusal
    assert EDGE.error(ctx, "GetDeployments", DeviceFleetName="fleet", DeviceName="cam-9") == refusal
    assert plans.results == []
