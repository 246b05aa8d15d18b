"""IAM's virtual MFA devices as service functions over a real SQLite store: made, enabled with two consecutive codes,
listed, resynced, deactivated and deleted as IAM answers; the root's own device."""

from __future__ import annotations

import base64
import dataclasses
from datetime import timedelta
from typing import Any

import pyotp
import pytest

from modelbay.errors import ValidationError
from modelbay.security.principal import ASSUMED_ROLE, IAM_USER, Principal
from modelbay.services.base import Context
from modelbay.services.iam import OPERATIONS
from tests.helpers import T0, Clock
from tests.unit.services.iam.iam_calls import call, error

STEP = timedelta(seconds=30)


@pytest.fixture(autouse=True)
def frozen(clock: Clock) -> None:
    """Codes are checked at T0 + 1 s, whatever the test reads."""
    clock.step = timedelta(0)
    clock.now = T0 + timedelta(seconds=1)


@pytest.fixture
def alice(ctx: Context) -> Context:
    """The context of a call by the IAM user alice, whose user exists."""
    account = ctx.settings.account_id
    user = ctx.metadata.iam.create_user("alice", "/", f"arn:aws:iam::{account}:user/alice", "AIDAALICEEXAMPLE")
    return dataclasses.replace(ctx, principal=Principal("AKIAALICE", account, IAM_USER, "alice", "/", user.user_id))


def create(ctx: Context, name: str, **params: Any) -> tuple[str, pyotp.TOTP]:
    """A new device's serial number and its authenticator."""
    device = call(ctx, "CreateVirtualMFADevice", VirtualMFADeviceName=name, **params)["VirtualMFADevice"]
    return device["SerialNumber"], pyotp.TOTP(device["Base32StringSeed"].decode())


def enable(ctx: Context, serial: str, totp: pyotp.TOTP, user: str = "alice") -> None:
    call(ctx, "EnableMFADevice", UserName=user, SerialNumber=serial, AuthenticationCode1=totp.at(T0 - STEP),
         AuthenticationCode2=totp.at(T0))


def test_a_device_is_made_with_a_seed_that_authenticator_apps_take(ctx: Context) -> None:
    generation = ctx.platform.iam_changes.value
    answer = call(ctx, "CreateVirtualMFADevice", VirtualMFADeviceName="phone", Path="/team/",
                  Tags=[{"Key": "owner", "Value": "alice"}])["VirtualMFADevice"]
    assert answer["SerialNumber"] == f"arn:aws:iam::{ctx.settings.account_id}:mfa/team/phone"
    seed = answer["Base32StringSeed"].decode()
    assert len(seed) == 64 and len(base64.b32decode(seed)) == 40 and "QRCodePNG" not in answer
    assert answer["Tags"] == [{"Key": "owner", "Value": "alice"}]
    assert ctx.platform.iam_changes.value > generation
    assert error(ctx, "CreateVirtualMFADevice", VirtualMFADeviceName="phone", Path="/team/") == (
        "EntityAlreadyExists", 409, "MFADevice entity at the same path and name already exists.")


def test_a_device_is_enabled_for_a_user_with_two_consecutive_codes(alice: Context) -> None:
    serial, totp = create(alice, "phone")
    assert error(alice, "EnableMFADevice", UserName="alice", SerialNumber=serial,
                 AuthenticationCode1=totp.at(T0), AuthenticationCode2=totp.at(T0 - STEP)) == (
        "InvalidAuthenticationCode", 403, "Authentication code for device is not valid.")
    enable(alice, serial, totp)
    listed = call(alice, "ListMFADevices")  # the caller's own
    assert [(d["UserName"], d["SerialNumber"]) for d in listed["MFADevices"]] == [("alice", serial)]
    assert listed["IsTruncated"] is False
    assigned = call(alice, "ListVirtualMFADevices", AssignmentStatus="Assigned")["VirtualMFADevices"]
    assert [(d["SerialNumber"], d["User"]["UserName"], d["User"]["UserId"]) for d in assigned] == [
        (serial, "alice", "AIDAALICEEXAMPLE")]
    assert call(alice, "ListVirtualMFADevices", AssignmentStatus="Unassigned")["VirtualMFADevices"] == []
    assert call(alice, "GetMFADevice", SerialNumber=serial)["UserName"] == "alice"


