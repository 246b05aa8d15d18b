"""SageMaker Edge Manager's device fleets and devices.

Neither fleets nor devices have a lifecycle: users create, update and delete fleets, and register, update and
deregister devices. A device belongs to one fleet; its name is unique in the account, so registering it in another
fleet is refused while it is registered. A deregistered device keeps its row (GetDeviceRegistration answers
DEREGISTERED for it) but is no longer listed or described; registering it again revives it. SageMaker refuses to
delete a fleet that still has registered devices. What an agent reports (SendHeartbeat, or its MQTT heartbeat) is
stored on its device: the heartbeat's time, the agent's version, the models it runs.

Telemetry, what devices send over MQTT, is store/metadata/edge_telemetry.py's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, Index, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.paging import Page
from modelbay.store.metadata.records import (
    NO_FILTER,
    Clock,
    ListFilter,
    RecordNotFound,
    SortKey,
    check_unique,
    delete_tags,
    find_row,
    from_json_times,
    get_row,
    list_rows,
    to_json_times,
    utc_now,
)
from modelbay.store.metadata.tables import ResourceRow, UtcDateTime

_MODEL_TIMES = frozenset({"LatestSampleTime", "LatestInference"})
_MODEL_MEMBERS = ("ModelName", "ModelVersion", *sorted(_MODEL_TIMES))  # EdgeModel's members
REGISTERED, NOT_REGISTERED, DEREGISTERED = "REGISTERED", "NOT_REGISTERED", "DEREGISTERED"


class DeviceFleetRow(ResourceRow):
    """One fleet; `output_config` is EdgeOutputConfig's wire dict, `iot_role_alias` set when EnableIotRoleAlias."""

    __tablename__ = "device_fleets"

    description: Mapped[str | None] = mapped_column(Text)
    role_arn: Mapped[str | None] = mapped_column(String(2048))
    output_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    iot_role_alias: Mapped[str | None] = mapped_column(String(256))
    last_modified_time: Mapped[datetime] = mapped_column(UtcDateTime)


class DeviceRow(ResourceRow):
    """One device. `models` is the Models its agent last reported, their times as ISO 8601 strings;
    `deregistered_time` is set while it is deregistered."""

    __tablename__ = "edge_devices"
    __table_args__ = (Index(None, "creation_time"), Index(None, "fleet"))

    fleet: Mapped[str] = mapped_column(String(63))
    description: Mapped[str | None] = mapped_column(String(40))
    iot_thing_name: Mapped[str | None] = mapped_column(String(128))
    registration_time: Mapped[datetime] = mapped_column(UtcDateTime)
    deregistered_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    latest_heartbeat: Mapped[datetime | None] = mapped_column(UtcDateTime)
    agent_version: Mapped[str | None] = mapped_column(String(64))
    models: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    model_names: Mapped[str] = mapped_column(Text)  # ",<name>,<name>,": what ListDevices' ModelName filter reads


class DeviceFleetNotFound(RecordNotFound):
    """No device fleet has this name."""


class DeviceNotFound(RecordNotFound):
    """No registered device of the fleet has this name."""


class FleetHasDevices(Exception):
    """The fleet still has registered devices: SageMaker keeps it."""


class DeviceInAnotherFleet(Exception):
    """The device is registered in another fleet; `fleet` is that one."""

    def __init__(self, device: str, fleet: str) -> None:
        super().__init__(f"{device} is registered in fleet {fleet}")
        self.device, self.fleet = device, fleet


@dataclass(frozen=True)
class DeviceFleetRecord:
    name: str
    arn: str
    output_config: dict[str, Any]
    description: str | None
    role_arn: str | None
    iot_role_alias: str | None
    creation_time: datetime
    last_modified_time: datetime


@dataclass(frozen=True)
class DeviceRecord:
    """A device; `models` are the Models its agent last reported (ModelName, ModelVersion, LatestSampleTime and
    LatestInference as datetimes, ModelMetrics), `registered` False once deregistered."""

    name: str
    arn: str
    fleet: str
    registered: bool
    description: str | None
    iot_thing_name: str | None
    registration_time: datetime
    latest_heartbeat: datetime | None
    agent_version: str | None
    models: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class DeviceFilter(ListFilter):
    """ListDevices' filters: the devices of one fleet, running one model, heard from after a time; registered
    devices only."""

    fleet: str | None = None
    model_name: str | None = None
    latest_heartbeat_after: datetime | None = None

    def conditions(self, row: Any) -> list[ColumnElement[bool]]:
        found = [*super().conditions(row), row.deregistered_time.is_(None)]
        if self.fleet is not None:
            found.append(row.fleet == self.fleet)
        if self.latest_heartbeat_after is not None:
            found.append(row.latest_heartbeat > self.latest_heartbeat_after)
        if self.model_name is not None:
            found.append(row.model_names.contains(f",{self.model_name},", autoescape=True))
        return found


