"""Edge Manager's edge deployment plans, their stages and each device's part.

An edge deployment plan names the packages to deploy (ModelConfigs) to a device fleet, in stages. A stage is
READYTODEPLOY until StartEdgeDeploymentStage selects the fleet's devices its DeviceSelectionConfig matches, leaving
out those an earlier stage of the plan selected (stages roll out to disjoint sets of devices); each selected device
then has a row of its own (READYTODEPLOY until it reports), and GetDeployments gives it the stage's deployment.
Devices report with SendHeartbeat's DeploymentResult (`record_device_result`), which moves their rows and the stage:
DEPLOYED once every selected device reported DEPLOYED; on a failure, a ROLLBACK_ON_FAILURE stage is FAILED at once
and its deployment withdrawn (the devices roll back to what they ran before), while a DO_NOTHING stage waits for
every device and ends FAILED, its deployment left in place for the failures to be investigated.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.statuses import DeviceDeploymentStatus, StageStatus
from modelbay.store.metadata.database import Database
from modelbay.store.metadata.edge_packaging_jobs import EdgePackagingJobRow
from modelbay.store.metadata.lifecycle import Lifecycle
from modelbay.store.metadata.paging import Page
from modelbay.store.metadata.records import (
    NO_FILTER,
    Clock,
    ListFilter,
    RecordNotFound,
    SortKey,
    StatusConflict,
    check_unique,
    delete_tags,
    find_row,
    list_rows,
    utc_now,
)
from modelbay.store.metadata.tables import Base, BigSerial, ResourceRow, UtcDateTime

ROLLBACK_ON_FAILURE = "ROLLBACK_ON_FAILURE"

# A stage is made READYTODEPLOY (CREATING passes within the request) and has nothing to wait for once stopped.
STAGE_LIFECYCLE: Lifecycle[StageStatus] = Lifecycle({
    StageStatus.CREATING: frozenset({StageStatus.READYTODEPLOY}),
    StageStatus.READYTODEPLOY: frozenset({StageStatus.STARTING}),
    StageStatus.STARTING: frozenset({StageStatus.INPROGRESS, StageStatus.DEPLOYED}),
    StageStatus.INPROGRESS: frozenset({StageStatus.DEPLOYED, StageStatus.FAILED, StageStatus.STOPPING}),
    StageStatus.DEPLOYED: frozenset({StageStatus.FAILED, StageStatus.STOPPING}),  # a device may fail later
    StageStatus.FAILED: frozenset({StageStatus.DEPLOYED, StageStatus.STOPPING}),  # a DO_NOTHING stage's retry
    StageStatus.STOPPING: frozenset({StageStatus.STOPPED}),
    StageStatus.STOPPED: frozenset(),
})

DEVICE_LIFECYCLE: Lifecycle[DeviceDeploymentStatus] = Lifecycle({
    DeviceDeploymentStatus.READYTODEPLOY: frozenset({DeviceDeploymentStatus.INPROGRESS, DeviceDeploymentStatus.DEPLOYED,
                                                     DeviceDeploymentStatus.FAILED, DeviceDeploymentStatus.STOPPING}),
    DeviceDeploymentStatus.INPROGRESS: frozenset({DeviceDeploymentStatus.DEPLOYED, DeviceDeploymentStatus.FAILED,
                                                  DeviceDeploymentStatus.STOPPING}),
    # a device reports again after a retry or a later failure
    DeviceDeploymentStatus.DEPLOYED: frozenset({DeviceDeploymentStatus.FAILED, DeviceDeploymentStatus.STOPPING}),
    DeviceDeploymentStatus.FAILED: frozenset({DeviceDeploymentStatus.DEPLOYED, DeviceDeploymentStatus.STOPPING}),
    DeviceDeploymentStatus.STOPPING: frozenset({DeviceDeploymentStatus.STOPPED}),
    DeviceDeploymentStatus.STOPPED: frozenset(),
})

# What a device's DeploymentResult.DeploymentStatus says (the agent's words, SageMaker's, and ours) as a status.
_REPORTED = {"SUCCESS": DeviceDeploymentStatus.DEPLOYED, "DEPLOYED": DeviceDeploymentStatus.DEPLOYED,
             "FAIL": DeviceDeploymentStatus.FAILED, "FAILED": DeviceDeploymentStatus.FAILED,
             "INPROGRESS": DeviceDeploymentStatus.INPROGRESS, "IN-PROGRESS": DeviceDeploymentStatus.INPROGRESS}
# The stages whose deployment devices are given: started and not withdrawn (see `_is_delivered`).
_DELIVERED = (StageStatus.INPROGRESS, StageStatus.DEPLOYED, StageStatus.FAILED)
_DEPLOYMENT_NAME_MAX = 63


class EdgeDeploymentPlanRow(ResourceRow):
    """One edge deployment plan: its fleet and models; its stages are EdgeDeploymentStageRows."""

    __tablename__ = "edge_deployment_plans"

    device_fleet_name: Mapped[str] = mapped_column(String(63))
    model_configs: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    last_modified_time: Mapped[datetime] = mapped_column(UtcDateTime)


class EdgeDeploymentStageRow(Base):
    """One stage of a plan, in the plan's order (`position`)."""

    __tablename__ = "edge_deployment_stages"
    __table_args__ = (Index(None, "plan_name", "name", unique=True),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    plan_name: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(63))
    position: Mapped[int] = mapped_column(Integer)
    device_selection: Mapped[dict[str, Any]] = mapped_column(JSON)
    failure_handling_policy: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    status_message: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)