def test_enabling_refuses_a_device_in_use_an_unknown_one_and_an_unknown_user(alice: Context) -> None:
    serial, totp = create(alice, "phone")
    enable(alice, serial, totp)
    code, status, _ = error(alice, "EnableMFADevice", UserName="alice", SerialNumber=serial,
                            AuthenticationCode1=totp.at(T0), AuthenticationCode2=totp.at(T0 + STEP))
    assert (code, status) == ("EntityAlreadyExists", 409)
    assert error(alice, "EnableMFADevice", UserName="alice", SerialNumber=f"{serial}-none",
                 AuthenticationCode1="123456", AuthenticationCode2="654321")[:2] == ("NoSuchEntity", 404)
    assert error(alice, "EnableMFADevice", UserName="bob", SerialNumber=serial, AuthenticationCode1="123456",
                 AuthenticationCode2="654321") == ("NoSuchEntity", 404, "The user with name bob cannot be found.")


def test_a_device_is_deleted_only_once_deactivated(alice: Context) -> None:
    serial, totp = create(alice, "phone")
    enable(alice, serial, totp)
    assert error(alice, "DeleteVirtualMFADevice", SerialNumber=serial) == (
        "DeleteConflict", 409, "MFA VirtualDevice in use. Must deactivate first.")
    call(alice, "DeactivateMFADevice", UserName="alice", SerialNumber=serial)
    assert call(alice, "ListMFADevices", UserName="alice")["MFADevices"] == []
    assert error(alice, "DeactivateMFADevice", UserName="alice", SerialNumber=serial)[:2] == ("NoSuchEntity", 404)
    call(alice, "DeleteVirtualMFADevice", SerialNumber=serial)
    assert error(alice, "DeleteVirtualMFADevice", SerialNumber=serial)[:2] == ("NoSuchEntity", 404)


def test_a_resync_needs_two_consecutive_codes_of_the_users_device(alice: Context) -> None:
    serial, totp = create(alice, "phone")
    enable(alice, serial, totp)
    ahead = T0 + 4 * STEP  # the device's clock is two minutes fast
    assert error(alice, "ResyncMFADevice", UserName="alice", SerialNumber=serial, AuthenticationCode1=totp.at(ahead),
                 AuthenticationCode2=totp.at(ahead - STEP))[:2] == ("InvalidAuthenticationCode", 403)
    call(alice, "ResyncMFADevice", UserName="alice", SerialNumber=serial, AuthenticationCode1=totp.at(ahead - STEP),
         AuthenticationCode2=totp.at(ahead))
    device = alice.metadata.mfa_devices.get(serial)
    assert device is not None and device.drift_steps == 4


def test_the_root_enables_its_own_device_by_its_name(ctx: Context) -> None:
    account = ctx.settings.account_id
    serial, totp = create(ctx, "root-account-mfa-device")
    assert serial == f"arn:aws:iam::{account}:mfa/root-account-mfa-device"
    enable(ctx, serial, totp, user="root")  # the root's device is the root's, whatever UserName says
    assert [d["UserName"] for d in call(ctx, "ListMFADevices")["MFADevices"]] == [account]
    (listed,) = OPERATIONS["ListVirtualMFADevices"](ctx, {})["VirtualMFADevices"]  # type: ignore[index]
    assert listed["User"]["Arn"] == f"arn:aws:iam::{account}:root" and listed["User"]["UserId"] == account


def test_listing_without_a_user_name_needs_user_credentials(ctx: Context) -> None:
    role = dataclasses.replace(ctx, principal=Principal("ASIAROLE", ctx.settings.account_id, ASSUMED_ROLE, "builder",
                                                        unique_id="AROABUILDER", session_name="s"))
    with pytest.raises(ValidationError, match="Must specify userName when calling with non-User credentials"):
        OPERATIONS["ListMFADevices"](role, {})
