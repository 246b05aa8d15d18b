"""Virtual MFA devices' one-time codes: TOTP (RFC 6238, 6 digits, 30-second steps, as AWS's virtual devices), by pyotp.

A code is accepted if it is the code of the current time step, or of the step before or after (AWS tolerates that
much clock skew), shifted by the device's drift that ResyncMFADevice measured, and if its step is later than that
of every code accepted before: a code is used once, and no code older than the last one used is accepted either.
The store records the last step and compares-and-sets it in one statement (store/metadata/mfa_devices.py), so of
two requests racing with one code only one passes.

Enabling a device takes two consecutive codes, as AWS asks, the second one current within the same tolerance;
resyncing takes two consecutive codes within RESYNC_WINDOW steps of now, and records how far the device's clock
is off. Seeds are kept sealed under the master key, bound to the device's serial number.
"""

from __future__ import annotations

from datetime import datetime

import pyotp
from pyotp.utils import strings_equal

from modelbay.security.master_key import MasterKey
from modelbay.store.metadata.mfa_devices import MfaDevice, MfaDeviceRepository
from modelbay.store.metadata.records import RecordNotFound

STEP_S = 30  # seconds a code is current for
SEED_LENGTH = 64  # base32 characters (320 bits), as AWS's Base32StringSeed
WINDOW = 1  # steps either side of the current one a code may be of
RESYNC_WINDOW = 20  # steps (10 minutes) either side of now that a drifted device's codes are looked for


def new_seed() -> str:
    return pyotp.random_base32(SEED_LENGTH)


def time_step(now: datetime) -> int:
    """The TOTP time step (counter) of a moment."""
    return int(now.timestamp()) // STEP_S


def seal_seed(master_key: MasterKey, serial_number: str, seed: str) -> bytes:
    return master_key.seal(seed.encode(), _context(serial_number))


def matching_step(seed: str, code: str, now: datetime, drift_steps: int = 0, window: int = WINDOW) -> int | None:
    """The latest time step within `window` of now (shifted by `drift_steps`) whose code is `code`, if any."""
    totp = pyotp.TOTP(seed, interval=STEP_S)
    centre = time_step(now) + drift_steps
    found = [step for step in range(centre - window, centre + window + 1)
             if strings_equal(totp.generate_otp(step), code)]
    return max(found, default=None)


def consecutive_step(seed: str, first: str, second: str, now: datetime, window: int = WINDOW) -> int | None:
    """The time step of `second` if `first` is the code of the step just before it, `second` within `window` of
    now; None otherwise."""
    totp = pyotp.TOTP(seed, interval=STEP_S)
    centre = time_step(now)
    found = [step for step in range(centre - window, centre + window + 1)
             if strings_equal(totp.generate_otp(step), second) and strings_equal(totp.generate_otp(step - 1), first)]
    return max(found, default=None)


def enable(devices: MfaDeviceRepository, master_key: MasterKey, serial_number: str, owner_id: str, first: str,
           second: str) -> bool:
    """Assign the device to `owner_id` if the two codes are consecutive current codes of it, never used before;
    return whether they were. Raises RecordNotFound for an unknown device, and what MfaDeviceRepository.enable
    raises."""
    device = devices.get(serial_number)
    if device is None:
        raise RecordNotFound(serial_number)
    step = consecutive_step(_seed(master_key, device), first, second, devices.clock())
    return step is not None and devices.enable(serial_number, owner_id, step, drift_steps=0)


def verify(devices: MfaDeviceRepository, master_key: MasterKey, device: MfaDevice, code: str) -> bool:
    """Whether `code` is a current code of the assigned `device` never used before; if so, it is used up."""
    step = matching_step(_seed(master_key, device), code, devices.clock(), device.drift_steps)
    return step is not None and devices.accept_step(device.serial_number, step)


def resync(devices: MfaDeviceRepository, master_key: MasterKey, device: MfaDevice, first: str, second: str) -> bool:
    """Whether the two codes are consecutive codes of the assigned `device` within RESYNC_WINDOW of now, later than
    any used before; if so, the device's drift becomes their offset from now and codes until theirs are used up."""
    now = devices.clock()
    step = consecutive_step(_seed(master_key, device), first, second, now, RESYNC_WINDOW)
    if step is None:
        return False
    return devices.accept_step(device.serial_number, step, drift_steps=step - time_step(now))


def _seed(master_key: MasterKey, device: MfaDevice) -> str:
    return master_key.unseal(device.sealed_seed, _context(device.serial_number)).decode()


def _context(serial_number: str) -> bytes:
    return b"mfa device " + serial_number.encode()
