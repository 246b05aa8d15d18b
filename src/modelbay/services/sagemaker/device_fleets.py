"""SageMaker Edge Manager's device fleets and devices: Create/Describe/List/Update/DeleteDeviceFleet and
RegisterDevices, DeregisterDevices, UpdateDevices, DescribeDevice, ListDevices.

Neither has a lifecycle: these functions read and write the store directly. A device's agent reports through the
sagemaker-edge API (services/sagemaker_edge.py) or MQTT; DescribeDevice and ListDevices show what it last reported.
GetDeviceFleetReport, which needs the fleet's deployments, is services/sagemaker/edge_deployment_plans.py's.
"""

from __future__ import annotations

from typing import Any

from modelbay.errors import ResourceInUse, ResourceNotFound, ValidationError
from modelbay.services.base import Context, Handler, present
from modelbay.services.listing import capital_sort, list_filter, list_page
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.store.metadata import RecordExists
from modelbay.store.metadata.device_fleets import (
    DeviceFilter,
    DeviceFleetNotFound,
    DeviceFleetRecord,
    DeviceInAnotherFleet,
    DeviceNotFound,
    DeviceRecord,
    FleetHasDevices,
)

_SORT_KEYS = ("NAME", "CREATION_TIME", "LAST_MODIFIED_TIME")  # ListDeviceFleets' SortBy, all offered


def fleet_arn(ctx: Context, name: str) -> str:
    return ctx.arn("sagemaker", f"device-fleet/{name.lower()}")


def device_arn(ctx: Context, fleet: str, name: str) -> str:
    return ctx.arn("sagemaker", f"device-fleet/{fleet.lower()}/device/{name.lower()}")


def fleet_not_found(name: str) -> ResourceNotFound:
    return ResourceNotFound(f"Device fleet {name} does not exist.")


def get_fleet(ctx: Context, name: str) -> DeviceFleetRecord:
    """The fleet of this name; ResourceNotFound if there is none."""
    found = ctx.metadata.device_fleets.get(name)
    if found is None:
        raise fleet_not_found(name)
    return found


# -- fleets ----------------------------------------------------------------------------------------------------