class DeviceFleetRepository:
    """Device fleets by name. Every write is one transaction; times come from `clock`."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    def create(self, name: str, arn: str, output_config: dict[str, Any], *, description: str | None = None,
               role_arn: str | None = None, iot_role_alias: str | None = None) -> DeviceFleetRecord:
        """Store a new fleet; RecordExists (writing nothing) if one has this name or ARN."""
        now = self._clock()
        with self._db.write(lock="device_fleets create") as session:
            check_unique(session, DeviceFleetRow, name, arn)
            row = DeviceFleetRow(name=name, arn=arn, output_config=output_config, description=description,
                                 role_arn=role_arn, iot_role_alias=iot_role_alias, creation_time=now,
                                 last_modified_time=now)
            session.add(row)
            return _fleet(row)

    def get(self, name: str) -> DeviceFleetRecord | None:
        return get_row(self._db, DeviceFleetRow, name, _fleet)

    def list(self, filters: ListFilter = NO_FILTER, sort_by: SortKey = "CreationTime", ascending: bool = False,
             after_token: str | None = None, limit: int = 10) -> Page[DeviceFleetRecord]:
        return list_rows(self._db, DeviceFleetRow, _fleet, filters, sort_by, ascending, after_token, limit)

    def update(self, name: str, output_config: dict[str, Any], *, description: str | None = None,
               role_arn: str | None = None, iot_role_alias: str | None = None) -> DeviceFleetRecord:
        """Replace the output config; set what else is given (None keeps what is stored). Raises DeviceFleetNotFound."""
        with self._db.write(lock=f"device_fleets {name}") as session:
            row = find_row(session, DeviceFleetRow, name, DeviceFleetNotFound)
            row.output_config = output_config
            row.description = description if description is not None else row.description
            row.role_arn = role_arn or row.role_arn
            row.iot_role_alias = iot_role_alias or row.iot_role_alias
            row.last_modified_time = self._clock()
            return _fleet(row)

    def delete(self, name: str) -> DeviceFleetRecord:
        """Remove the fleet, its tags and its deregistered devices. Raises DeviceFleetNotFound, or FleetHasDevices
        while devices are registered in it."""
        with self._db.write(lock=f"device_fleets {name}") as session:
            row = find_row(session, DeviceFleetRow, name, DeviceFleetNotFound)
            devices = list(session.scalars(select(DeviceRow).where(DeviceRow.fleet == name)))
            if any(device.deregistered_time is None for device in devices):
                raise FleetHasDevices(name)
            for device in devices:
                delete_tags(session, device.arn)
                session.delete(device)
            delete_tags(session, row.arn)
            session.delete(row)
            return _fleet(row)


class DeviceRepository:
    """Devices by name, each in its fleet. Every write is one transaction; times come from `clock`."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    def register(self, fleet: str, devices: Sequence[Mapping[str, Any]], arns: Mapping[str, str]) -> list[DeviceRecord]:
        """Register each device (RegisterDevices' Device wire dicts; `arns` by name) in `fleet`, all or none: a
        device registered in the fleet already is registered again (its description and thing name replaced).
        Raises DeviceFleetNotFound, or DeviceInAnotherFleet."""
        now = self._clock()
        with self._db.write(lock="edge_devices register") as session:
            find_row(session, DeviceFleetRow, fleet, DeviceFleetNotFound)
            return [_device(self._registered(session, fleet, device, arns[device["DeviceName"]], now))
                    for device in devices]

    @staticmethod
    def _registered(session: Session, fleet: str, device: Mapping[str, Any], arn: str, now: datetime) -> DeviceRow:
        name = device["DeviceName"]
        row = session.scalar(select(DeviceRow).where(DeviceRow.name == name))
        if row is not None and row.deregistered_time is None and row.fleet != fleet:
            raise DeviceInAnotherFleet(name, row.fleet)
        if row is None:
            row = DeviceRow(name=name, arn=arn, creation_time=now, deregistered_time=now)
            session.add(row)
        if row.deregistered_time is not None:  # registered anew: nothing reported since
            row.latest_heartbeat, row.agent_version = None, None
            _set_models(row, [])
        row.arn, row.fleet, row.registration_time, row.deregistered_time = arn, fleet, now, None
        row.description, row.iot_thing_name = device.get("Description"), device.get("IotThingName")
        return row

    def deregister(self, fleet: str, names: Sequence[str]) -> None:
        """Deregister the fleet's devices of these names; names not registered in it are ignored.
        Raises DeviceFleetNotFound."""
        now = self._clock()
        with self._db.write(lock="edge_devices register") as session:
            find_row(session, DeviceFleetRow, fleet, DeviceFleetNotFound)
            for row in session.scalars(select(DeviceRow).where(
                    DeviceRow.fleet == fleet, DeviceRow.name.in_(list(names)), DeviceRow.deregistered_time.is_(None))):
                row.deregistered_time = now

    def update(self, fleet: str, devices: Sequence[Mapping[str, Any]]) -> None:
        """Set each device's Description and IotThingName (UpdateDevices' Device wire dicts), all or none.
        Raises DeviceFleetNotFound, or DeviceNotFound for a device not registered in the fleet."""
        with self._db.write(lock="edge_devices register") as session:
            find_row(session, DeviceFleetRow, fleet, DeviceFleetNotFound)
            for device in devices:
                row = _find_device(session, fleet, device["DeviceName"])
                row.description = device.get("Description", row.description)
                row.iot_thing_name = device.get("IotThingName", row.iot_thing_name)

    def get(self, fleet: str, name: str) -> DeviceRecord | None:
        """The device registered in `fleet` with this name, or None."""
        found = get_row(self._db, DeviceRow, name, _device)
        return found if found is not None and found.registered and found.fleet == fleet else None

    def registration(self, fleet: str, name: str) -> str:
        """GetDeviceRegistration's answer: REGISTERED, DEREGISTERED (from this fleet) or NOT_REGISTERED."""
        found = get_row(self._db, DeviceRow, name, _device)
        if found is None or found.fleet != fleet:
            return NOT_REGISTERED
        return REGISTERED if found.registered else DEREGISTERED

    def list_in_fleet(self, fleet: str) -> list[DeviceRecord]:
        """Every device registered in the fleet, in registration order."""
        with self._db.read() as session:
            rows = session.scalars(select(DeviceRow).where(DeviceRow.fleet == fleet, DeviceRow.deregistered_time.is_(
                None)).order_by(DeviceRow.id))
            return [_device(row) for row in rows]

    def record_heartbeat(self, fleet: str, name: str, time: datetime | None, agent_version: str,
                         models: Sequence[Mapping[str, Any]] | None) -> DeviceRecord:
        """What a heartbeat sent at `time` (None: now) reports: the agent's version and (when it names them) the
        models the device runs. A heartbeat older than the latest one recorded changes nothing (MQTT may deliver
        late). Raises DeviceNotFound for a device not registered in the fleet."""
        time = time or self._clock()
        with self._db.write(lock=f"edge_devices {name}") as session:
            row = _find_device(session, fleet, name)
            if row.latest_heartbeat is None or time >= row.latest_heartbeat:
                row.latest_heartbeat, row.agent_version = time, agent_version
                if models is not None:
                    _set_models(row, models)
            return _device(row)


    def list(self, filters: ListFilter = NO_FILTER, sort_by: SortKey = "CreationTime", ascending: bool = False,
             after_token: str | None = None, limit: int = 10) -> Page[DeviceRecord]:
        """Registered devices only, narrowed by `filters` (a DeviceFilter's by fleet, model and heartbeat too)."""
        wanted = filters if isinstance(filters, DeviceFilter) else DeviceFilter(**dataclasses.asdict(filters))
        return list_rows(self._db, DeviceRow, _device, wanted, sort_by, ascending, after_token, limit)


