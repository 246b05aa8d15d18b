"""IAM's virtual MFA devices: made with a TOTP seed, enabled for a user (or the root) with two consecutive codes.

As IAM does: the serial number is `arn:aws:iam::<account>:mfa<path><name>`; CreateVirtualMFADevice alone shows the
seed (Base32StringSeed; the seed is kept sealed under the master key); a device is enabled for one owner, up to
eight per owner, and deleted only once deactivated. The root's device is `…:mfa/root-account-mfa-device`: the root
names it (as the console does, whatever UserName says) to enable, resync or deactivate it, and it is shown with
the account id as its user's name. Codes are checked by security/mfa.py: a code is used once.

Not done: QRCodePNG (no QR code library is installed; authenticator apps take the Base32 seed as well), hardware
and FIDO devices, TagMFADevice and its kin.
"""

from __future__ import annotations

from typing import Any

from modelbay.errors import ValidationError, aws_error
from modelbay.security import mfa
from modelbay.security.principal import IAM_USER, ROOT
from modelbay.services.base import Context, Handler, present
from modelbay.services.iam.entities import (
    DeleteConflict,
    EntityAlreadyExists,
    LimitExceeded,
    NoSuchEntity,
    changed,
    no_such,
)
from modelbay.services.iam.pages import page
from modelbay.services.iam.tags import tag_list, tag_pairs
from modelbay.store.metadata import RecordExists, RecordNotFound
from modelbay.store.metadata.iam import UserRecord
from modelbay.store.metadata.mfa_devices import MAX_DEVICES_PER_OWNER, DeviceAssigned, MfaDevice, TooManyDevices

InvalidAuthenticationCode = aws_error("InvalidAuthenticationCode", 403)

ROOT_DEVICE_NAME = "root-account-mfa-device"


