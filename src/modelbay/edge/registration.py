"""Whether the server knows this device: GetDeviceRegistration of the `sagemaker-edge` API."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from modelbay.edge.network import is_unreachable


class NotRegistered(Exception):
    """The server says the device is not (or no longer) registered in the fleet; its str says so to the user."""


def check_registration(edge: Any, fleet: str, device: str) -> None:
    """Return if `device` is registered in `fleet`; raise NotRegistered, or (offline) what is_unreachable accepts."""
    try:
        answer = edge.get_device_registration(DeviceName=device, DeviceFleetName=fleet)
    except ClientError as err:
        if is_unreachable(err):
            raise
        raise NotRegistered(f"device {device!r} of fleet {fleet!r} cannot be registered: "
                            f"{err.response['Error'].get('Message', err)}") from None
    status = answer.get("DeviceRegistration")
    if status != "REGISTERED":
        raise NotRegistered(f"device {device!r} is {status or 'NOT_REGISTERED'} in fleet {fleet!r}: register it "
                            "with `aws sagemaker register-devices` (RegisterDevices) first")
