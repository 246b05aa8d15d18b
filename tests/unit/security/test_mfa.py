"""One-time codes of virtual MFA devices: the current step ± 1 as AWS tolerates, two consecutive codes to enable or
resync, each code used once, seeds sealed to their device."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from modelbay.security import mfa
from modelbay.security.master_key import MasterKey, SealBroken
from modelbay.store.metadata import MetadataStore, RecordNotFound, open_metadata_store
from modelbay.store.metadata.mfa_devices import MfaDevice
from tests.helpers import T0, SetClock

SERIAL = "arn:aws:iam::000000000000:mfa/phone"
SEED = pyotp.random_base32(mfa.SEED_LENGTH)
STEP = timedelta(seconds=mfa.STEP_S)


def _code(at: datetime) -> str:
    return pyotp.TOTP(SEED).at(at)


@pytest.fixture
def clock() -> SetClock[datetime]:
    return SetClock(T0)


@pytest.fixture
def store(tmp_path: Path, clock: SetClock[datetime]) -> Iterator[MetadataStore]:
    store = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}", clock)
    yield store
    store.close()


@pytest.fixture
def master_key() -> MasterKey:
    return MasterKey(os.urandom(32))


@pytest.fixture
def device(store: MetadataStore, master_key: MasterKey) -> MfaDevice:
    """A device enabled with the codes of T0 - 2 steps and T0 - 1 step."""
    store.mfa_devices.create(SERIAL, mfa.seal_seed(master_key, SERIAL, SEED))
    assert mfa.enable(store.mfa_devices, master_key, SERIAL, "AIDAALICE", _code(T0 - 2 * STEP), _code(T0 - STEP))
    found = store.mfa_devices.get(SERIAL)
    assert found is not None
    return found


def test_a_code_of_the_current_step_or_the_one_either_side_matches() -> None:
    for offset in (-1, 0, 1):
        assert mfa.matching_step(SEED, _code(T0 + offset * STEP), T0) == mfa.time_step(T0) + offset
    for offset in (-2, 2):
        assert mfa.matching_step(SEED, _code(T0 + offset * STEP), T0) is None
    assert mfa.matching_step(SEED, _code(T0 + 5 * STEP), T0, drift_steps=5) == mfa.time_step(T0) + 5
    wrong = f"{(int(_code(T0)) + 1) % 1_000_000:06d}"
    assert mfa.matching_step(SEED, wrong, T0) is None


def test_two_codes_match_only_when_consecutive_and_in_order() -> None:
    assert mfa.consecutive_step(SEED, _code(T0 - STEP), _code(T0), T0) == mfa.time_step(T0)
    assert mfa.consecutive_step(SEED, _code(T0), _code(T0 - STEP), T0) is None
    assert mfa.consecutive_step(SEED, _code(T0 - 2 * STEP), _code(T0), T0) is None
    assert mfa.consecutive_step(SEED, _code(T0 - 3 * STEP), _code(T0 - 2 * STEP), T0) is None  # too old


def test_a_code_passes_once_and_no_code_older_than_the_last_passes(store: MetadataStore, master_key: MasterKey,
                                                                   device: MfaDevice) -> None:
    assert not mfa.verify(store.mfa_devices, master_key, device, _code(T0 - STEP))  # used to enable it
    assert mfa.verify(store.mfa_devices, master_key, device, _code(T0 + STEP))
    assert not mfa.verify(store.mfa_devices, master_key, device, _code(T0 + STEP))
    assert not mfa.verify(store.mfa_devices, master_key, device, _code(T0))  # current, but older than the last


def test_enabling_needs_two_consecutive_current_codes(store: MetadataStore, master_key: MasterKey) -> None:
    store.mfa_devices.create(SERIAL, mfa.seal_seed(master_key, SERIAL, SEED))
    assert not mfa.enable(store.mfa_devices, master_key, SERIAL, "AIDAALICE", _code(T0), _code(T0 - STEP))
    device = store.mfa_devices.get(SERIAL)
    assert device is not None and device.owner_id is None
    with pytest.raises(RecordNotFound):
        mfa.enable(store.mfa_devices, master_key, f"{SERIAL}-none", "AIDAALICE", _code(T0 - STEP), _code(T0))


def test_a_resync_follows_a_device_whose_clock_is_off(store: MetadataStore, master_key: MasterKey,
                                                      device: MfaDevice, clock: SetClock[datetime]) -> None:
    clock.now = T0 + 10 * STEP
    ahead = clock.now + 7 * STEP  # the device's clock is three and a half minutes fast
    assert not mfa.verify(store.mfa_devices, master_key, device, _code(ahead))
    assert mfa.resync(store.mfa_devices, master_key, device, _code(ahead - STEP), _code(ahead))
    resynced = store.mfa_devices.get(SERIAL)
    assert resynced is not None and resynced.drift_steps == 7
    clock.now += 2 * STEP
    assert mfa.verify(store.mfa_devices, master_key, resynced, _code(clock.now + 7 * STEP))


def test_a_seed_is_sealed_to_its_device(store: MetadataStore, master_key: MasterKey) -> None:
    sealed = mfa.seal_seed(master_key, SERIAL, SEED)
    assert SEED.encode() not in sealed
    moved = MfaDevice(f"{SERIAL}-other", sealed, T0, owner_id="AIDAALICE")
    with pytest.raises(SealBroken):
        mfa.verify(store.mfa_devices, master_key, moved, _code(T0))