def create_virtual_mfa_device(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    serial = f"arn:aws:iam::{ctx.settings.account_id}:mfa{params.get('Path', '/')}{params['VirtualMFADeviceName']}"
    seed = mfa.new_seed()
    tags = tuple(tag_pairs(params.get("Tags", [])))
    try:
        ctx.metadata.mfa_devices.create(serial, mfa.seal_seed(ctx.platform.master_key, serial, seed), tags)
    except RecordExists:
        raise EntityAlreadyExists("MFADevice entity at the same path and name already exists.") from None
    changed(ctx)
    return {"VirtualMFADevice": {"SerialNumber": serial, "Base32StringSeed": seed.encode(), **_tags(tags)}}


def enable_mfa_device(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    serial = params["SerialNumber"]
    owner_id, _ = _owner(ctx, params)
    try:
        enabled = mfa.enable(ctx.metadata.mfa_devices, ctx.platform.master_key, serial, owner_id,
                             params["AuthenticationCode1"], params["AuthenticationCode2"])
    except RecordNotFound:
        raise _no_such_device(serial) from None
    except DeviceAssigned:
        raise EntityAlreadyExists("MFA Device is already in use.") from None
    except TooManyDevices:
        raise LimitExceeded(f"Cannot exceed quota for MFADevicesPerUser: {MAX_DEVICES_PER_OWNER}") from None
    if not enabled:
        raise _invalid_code()
    changed(ctx)
    return {}


def resync_mfa_device(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    device, _ = _owned(ctx, params)
    if not mfa.resync(ctx.metadata.mfa_devices, ctx.platform.master_key, device, params["AuthenticationCode1"],
                      params["AuthenticationCode2"]):
        raise _invalid_code()
    return {}


def deactivate_mfa_device(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    device, _ = _owned(ctx, params)
    if not ctx.metadata.mfa_devices.deactivate(device.serial_number, device.owner_id or ""):
        raise _no_such_device(device.serial_number)  # deactivated meanwhile
    changed(ctx)
    return {}


def delete_virtual_mfa_device(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    serial = params["SerialNumber"]
    try:
        deleted = ctx.metadata.mfa_devices.delete(serial)
    except DeviceAssigned:
        raise DeleteConflict("MFA VirtualDevice in use. Must deactivate first.") from None
    if not deleted:
        raise _no_such_device(serial)
    changed(ctx)
    return {}


def get_mfa_device(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    device, user_name = _owned(ctx, params)
    return {"UserName": user_name, "SerialNumber": device.serial_number, "EnableDate": device.enable_date}


def list_mfa_devices(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The devices enabled for UserName, or for the caller."""
    owner_id, user_name = _owner(ctx, params)
    devices, paging = page(params, ctx.metadata.mfa_devices.owned_by(owner_id), _serial, f"mfa devices of {owner_id}")
    return {"MFADevices": [{"UserName": user_name, "SerialNumber": device.serial_number,
                            "EnableDate": device.enable_date} for device in devices]} | paging


def list_virtual_mfa_devices(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The account's virtual devices, those assigned or unassigned only if AssignmentStatus asks; an assigned one
    with its user."""
    assignment = params.get("AssignmentStatus", "Any")
    devices, paging = page(params, ctx.metadata.mfa_devices.by_assignment(assignment), _serial,
                           f"mfa devices {assignment}")
    users = ({user.user_id: user for user in ctx.metadata.iam.users()}
             if any(device.owner_id for device in devices) else {})
    return {"VirtualMFADevices": [
        present(SerialNumber=device.serial_number, EnableDate=device.enable_date,
                User=None if device.owner_id is None else _user(ctx, device.owner_id, users)) | _tags(device.tags)
        for device in devices]} | paging


def _owner(ctx: Context, params: dict[str, Any]) -> tuple[str, str]:
    """Whom a call's device is of: (owner id, user name). The root's own device for the root naming it; else the
    user UserName names; else the calling user (or root)."""
    principal, account = ctx.principal, ctx.settings.account_id
    if principal.kind == ROOT and params.get("SerialNumber") == _root_serial(ctx):
        return account, account
    name = params.get("UserName")
    if name is None:
        if principal.kind == ROOT:
            return account, account
        if principal.kind != IAM_USER:
            raise ValidationError("Must specify userName when calling with non-User credentials")
        return principal.user_id, principal.name or ""
    user = ctx.metadata.iam.user(name)
    if user is None:
        raise no_such("user", name)
    return user.user_id, user.name


def _owned(ctx: Context, params: dict[str, Any]) -> tuple[MfaDevice, str]:
    """The call's device, which must be assigned to the owner the call names (NoSuchEntity otherwise), and the
    owner's user name."""
    serial = params["SerialNumber"]
    owner_id, user_name = _owner(ctx, params)
    device = ctx.metadata.mfa_devices.get(serial)
    if device is None or device.owner_id != owner_id:
        raise _no_such_device(serial)
    return device, user_name


def _user(ctx: Context, owner_id: str, users: dict[str, UserRecord]) -> dict[str, Any]:
    """ListVirtualMFADevices' User of an assigned device: the IAM user, or the root (its id, its ARN)."""
    user = users.get(owner_id)
    if user is None:
        return {"UserId": owner_id, "Arn": f"arn:aws:iam::{ctx.settings.account_id}:root"}
    return {"Path": user.path, "UserName": user.name, "UserId": user.user_id, "Arn": user.arn,
            "CreateDate": user.created} | _tags(tuple(user.tags.items()))


def _serial(device: MfaDevice) -> str:
    return device.serial_number


def _tags(tags: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return {"Tags": tag_list(dict(tags))} if tags else {}


def _root_serial(ctx: Context) -> str:
    return f"arn:aws:iam::{ctx.settings.account_id}:mfa/{ROOT_DEVICE_NAME}"


def _no_such_device(serial: str) -> Exception:
    return NoSuchEntity(f"MFA Device with serial number {serial} does not exist.")


def _invalid_code() -> Exception:
    return InvalidAuthenticationCode("Authentication code for device is not valid.")


OPERATIONS: dict[str, Handler] = {
    "CreateVirtualMFADevice": create_virtual_mfa_device, "EnableMFADevice": enable_mfa_device,
    "ResyncMFADevice": resync_mfa_device, "DeactivateMFADevice": deactivate_mfa_device,
    "DeleteVirtualMFADevice": delete_virtual_mfa_device, "GetMFADevice": get_mfa_device,
    "ListMFADevices": list_mfa_devices, "ListVirtualMFADevices": list_virtual_mfa_devices,
}
