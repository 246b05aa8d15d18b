"""MFA devices on every metadata backend: assignment, the quota per owner, deletion only when unassigned, paging,
and the last accepted time step, compared and set in one statement so that a code passes once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from modelbay.store.metadata import MetadataStore, RecordExists, RecordNotFound
from modelbay.store.metadata.mfa_devices import MAX_DEVICES_PER_OWNER, DeviceAssigned, TooManyDevices

SERIAL = "arn:aws:iam::000000000000:mfa/phone"


def test_a_device_is_created_unassigned_and_its_serial_is_taken_once(store: MetadataStore) -> None:
    created = store.mfa_devices.create(SERIAL, b"sealed", (("team", "ml"),))
    assert store.mfa_devices.get(SERIAL) == created
    assert (created.owner_id, created.enable_date, created.last_step, created.tags) == (None, None, None,
                                                                                        (("team", "ml"),))
    with pytest.raises(RecordExists):
        store.mfa_devices.create(SERIAL, b"other")


def test_enabling_assigns_the_device_once_and_only_with_codes_later_than_any_used(store: MetadataStore) -> None:
    store.mfa_devices.create(SERIAL, b"sealed")
    assert store.mfa_devices.enable(SERIAL, "AIDAALICE", step=100, drift_steps=0)
    device = store.mfa_devices.get(SERIAL)
    assert device is not None and (device.owner_id, device.last_step) == ("AIDAALICE", 100)
    assert device.enable_date is not None
    with pytest.raises(DeviceAssigned):
        store.mfa_devices.enable(SERIAL, "AIDABOB", step=200, drift_steps=0)
    assert store.mfa_devices.deactivate(SERIAL, "AIDAALICE")
    assert not store.mfa_devices.enable(SERIAL, "AIDABOB", step=100, drift_steps=0)  # the codes were used
    assert store.mfa_devices.enable(SERIAL, "AIDABOB", step=101, drift_steps=0)
    with pytest.raises(RecordNotFound):
        store.mfa_devices.enable("arn:aws:iam::000000000000:mfa/none", "AIDABOB", step=1, drift_steps=0)


def test_an_owner_has_at_most_eight_devices(store: MetadataStore) -> None:
    for n in range(MAX_DEVICES_PER_OWNER + 1):
        store.mfa_devices.create(f"{SERIAL}-{n}", b"sealed")
    for n in range(MAX_DEVICES_PER_OWNER):
        store.mfa_devices.enable(f"{SERIAL}-{n}", "AIDAALICE", step=1, drift_steps=0)
    with pytest.raises(TooManyDevices):
        store.mfa_devices.enable(f"{SERIAL}-{MAX_DEVICES_PER_OWNER}", "AIDAALICE", step=1, drift_steps=0)
    assert store.mfa_devices.enable(f"{SERIAL}-{MAX_DEVICES_PER_OWNER}", "AIDABOB", step=1, drift_steps=0)


def test_a_step_is_accepted_once_and_never_one_earlier_than_the_last(store: MetadataStore) -> None:
    store.mfa_devices.create(SERIAL, b"sealed")
    assert not store.mfa_devices.accept_step(SERIAL, 5)  # an unassigned device accepts nothing
    store.mfa_devices.enable(SERIAL, "AIDAALICE", step=5, drift_steps=0)
    assert not store.mfa_devices.accept_step(SERIAL, 5)
    assert store.mfa_devices.accept_step(SERIAL, 7, drift_steps=2)
    assert not store.mfa_devices.accept_step(SERIAL, 6)
    device = store.mfa_devices.get(SERIAL)
    assert device is not None and (device.last_step, device.drift_steps) == (7, 2)


def test_of_requests_racing_with_one_code_exactly_one_passes(store: MetadataStore) -> None:
    store.mfa_devices.create(SERIAL, b"sealed")
    store.mfa_devices.enable(SERIAL, "AIDAALICE", step=1, drift_steps=0)
    racers = 8
    barrier = threading.Barrier(racers)

    def race(_: int) -> bool:
        barrier.wait()
        return store.mfa_devices.accept_step(SERIAL, 2)

    with ThreadPoolExecutor(racers) as pool:
        assert sorted(pool.map(race, range(racers))) == [False] * (racers - 1) + [True]


def test_only_an_unassigned_device_is_deleted(store: MetadataStore) -> None:
    store.mfa_devices.create(SERIAL, b"sealed")
    store.mfa_devices.enable(SERIAL, "AIDAALICE", step=1, drift_steps=0)
    with pytest.raises(DeviceAssigned):
        store.mfa_devices.delete(SERIAL)
    assert not store.mfa_devices.deactivate(SERIAL, "AIDABOB")  # not Bob's
    assert store.mfa_devices.deactivate(SERIAL, "AIDAALICE")
    assert store.mfa_devices.delete(SERIAL)
    assert store.mfa_devices.get(SERIAL) is None
    assert not store.mfa_devices.delete(SERIAL)


def test_listings_by_owner_and_assignment_in_creation_order(store: MetadataStore) -> None:
    for n in range(5):
        store.mfa_devices.create(f"{SERIAL}-{n}", b"sealed")
    for n in (4, 0, 2):
        store.mfa_devices.enable(f"{SERIAL}-{n}", "AIDAALICE", step=1, drift_steps=0)
    assert [d.serial_number[-1] for d in store.mfa_devices.owned_by("AIDAALICE")] == ["0", "2", "4"]
    assert [d.serial_number[-1] for d in store.mfa_devices.by_assignment("Unassigned")] == ["1", "3"]
    assert len(store.mfa_devices.by_assignment("Assigned")) == 3 and len(store.mfa_devices.by_assignment()) == 5
    assert store.mfa_devices.owned_by("AIDABOB") == []
