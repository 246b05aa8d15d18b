"""The sagemaker-edge API, which Edge Manager's agents call: GetDeviceRegistration, SendHeartbeat, GetDeployments.

A device is named by its fleet and its name. GetDeviceRegistration answers for any device (NOT_REGISTERED for one
the fleet never had); the other two answer only for a device registered in the fleet, else ValidationException
(the API's model lists no error of its own for it). A heartbeat is recorded as one sent over MQTT is
(monitoring/edge_heartbeats.py); the deployments a device is to run are its started deployment stages'
(store/metadata/edge_deployment_plans.py).
"""

from __future__ import annotations

from typing import Any

from modelbay.errors import ValidationError
from modelbay.monitoring.edge_heartbeats import apply_heartbeat
from modelbay.services.base import Context, Handler
from modelbay.store.metadata.device_fleets import DeviceNotFound

CACHE_TTL_S = 300  # how long an agent may keep a registration answer before it asks again


def not_registered(params: dict[str, Any]) -> ValidationError:
    return ValidationError(f"Device {params['DeviceName']} is not registered in device fleet "
                           f"{params['DeviceFleetName']}.")


def get_device_registration(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    registration = ctx.metadata.devices.registration(params["DeviceFleetName"], params["DeviceName"])
    return {"DeviceRegistration": registration, "CacheTTL": str(CACHE_TTL_S)}


def send_heartbeat(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record the heartbeat: its time, the agent's version, models and metrics, and its deployment's result."""
    try:
        apply_heartbeat(ctx.metadata, ctx.platform.metrics, params["DeviceFleetName"], params["DeviceName"], params)
    except DeviceNotFound as err:
        raise not_registered(params) from err
    return {}


def get_deployments(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    fleet, device = params["DeviceFleetName"], params["DeviceName"]
    if ctx.metadata.devices.get(fleet, device) is None:
        raise not_registered(params)
    return {"Deployments": ctx.metadata.edge_deployment_plans.deployments_for_device(fleet, device)}


OPERATIONS: dict[str, Handler] = {
    "GetDeviceRegistration": get_device_registration,
    "SendHeartbeat": send_heartbeat,
    "GetDeployments": get_deployments,
}
