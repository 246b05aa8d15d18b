"""Device fleets and devices as SageMaker's service functions: answers checked against botocore's output shapes,
refusals in SageMaker's words."""

from __future__ import annotations

from typing import Any

import pytest

from modelbay.services.base import Context
from modelbay.services.sagemaker.device_fleets import OPERATIONS
from tests.unit.services.service_calls import ServiceCalls

SAGEMAKER = ServiceCalls("sagemaker", OPERATIONS)
OUTPUT: dict[str, Any] = {"S3OutputLocation": "s3://bucket/edge"}
ROLE = "arn:aws:iam::123456789012:role/edge"


@pytest.fixture
def fleet(ctx: Context) -> str:
    SAGEMAKER.call(ctx, "CreateDeviceFleet", DeviceFleetName="Cameras", OutputConfig=OUTPUT, RoleArn=ROLE,
                   EnableIotRoleAlias=True, Description="door cameras", Tags=[{"Key": "team", "Value": "vision"}])
    return "Cameras"


def _register(ctx: Context, fleet: str, *names: str) -> None:
    SAGEMAKER.call(ctx, "RegisterDevices", DeviceFleetName=fleet,
                   Devices=[{"DeviceName": name, "IotThingName": f"thing-{name}"} for name in names])


def test_a_fleet_is_described_with_its_iot_role_alias_and_tags(ctx: Context, fleet: str) -> None:
    found = SAGEMAKER.call(ctx, "DescribeDeviceFleet", DeviceFleetName=fleet)
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:device-fleet/cameras"
    assert (found["DeviceFleetArn"], found["OutputConfig"], found["RoleArn"], found["Description"]) == (
        arn, OUTPUT, ROLE, "door cameras")
    assert found["IotRoleAlias"] == "arn:aws:iot:eu-west-1:123456789012:rolealias/SageMakerEdge-Cameras"
    assert ctx.metadata.tags.list(arn).items == [("team", "vision")]
    assert SAGEMAKER.error(ctx, "CreateDeviceFleet", DeviceFleetName=fleet, OutputConfig=OUTPUT)[0] == "ResourceInUse"


def test_fleets_are_updated_listed_sorted_and_deleted(ctx: Context, fleet: str) -> None:
    SAGEMAKER.call(ctx, "CreateDeviceFleet", DeviceFleetName="Drones", OutputConfig=OUTPUT)
    SAGEMAKER.call(ctx, "UpdateDeviceFleet", DeviceFleetName=fleet, OutputConfig={"S3OutputLocation": "s3://b/2"})
    assert SAGEMAKER.call(ctx, "DescribeDeviceFleet", DeviceFleetName=fleet)["OutputConfig"] == {
        "S3OutputLocation": "s3://b/2"}
    listed = SAGEMAKER.call(ctx, "ListDeviceFleets", SortBy="LAST_MODIFIED_TIME", SortOrder="Descending")
    assert [f["DeviceFleetName"] for f in listed["DeviceFleetSummaries"]] == ["Cameras", "Drones"]
    by_name = SAGEMAKER.call(ctx, "ListDeviceFleets", SortBy="NAME", SortOrder="Ascending", NameContains="o")
    assert [f["DeviceFleetName"] for f in by_name["DeviceFleetSummaries"]] == ["Drones"]
    SAGEMAKER.call(ctx, "DeleteDeviceFleet", DeviceFleetName="Drones")
    assert SAGEMAKER.error(ctx, "DescribeDeviceFleet", DeviceFleetName="Drones") == (
        "ResourceNotFound", 400, "Device fleet Drones does not exist.")
    assert SAGEMAKER.error(ctx, "UpdateDeviceFleet", DeviceFleetName="Drones", OutputConfig=OUTPUT)[0] == (
        "ResourceNotFound")


def test_a_fleet_with_registered_devices_is_not_deleted(ctx: Context, fleet: str) -> None:
    _register(ctx, fleet, "cam-1")
    code, _, message = SAGEMAKER.error(ctx, "DeleteDeviceFleet", DeviceFleetName=fleet)
    assert (code, message) == ("ResourceInUse", "Device fleet Cameras has registered devices: deregister them first.")
    SAGEMAKER.call(ctx, "DeregisterDevices", DeviceFleetName=fleet, DeviceNames=["cam-1"])
    SAGEMAKER.call(ctx, "DeleteDeviceFleet", DeviceFleetName=fleet)


def test_devices_are_registered_described_updated_and_listed(ctx: Context, fleet: str) -> None:
    _register(ctx, fleet, "cam-1", "cam-2")
    SAGEMAKER.call(ctx, "UpdateDevices", DeviceFleetName=fleet, Devices=[{"DeviceName": "cam-1",
                                                                          "Description": "front door"}])
    found = SAGEMAKER.call(ctx, "DescribeDevice", DeviceFleetName=fleet, DeviceName="cam-1")
    assert (found["DeviceArn"], found["Description"], found["IotThingName"], found["Models"]) == (
        "arn:aws:sagemaker:eu-west-1:123456789012:device-fleet/cameras/device/cam-1", "front door", "thing-cam-1", [])
    assert "LatestHeartbeat" not in found
    ctx.metadata.devices.record_heartbeat(fleet, "cam-2", None, "1.2", [{"ModelName": "det", "ModelVersion": "3"}])
    listed = SAGEMAKER.call(ctx, "ListDevices", DeviceFleetName=fleet, ModelName="det")["DeviceSummaries"]
    assert [(d["DeviceName"], d["AgentVersion"], d["Models"]) for d in listed] == [
        ("cam-2", "1.2", [{"ModelName": "det", "ModelVersion": "3"}])]
    assert len(SAGEMAKER.call(ctx, "ListDevices", MaxResults=1)["DeviceSummaries"]) == 1


def test_what_registration_refuses(ctx: Context, fleet: str) -> None:
    SAGEMAKER.call(ctx, "CreateDeviceFleet", DeviceFleetName="Drones", OutputConfig=OUTPUT)
    _register(ctx, fleet, "cam-1")
    assert SAGEMAKER.error(ctx, "RegisterDevices", DeviceFleetName="Drones", Devices=[{"DeviceName": "cam-1"}]) == (
        "ValidationException", 400, "Device cam-1 is registered in device fleet Cameras: deregister it there first.")
    assert SAGEMAKER.error(ctx, "RegisterDevices", DeviceFleetName="Nowhere",
                           Devices=[{"DeviceName": "x"}])[0] == "ResourceNotFound"
    assert SAGEMAKER.error(ctx, "RegisterDevices", DeviceFleetName=fleet,
                           Devices=[{"DeviceName": "x"}, {"DeviceName": "x"}])[2] == (
        "Devices names a device more than once: x.")
    assert SAGEMAKER.error(ctx, "DescribeDevice", DeviceFleetName="Drones", DeviceName="cam-1") == (
        "ResourceNotFound", 400, "Device cam-1 is not registered in device fleet Drones.")
    assert SAGEMAKER.error(ctx, "UpdateDevices", DeviceFleetName="Drones",
                           Devices=[{"DeviceName": "cam-1"}])[0] == "ValidationException"