def _set_models(row: DeviceRow, models: Sequence[Mapping[str, Any]]) -> None:
    """The models a device runs, as DescribeDevice shows them (their metrics go to the metric store)."""
    row.models = [to_json_times({key: model[key] for key in _MODEL_MEMBERS if key in model}) for model in models]
    row.model_names = "," + "".join(f"{model['ModelName']}," for model in models if "ModelName" in model)


def _find_device(session: Session, fleet: str, name: str) -> DeviceRow:
    row = session.scalar(select(DeviceRow).where(DeviceRow.name == name, DeviceRow.fleet == fleet,
                                                 DeviceRow.deregistered_time.is_(None)))
    if row is None:
        raise DeviceNotFound(name)
    return row


def _fleet(row: DeviceFleetRow) -> DeviceFleetRecord:
    return DeviceFleetRecord(name=row.name, arn=row.arn, output_config=row.output_config, description=row.description,
                             role_arn=row.role_arn, iot_role_alias=row.iot_role_alias, creation_time=row.creation_time,
                             last_modified_time=row.last_modified_time)


def _device(row: DeviceRow) -> DeviceRecord:
    return DeviceRecord(name=row.name, arn=row.arn, fleet=row.fleet, registered=row.deregistered_time is None,
                        description=row.description, iot_thing_name=row.iot_thing_name,
                        registration_time=row.registration_time, latest_heartbeat=row.latest_heartbeat,
                        agent_version=row.agent_version,
                        models=[from_json_times(model, _MODEL_TIMES) for model in row.models])