def create_device_fleet(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Store the fleet and its tags; ResourceInUse if one has the name. EnableIotRoleAlias gives the fleet the IoT
    role alias SageMaker would create (SageMakerEdge-<fleet>); nothing here uses it."""
    name: str = params["DeviceFleetName"]
    arn, tags = fleet_arn(ctx, name), creation_tags(params)
    try:
        ctx.metadata.device_fleets.create(name, arn, params["OutputConfig"], description=params.get("Description"),
                                          role_arn=params.get("RoleArn"), iot_role_alias=_role_alias(ctx, params))
    except RecordExists as err:
        raise ResourceInUse(f"Device fleet {name} already exists.") from err
    store_tags(ctx, arn, tags)
    return {}


def _role_alias(ctx: Context, params: dict[str, Any]) -> str | None:
    if not params.get("EnableIotRoleAlias"):
        return None
    return ctx.arn("iot", f"rolealias/SageMakerEdge-{params['DeviceFleetName']}")


def describe_device_fleet(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    found = get_fleet(ctx, params["DeviceFleetName"])
    return _fleet_summary(found) | {"OutputConfig": found.output_config} | present(
        Description=found.description, RoleArn=found.role_arn, IotRoleAlias=found.iot_role_alias)


def list_device_fleets(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return list_page(capital_sort(params, _SORT_KEYS), ctx.metadata.device_fleets.list, "DeviceFleetSummaries",
                     _fleet_summary, list_filter(params))


def _fleet_summary(found: DeviceFleetRecord) -> dict[str, Any]:
    return {"DeviceFleetArn": found.arn, "DeviceFleetName": found.name, "CreationTime": found.creation_time,
            "LastModifiedTime": found.last_modified_time}


def update_device_fleet(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Replace the output config; set the description, role and IoT role alias given."""
    name = params["DeviceFleetName"]
    try:
        ctx.metadata.device_fleets.update(name, params["OutputConfig"], description=params.get("Description"),
                                          role_arn=params.get("RoleArn"), iot_role_alias=_role_alias(ctx, params))
    except DeviceFleetNotFound as err:
        raise fleet_not_found(name) from err
    return {}


def delete_device_fleet(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete a fleet without registered devices (SageMaker keeps one that has: deregister them first)."""
    name = params["DeviceFleetName"]
    try:
        ctx.metadata.device_fleets.delete(name)
    except DeviceFleetNotFound as err:
        raise fleet_not_found(name) from err
    except FleetHasDevices as err:
        raise ResourceInUse(f"Device fleet {name} has registered devices: deregister them first.") from err
    return {}


# -- devices ---------------------------------------------------------------------------------------------------

def register_devices(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Register the devices in the fleet, all or none, each with the request's tags. A device registered in
    another fleet is refused; one registered in this fleet is registered again."""
    fleet, devices = params["DeviceFleetName"], params["Devices"]
    names = [device["DeviceName"] for device in devices]
    _check_distinct(names)
    tags = creation_tags(params)
    arns = {name: device_arn(ctx, fleet, name) for name in names}
    try:
        ctx.metadata.devices.register(fleet, devices, arns)
    except DeviceFleetNotFound as err:
        raise fleet_not_found(fleet) from err
    except DeviceInAnotherFleet as err:
        raise ValidationError(f"Device {err.device} is registered in device fleet {err.fleet}: deregister it "
                              "there first.") from err
    for arn in arns.values():
        store_tags(ctx, arn, tags)
    return {}


def _check_distinct(names: list[str]) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValidationError(f"Devices names a device more than once: {', '.join(repeated)}.")


def deregister_devices(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Deregister the fleet's devices of these names (names not registered in it are ignored)."""
    fleet = params["DeviceFleetName"]
    try:
        ctx.metadata.devices.deregister(fleet, params["DeviceNames"])
    except DeviceFleetNotFound as err:
        raise fleet_not_found(fleet) from err
    return {}


def update_devices(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Set the devices' descriptions and IoT thing names, all or none."""
    fleet, devices = params["DeviceFleetName"], params["Devices"]
    _check_distinct([device["DeviceName"] for device in devices])
    try:
        ctx.metadata.devices.update(fleet, devices)
    except DeviceFleetNotFound as err:
        raise fleet_not_found(fleet) from err
    except DeviceNotFound as err:
        raise ValidationError(f"Device {err} is not registered in device fleet {fleet}.") from err
    return {}


def describe_device(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The device and what its agent last reported: heartbeat, agent version, models."""
    fleet, name = params["DeviceFleetName"], params["DeviceName"]
    found = ctx.metadata.devices.get(fleet, name)
    if found is None:
        raise ResourceNotFound(f"Device {name} is not registered in device fleet {fleet}.")
    return _device_members(found) | {"Models": found.models}


def list_devices(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    filters = DeviceFilter(fleet=params.get("DeviceFleetName"), model_name=params.get("ModelName"),
                           latest_heartbeat_after=params.get("LatestHeartbeatAfter"))
    return list_page({key: value for key, value in params.items() if key in ("NextToken", "MaxResults")},
                     ctx.metadata.devices.list, "DeviceSummaries", _device_summary, filters)


def _device_summary(found: DeviceRecord) -> dict[str, Any]:
    return _device_members(found) | {"Models": [
        present(ModelName=model.get("ModelName"), ModelVersion=model.get("ModelVersion")) for model in found.models]}


def _device_members(found: DeviceRecord) -> dict[str, Any]:
    return {"DeviceName": found.name, "DeviceArn": found.arn, "DeviceFleetName": found.fleet,
            "RegistrationTime": found.registration_time} | present(
        Description=found.description, IotThingName=found.iot_thing_name, LatestHeartbeat=found.latest_heartbeat,
        AgentVersion=found.agent_version)


OPERATIONS: dict[str, Handler] = {
    "CreateDeviceFleet": create_device_fleet,
    "DescribeDeviceFleet": describe_device_fleet,
    "ListDeviceFleets": list_device_fleets,
    "UpdateDeviceFleet": update_device_fleet,
    "DeleteDeviceFleet": delete_device_fleet,
    "RegisterDevices": register_devices,
    "DeregisterDevices": deregister_devices,
    "UpdateDevices": update_devices,
    "DescribeDevice": describe_device,
    "ListDevices": list_devices,
}
