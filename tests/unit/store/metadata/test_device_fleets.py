"""Device fleets and devices on every metadata backend: registration across fleets, what a
heartbeat records, ListDevices' filters, what SageMaker refuses to delete."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from modelbay.store.metadata import MetadataStore, RecordExists
from modelbay.store.metadata.device_fleets import (
    DEREGISTERED,
    NOT_REGISTERED,
    REGISTERED,
    DeviceFilter,
    DeviceFleetNotFound,
    DeviceInAnotherFleet,
    DeviceNotFound,
    FleetHasDevices,
)
from tests.helpers import T0

OUTPUT: dict[str, Any] = {"S3OutputLocation": "s3://bucket/edge"}


def _fleet(store: MetadataStore, name: str = "fleet") -> None:
    store.device_fleets.create(name, f"arn:fleet/{name}", OUTPUT, description="cameras")


def _register(store: MetadataStore, fleet: str, *names: str) -> None:
    store.devices.register(fleet, [{"DeviceName": name, "IotThingName": f"thing-{name}"} for name in names],
                           {name: f"arn:device/{fleet}/{name}" for name in names})


def test_fleets_are_created_updated_listed_and_deleted(store: MetadataStore) -> None:
    _fleet(store, "a")
    _fleet(store, "b")
    with pytest.raises(RecordExists):
        _fleet(store, "a")
    updated = store.device_fleets.update("a", {"S3OutputLocation": "s3://other"}, iot_role_alias="alias")
    assert (updated.output_config, updated.description, updated.iot_role_alias) == (
        {"S3OutputLocation": "s3://other"}, "cameras", "alias")
    assert updated.last_modified_time > updated.creation_time
    by_change = store.device_fleets.list(sort_by="LastModifiedTime", ascending=False)
    assert [fleet.name for fleet in by_change.items] == ["a", "b"]
    store.device_fleets.delete("a")
    assert store.device_fleets.get("a") is None
    with pytest.raises(DeviceFleetNotFound):
        store.device_fleets.update("a", OUTPUT)


def test_a_fleet_with_registered_devices_is_kept(store: MetadataStore) -> None:
    _fleet(store)
    _register(store, "fleet", "cam-1")
    with pytest.raises(FleetHasDevices):
        store.device_fleets.delete("fleet")
    store.devices.deregister("fleet", ["cam-1"])
    store.device_fleets.delete("fleet")
    assert store.devices.registration("fleet", "cam-1") == NOT_REGISTERED


def test_a_device_registered_in_one_fleet_is_refused_by_another_until_deregistered(store: MetadataStore) -> None:
    _fleet(store, "a")
    _fleet(store, "b")
    _register(store, "a", "cam-1")
    with pytest.raises(DeviceInAnotherFleet) as refused:
        _register(store, "b", "cam-2", "cam-1")
    assert refused.value.fleet == "a"
    assert store.devices.get("b", "cam-2") is None  # all or none
    store.devices.deregister("a", ["cam-1", "never-registered"])
    assert store.devices.registration("a", "cam-1") == DEREGISTERED
    assert store.devices.get("a", "cam-1") is None
    _register(store, "b", "cam-1")
    assert store.devices.registration("b", "cam-1") == REGISTERED
    assert store.devices.registration("a", "cam-1") == NOT_REGISTERED
    assert [device.name for device in store.devices.list_in_fleet("b")] == ["cam-1"]


def test_registering_in_an_unknown_fleet_is_refused(store: MetadataStore) -> None:
    with pytest.raises(DeviceFleetNotFound):
        _register(store, "nowhere", "cam-1")


def test_a_heartbeat_records_its_time_agent_and_models_and_a_late_one_changes_nothing(store: MetadataStore) -> None:
    _fleet(store)
    _register(store, "fleet", "cam-1")
    models = [{"ModelName": "detector", "ModelVersion": "2", "LatestInference": T0,
               "ModelMetrics": [{"MetricName": "latency", "Value": 1.0, "Timestamp": T0}]}]
    store.devices.record_heartbeat("fleet", "cam-1", T0, "1.0", models)
    store.devices.record_heartbeat("fleet", "cam-1", T0 - timedelta(seconds=5), "0.9", [])
    device = store.devices.get("fleet", "cam-1")
    assert device is not None
    assert (device.latest_heartbeat, device.agent_version) == (T0, "1.0")
    assert device.models == [{"ModelName": "detector", "ModelVersion": "2", "LatestInference": T0}]
    with pytest.raises(DeviceNotFound):
        store.devices.record_heartbeat("other-fleet", "cam-1", T0, "1.0", None)


def test_devices_are_listed_by_fleet_model_and_heartbeat(store: MetadataStore) -> None:
    _fleet(store, "a")
    _fleet(store, "b")
    _register(store, "a", "cam-1", "cam-2")
    _register(store, "b", "cam-3")
    store.devices.record_heartbeat("a", "cam-2", T0 + timedelta(hours=1), "1.0",
                                   [{"ModelName": "detector-v", "ModelVersion": "1"}])
    store.devices.update("a", [{"DeviceName": "cam-1", "Description": "door"}])

    def names(**filters: Any) -> list[str]:
        return [d.name for d in store.devices.list(DeviceFilter(**filters), ascending=True, limit=10).items]

    assert names() == ["cam-1", "cam-2", "cam-3"]
    assert names(fleet="a") == ["cam-1", "cam-2"]
    assert names(model_name="detector-v") == ["cam-2"]
    assert names(model_name="detector") == []
    assert names(latest_heartbeat_after=T0) == ["cam-2"]
    described = store.devices.get("a", "cam-1")
    assert described is not None and (described.description, described.iot_thing_name) == ("door", "thing-cam-1")
    with pytest.raises(DeviceNotFound):
        store.devices.update("a", [{"DeviceName": "cam-3"}])