class EdgeStageDeviceRow(Base):
    """One device a started stage selected; a device is selected by one stage of a plan at most."""

    __tablename__ = "edge_stage_devices"
    __table_args__ = (Index(None, "plan_name", "device_fleet_name", "device_name", unique=True),
                      Index(None, "device_fleet_name", "device_name"))

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    plan_name: Mapped[str] = mapped_column(String(63))
    stage_name: Mapped[str] = mapped_column(String(63))
    device_fleet_name: Mapped[str] = mapped_column(String(63))
    device_name: Mapped[str] = mapped_column(String(63))
    status: Mapped[str] = mapped_column(String(32))
    status_message: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[datetime] = mapped_column(UtcDateTime)


class EdgeDeploymentPlanNotFound(RecordNotFound):
    """No edge deployment plan has this name."""


class EdgeDeploymentStageNotFound(RecordNotFound):
    """The plan has no stage of this name."""


class StageExists(Exception):
    """A plan's stage names are unique: `name` is taken."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the plan has a stage named {name} already")
        self.name = name


class PlanInUse(Exception):
    """A plan, or a stage, that has begun deploying is not deleted; `stage` is the stage that has."""

    def __init__(self, stage: str, status: str) -> None:
        super().__init__(f"stage {stage} is {status}")
        self.stage, self.status = stage, status


@dataclass(frozen=True)
class DeviceSelection:
    """A stage's DeviceSelectionConfig."""

    subset_type: str  # PERCENTAGE | SELECTION | NAMECONTAINS
    percentage: int
    device_names: tuple[str, ...]
    name_contains: str | None

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> DeviceSelection:
        return cls(subset_type=wire["DeviceSubsetType"], percentage=wire.get("Percentage", 100),
                   device_names=tuple(wire.get("DeviceNames", ())), name_contains=wire.get("DeviceNameContains"))

    def pick(self, devices: Sequence[str]) -> list[str]:
        """The devices of `devices` this selection matches. PERCENTAGE picks the first Percentage % (rounded up) of
        them in the order of a hash of their names: the same devices each time, spread across the names."""
        if self.subset_type == "SELECTION":
            wanted = set(self.device_names)
            return [device for device in devices if device in wanted]
        if self.subset_type == "NAMECONTAINS":
            return [device for device in devices if (self.name_contains or "") in device]
        ordered = sorted(devices, key=lambda device: (zlib.crc32(device.encode()), device))
        return ordered[:-(-len(ordered) * self.percentage // 100)]


@dataclass(frozen=True)
class EdgeDeploymentStage:
    """A stage of a plan and where its deployment stands; the counts are its devices' by status."""

    name: str
    selection: dict[str, Any]  # DeviceSelectionConfig as given
    failure_handling_policy: str
    status: StageStatus
    status_message: str | None
    start_time: datetime | None
    deployed: int
    pending: int
    failed: int


@dataclass(frozen=True)
class EdgeDeploymentPlan:
    name: str
    arn: str
    device_fleet_name: str
    model_configs: list[dict[str, Any]]
    stages: list[EdgeDeploymentStage]  # in the plan's order
    creation_time: datetime
    last_modified_time: datetime

    @property
    def counts(self) -> tuple[int, int, int]:
        """The deployed, pending and failed devices of all its stages."""
        return (sum(s.deployed for s in self.stages), sum(s.pending for s in self.stages),
                sum(s.failed for s in self.stages))


@dataclass(frozen=True)
class StageDevice:
    """One device a stage selected, and how its deployment went."""

    plan_name: str
    stage_name: str
    device_fleet_name: str
    device_name: str
    status: DeviceDeploymentStatus
    status_message: str | None
    start_time: datetime


@dataclass(frozen=True)
class PlanFilter(ListFilter):
    """ListEdgeDeploymentPlans' filters: ListFilter's and DeviceFleetNameContains."""

    fleet_name_contains: str | None = None

    def conditions(self, row: Any) -> list[Any]:
        found = super().conditions(row)
        if self.fleet_name_contains is not None:
            found.append(row.device_fleet_name.icontains(self.fleet_name_contains, autoescape=True))
        return found


def deployment_name(plan: str, stage: str) -> str:
    """The DeploymentName devices see for a stage: `<plan>-<stage>`, stable and unique per plan and stage; when that
    is too long, its head and a hash of the whole."""
    name = f"{plan}-{stage}"
    if len(name) <= _DEPLOYMENT_NAME_MAX:
        return name
    digest = hashlib.sha256(f"{plan}\0{stage}".encode()).hexdigest()[:16]
    return f"{name[:_DEPLOYMENT_NAME_MAX - 17].rstrip('-')}-{digest}"


class EdgeDeploymentPlanRepository:
    """Edge deployment plans, their stages and their stages' devices. Every method that writes is one transaction
    (under the plan's lock); times come from `clock`."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    def create(self, name: str, arn: str, fleet: str, model_configs: list[dict[str, Any]],
               stages: Iterable[Mapping[str, Any]]) -> EdgeDeploymentPlan:
        """Store a plan and its stages (DeploymentStage wire dicts), READYTODEPLOY. Raises RecordExists, or
        StageExists for two stages of one name, writing nothing."""
        now = self._clock()
        with self._db.write(lock="edge_deployment_plans create") as session:
            check_unique(session, EdgeDeploymentPlanRow, name, arn)
            session.add(EdgeDeploymentPlanRow(name=name, arn=arn, device_fleet_name=fleet, model_configs=model_configs,
                                              creation_time=now, last_modified_time=now))
            self._add_stages(session, name, stages, 0)
            return self._plan(session, name)

    def add_stages(self, name: str, stages: Iterable[Mapping[str, Any]]) -> EdgeDeploymentPlan:
        """Append stages to the plan. Raises EdgeDeploymentPlanNotFound, or StageExists for a name taken."""
        with self._db.write(lock=_lock(name)) as session:
            plan = find_row(session, EdgeDeploymentPlanRow, name, EdgeDeploymentPlanNotFound)
            taken = len(_stage_rows(session, name))
            self._add_stages(session, name, stages, taken)
            plan.last_modified_time = self._clock()
            return self._plan(session, name)

    def get(self, name: str) -> EdgeDeploymentPlan | None:
        with self._db.read() as session:
            found = session.scalar(select(EdgeDeploymentPlanRow.id).where(EdgeDeploymentPlanRow.name == name))
            return None if found is None else self._plan(session, name)

    def delete(self, name: str) -> None:
        """Delete the plan, its stages and its devices' rows. Raises EdgeDeploymentPlanNotFound, or PlanInUse while
        a stage is deploying (INPROGRESS or STARTING)."""
        with self._db.write(lock=_lock(name)) as session:
            plan = find_row(session, EdgeDeploymentPlanRow, name, EdgeDeploymentPlanNotFound)
            stages = _stage_rows(session, name)
            for stage in stages:
                if stage.status in (StageStatus.STARTING, StageStatus.INPROGRESS):
                    raise PlanInUse(stage.name, stage.status)
            for row in [*stages, *_device_rows(session, name)]:
                session.delete(row)
            delete_tags(session, plan.arn)
            session.delete(plan)

    def delete_stage(self, name: str, stage: str) -> None:
        """Delete a stage that has not been started. Raises EdgeDeploymentPlanNotFound, EdgeDeploymentStageNotFound,
        or PlanInUse once it has been started."""
        with self._db.write(lock=_lock(name)) as session:
            plan = find_row(session, EdgeDeploymentPlanRow, name, EdgeDeploymentPlanNotFound)
            row = _stage_row(session, name, stage)
            if row.status != StageStatus.READYTODEPLOY:
                raise PlanInUse(stage, row.status)
            session.delete(row)
            plan.last_modified_time = self._clock()

    def start_stage(self, name: str, stage: str, fleet_devices: Sequence[str]) -> EdgeDeploymentStage:
        """Start a READYTODEPLOY stage: select, of `fleet_devices` (the fleet's devices now), those its selection
        matches and no other stage of the plan selected. A stage that selects none is DEPLOYED at once. Raises
        EdgeDeploymentPlanNotFound, EdgeDeploymentStageNotFound, or StatusConflict for a stage started already."""
        with self._db.write(lock=_lock(name)) as session:
            plan = find_row(session, EdgeDeploymentPlanRow, name, EdgeDeploymentPlanNotFound)
            row = _stage_row(session, name, stage)
            if not STAGE_LIFECYCLE.allows(row.status, StageStatus.STARTING):
                raise StatusConflict(stage, row.status)
            now = self._clock()
            _move_stage(row, StageStatus.STARTING)
            row.start_time = now
            taken = {device.device_name for device in _device_rows(session, name)}
            chosen = DeviceSelection.from_wire(row.device_selection).pick(
                [device for device in fleet_devices if device not in taken])
            session.add_all(EdgeStageDeviceRow(
                plan_name=name, stage_name=stage, device_fleet_name=plan.device_fleet_name, device_name=device,
                status=DeviceDeploymentStatus.READYTODEPLOY, start_time=now) for device in chosen)
            _move_stage(row, StageStatus.INPROGRESS if chosen else StageStatus.DEPLOYED)
            if not chosen:
                row.status_message = "No device of the fleet that no earlier stage selected matches the selection."
            plan.last_modified_time = now
            session.flush()
            return _stage(row, _device_rows(session, name, stage))

    def stop_stage(self, name: str, stage: str) -> EdgeDeploymentStage:
        """Stop a started stage: its deployment is withdrawn from its devices, so it ends STOPPED (through STOPPING)
        at once, as do its devices' deployments. Raises the plan's and stage's not-found errors, or StatusConflict
        for a stage not started or stopped already."""
        with self._db.write(lock=_lock(name)) as session:
            plan = find_row(session, EdgeDeploymentPlanRow, name, EdgeDeploymentPlanNotFound)
            row = _stage_row(session, name, stage)
            if not STAGE_LIFECYCLE.allows(row.status, StageStatus.STOPPING):
                raise StatusConflict(stage, row.status)
            devices = _device_rows(session, name, stage)
            for status in (StageStatus.STOPPING, StageStatus.STOPPED):
                _move_stage(row, status)
                for device in devices:
                    _move_device(device, DeviceDeploymentStatus(status.value))
            plan.last_modified_time = self._clock()
            return _stage(row, devices)

    def stage_devices(self, name: str, stage: str) -> list[StageDevice]:
        """The devices the stage selected, by name. Raises the plan's and stage's not-found errors."""
        with self._db.read() as session:
            find_row(session, EdgeDeploymentPlanRow, name, EdgeDeploymentPlanNotFound)
            _stage_row(session, name, stage)
            return [_stage_device(row) for row in sorted(_device_rows(session, name, stage),
                                                          key=lambda row: row.device_name)]

    def deployments_for_device(self, fleet: str, device: str) -> list[dict[str, Any]]:
        """GetDeployments' EdgeDeployments of the device: one per started stage that selected it and still delivers
        (INPROGRESS, DEPLOYED, or FAILED under DO_NOTHING), oldest first."""
        with self._db.read() as session:
            found = session.execute(
                select(EdgeStageDeviceRow, EdgeDeploymentStageRow, EdgeDeploymentPlanRow)
                .join(EdgeDeploymentStageRow, (EdgeDeploymentStageRow.plan_name == EdgeStageDeviceRow.plan_name)
                      & (EdgeDeploymentStageRow.name == EdgeStageDeviceRow.stage_name))
                .join(EdgeDeploymentPlanRow, EdgeDeploymentPlanRow.name == EdgeStageDeviceRow.plan_name)
                .where(EdgeStageDeviceRow.device_fleet_name == fleet, EdgeStageDeviceRow.device_name == device)
                .order_by(EdgeStageDeviceRow.id)).all()
            delivered = [(stage, plan) for _, stage, plan in found if _is_delivered(stage)]
            packages = _packages(session, {config["EdgePackagingJobName"] for _, plan in delivered
                                           for config in plan.model_configs})
            return [_deployment(stage, plan, packages) for stage, plan in delivered]

    def record_device_result(self, fleet: str, device: str, result: Mapping[str, Any]) -> None:
        """Apply a device's DeploymentResult (SendHeartbeat's member, parsed) to the stage whose deployment it names:
        the device's status and message, then the stage's status (see the module's docstring). A result naming no
        deployment of the device, or a status this does not know, changes nothing."""
        reported = _reported_status(result)
        if reported is None:
            return
        for plan_name, stage_name in self._stages_of(fleet, device, result.get("DeploymentName", "")):
            with self._db.write(lock=_lock(plan_name)) as session:
                stage = _stage_row(session, plan_name, stage_name)
                rows = _device_rows(session, plan_name, stage_name)
                mine = next((row for row in rows if row.device_name == device), None)
                if mine is None or not _is_delivered(stage) or not _is_news(mine.status, reported):
                    continue
                _move_device(mine, reported)
                mine.status_message = _status_message(result)
                _settle(stage, rows)
                find_row(session, EdgeDeploymentPlanRow, plan_name).last_modified_time = self._clock()

    def _stages_of(self, fleet: str, device: str, name: str) -> list[tuple[str, str]]:
        """The (plan, stage) pairs of the device whose DeploymentName is `name`."""
        with self._db.read() as session:
            pairs = session.execute(select(EdgeStageDeviceRow.plan_name, EdgeStageDeviceRow.stage_name).where(
                EdgeStageDeviceRow.device_fleet_name == fleet, EdgeStageDeviceRow.device_name == device)).all()
        return [(plan, stage) for plan, stage in pairs if deployment_name(plan, stage) == name]

    def _add_stages(self, session: Session, plan: str, stages: Iterable[Mapping[str, Any]], first: int) -> None:
        names = {row.name for row in _stage_rows(session, plan)}
        for position, stage in enumerate(stages, start=first):
            if stage["StageName"] in names:
                raise StageExists(stage["StageName"])
            names.add(stage["StageName"])
            policy = stage.get("DeploymentConfig", {}).get("FailureHandlingPolicy", ROLLBACK_ON_FAILURE)
            session.add(EdgeDeploymentStageRow(plan_name=plan, name=stage["StageName"], position=position,
                                               device_selection=dict(stage["DeviceSelectionConfig"]),
                                               failure_handling_policy=policy, status=StageStatus.READYTODEPLOY))
        session.flush()

    def _plan(self, session: Session, name: str) -> EdgeDeploymentPlan:
        row = find_row(session, EdgeDeploymentPlanRow, name, EdgeDeploymentPlanNotFound)
        devices = _device_rows(session, name)
        stages = [_stage(stage, [d for d in devices if d.stage_name == stage.name])
                  for stage in _stage_rows(session, name)]
        return EdgeDeploymentPlan(name=row.name, arn=row.arn, device_fleet_name=row.device_fleet_name,
                                  model_configs=row.model_configs, stages=stages, creation_time=row.creation_time,
                                  last_modified_time=row.last_modified_time)

    def list(self, filters: ListFilter = NO_FILTER, sort_by: SortKey = "CreationTime", ascending: bool = False,
             after_token: str | None = None, limit: int = 10) -> Page[EdgeDeploymentPlan]:
        """A page of plans (records.list_rows); each plan's stages read in its own query (a page is short)."""
        page = list_rows(self._db, EdgeDeploymentPlanRow, lambda row: row.name, filters, sort_by, ascending,
                         after_token, limit)
        with self._db.read() as session:
            return Page([self._plan(session, name) for name in page.items], page.next_token)


def _is_news(current: str, reported: DeviceDeploymentStatus) -> bool:
    """Whether a report moves the device: a heartbeat repeats the last result, and a report of progress after an
    outcome, or of anything once the stage is stopped, is dropped."""
    return current == reported or DEVICE_LIFECYCLE.allows(current, reported)


def _lock(plan: str) -> str:
    return f"edge_deployment_plans {plan}"


def _stage_rows(session: Session, plan: str) -> list[EdgeDeploymentStageRow]:
    return list(session.scalars(select(EdgeDeploymentStageRow).where(EdgeDeploymentStageRow.plan_name == plan)
                                .order_by(EdgeDeploymentStageRow.position)))


def _stage_row(session: Session, plan: str, stage: str) -> EdgeDeploymentStageRow:
    found = session.scalar(select(EdgeDeploymentStageRow).where(EdgeDeploymentStageRow.plan_name == plan,
                                                                EdgeDeploymentStageRow.name == stage))
    if found is None:
        raise EdgeDeploymentStageNotFound(stage)
    return found


def _device_rows(session: Session, plan: str, stage: str | None = None) -> list[EdgeStageDeviceRow]:
    query = select(EdgeStageDeviceRow).where(EdgeStageDeviceRow.plan_name == plan).order_by(EdgeStageDeviceRow.id)
    if stage is not None:
        query = query.where(EdgeStageDeviceRow.stage_name == stage)
    return list(session.scalars(query))


def _move_stage(row: EdgeDeploymentStageRow, status: StageStatus) -> None:
    """The one place a stage's status changes, checked against STAGE_LIFECYCLE."""
    STAGE_LIFECYCLE.check(row.name, row.status, status)
    row.status = status


def _move_device(row: EdgeStageDeviceRow, status: DeviceDeploymentStatus) -> None:
    """The one place a stage device's status changes, checked against DEVICE_LIFECYCLE."""
    DEVICE_LIFECYCLE.check(row.device_name, row.status, status)
    row.status = status


def _settle(stage: EdgeDeploymentStageRow, devices: Sequence[EdgeStageDeviceRow]) -> None:
    """The stage's status from its devices': FAILED at the first failure under ROLLBACK_ON_FAILURE, else once every
    device has reported; DEPLOYED when every device is."""
    statuses = [device.status for device in devices]
    failed = [device.device_name for device in devices if device.status == DeviceDeploymentStatus.FAILED]
    reported = all(status in (DeviceDeploymentStatus.DEPLOYED, DeviceDeploymentStatus.FAILED) for status in statuses)
    if failed and (reported or stage.failure_handling_policy == ROLLBACK_ON_FAILURE):
        _move_stage(stage, StageStatus.FAILED)
        stage.status_message = f"The deployment failed on {len(failed)} device(s): {', '.join(failed[:5])}."
    elif reported and stage.status != StageStatus.DEPLOYED:
        _move_stage(stage, StageStatus.DEPLOYED)
        stage.status_message = None


def _is_delivered(stage: EdgeDeploymentStageRow) -> bool:
    """Whether the stage's devices are given its deployment: a failed ROLLBACK_ON_FAILURE stage's is withdrawn."""
    if stage.status == StageStatus.FAILED:
        return stage.failure_handling_policy != ROLLBACK_ON_FAILURE
    return stage.status in _DELIVERED


def _reported_status(result: Mapping[str, Any]) -> DeviceDeploymentStatus | None:
    """The status a DeploymentResult reports: FAILED if any of its models failed, else its DeploymentStatus's."""
    if any(model.get("Status") == "FAIL" for model in result.get("DeploymentModels", ())):
        return DeviceDeploymentStatus.FAILED
    return _REPORTED.get(re.sub(r"[_ ]", "-", str(result.get("DeploymentStatus", ""))).upper())


def _status_message(result: Mapping[str, Any]) -> str | None:
    reasons = [f"{model.get('ModelHandle', '?')}: {model['StatusReason']}"
               for model in result.get("DeploymentModels", ()) if model.get("StatusReason")]
    return result.get("DeploymentStatusMessage") or ("; ".join(reasons) if reasons else None)


def _packages(session: Session, jobs: set[str]) -> dict[str, EdgePackagingJobRow]:
    if not jobs:
        return {}
    return {row.name: row for row in session.scalars(select(EdgePackagingJobRow)
                                                     .where(EdgePackagingJobRow.name.in_(jobs)))}


def _deployment(stage: EdgeDeploymentStageRow, plan: EdgeDeploymentPlanRow,
                packages: Mapping[str, EdgePackagingJobRow]) -> dict[str, Any]:
    """The EdgeDeployment of a stage: a Definition per model config whose package exists."""
    definitions = []
    for config in plan.model_configs:
        package = packages.get(config["EdgePackagingJobName"])
        if package is None or package.model_artifact is None or package.package_sha1 is None:
            continue
        definitions.append({"ModelHandle": config["ModelHandle"], "S3Url": package.model_artifact,
                            "Checksum": {"Type": "SHA1", "Sum": package.package_sha1}, "State": "DEPLOY"})
    return {"DeploymentName": deployment_name(plan.name, stage.name), "Type": "Model",
            "FailureHandlingPolicy": stage.failure_handling_policy, "Definitions": definitions}


def _stage(row: EdgeDeploymentStageRow, devices: Sequence[EdgeStageDeviceRow]) -> EdgeDeploymentStage:
    deployed = sum(device.status == DeviceDeploymentStatus.DEPLOYED for device in devices)
    failed = sum(device.status == DeviceDeploymentStatus.FAILED for device in devices)
    pending = sum(device.status in (DeviceDeploymentStatus.READYTODEPLOY, DeviceDeploymentStatus.INPROGRESS)
                  for device in devices)
    return EdgeDeploymentStage(name=row.name, selection=row.device_selection,
                               failure_handling_policy=row.failure_handling_policy, status=StageStatus(row.status),
                               status_message=row.status_message, start_time=row.start_time, deployed=deployed,
                               pending=pending, failed=failed)


def _stage_device(row: EdgeStageDeviceRow) -> StageDevice:
    return StageDevice(plan_name=row.plan_name, stage_name=row.stage_name, device_fleet_name=row.device_fleet_name,
                       device_name=row.device_name, status=DeviceDeploymentStatus(row.status),
                       status_message=row.status_message, start_time=row.start_time)
