"""Application Auto Scaling as the database keeps it: scalable targets, their scaling policies, scheduled actions and
scaling activities.

A target is known by its key (service namespace, resource id, scalable dimension); its policies and scheduled
actions by that key and their name; RegisterScalableTarget, PutScalingPolicy and PutScheduledAction create or
overwrite. Deregistering a target removes its policies and scheduled actions; its activities stay (AWS keeps
six weeks of them). The target also remembers its last scale-out and scale-in, which cooldowns are counted
from, so they survive a restart. None of these has a lifecycle: what decides and applies a scaling is in
controllers/autoscaling/.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import JSON, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.records import Clock, RecordNotFound, utc_now
from modelbay.store.metadata.tables import Base, BigSerial, UtcDateTime

PENDING, IN_PROGRESS, SUCCESSFUL, FAILED = "Pending", "InProgress", "Successful", "Failed"
OVERRIDDEN = "Overridden"
# The one kind of target modelbay scales: a SageMaker endpoint variant's instance count.
NAMESPACE, DIMENSION = "sagemaker", "sagemaker:variant:DesiredInstanceCount"


class TargetKey(NamedTuple):
    """What names a scalable target: ServiceNamespace, ResourceId, ScalableDimension."""

    namespace: str
    resource_id: str
    dimension: str


class ScalableTargetNotFound(RecordNotFound):
    """No scalable target has this key."""


class ScalableTargetRow(Base):
    __tablename__ = "scalable_targets"
    __table_args__ = (UniqueConstraint("namespace", "resource_id", "dimension"),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(1600))
    dimension: Mapped[str] = mapped_column(String(128))
    arn: Mapped[str] = mapped_column(Text)
    min_capacity: Mapped[int] = mapped_column(Integer)
    max_capacity: Mapped[int] = mapped_column(Integer)
    role_arn: Mapped[str] = mapped_column(Text)
    suspended: Mapped[dict[str, bool]] = mapped_column(JSON)  # SuspendedState, every member present
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)
    last_scale_out: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_scale_in: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ScalingPolicyRow(Base):
    __tablename__ = "scaling_policies"
    __table_args__ = (UniqueConstraint("namespace", "resource_id", "dimension", "name"),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(1600))
    dimension: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    arn: Mapped[str] = mapped_column(Text, unique=True)
    policy_type: Mapped[str] = mapped_column(String(32))
    configuration: Mapped[dict[str, Any]] = mapped_column(JSON)  # its Step- or TargetTrackingScalingPolicyConfiguration
    alarms: Mapped[list[dict[str, str]]] = mapped_column(JSON)  # [{AlarmName, AlarmARN}] it owns or is named by
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)


class ScheduledActionRow(Base):
    __tablename__ = "scheduled_actions"
    __table_args__ = (UniqueConstraint("namespace", "resource_id", "dimension", "name"),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(1600))
    dimension: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    arn: Mapped[str] = mapped_column(Text)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)  # Schedule, Timezone, StartTime, EndTime (ISO), action
    creation_time: Mapped[datetime] = mapped_column(UtcDateTime)
    last_run: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ScalingActivityRow(Base):
    __tablename__ = "scaling_activities"

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    activity_id: Mapped[str] = mapped_column(String(64), unique=True)
    namespace: Mapped[str] = mapped_column(String(64), index=True)
    resource_id: Mapped[str] = mapped_column(String(1600))
    dimension: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text)
    cause: Mapped[str] = mapped_column(Text)
    start_time: Mapped[datetime] = mapped_column(UtcDateTime)
    end_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status_code: Mapped[str] = mapped_column(String(32))
    status_message: Mapped[str] = mapped_column(Text)
    desired: Mapped[int | None] = mapped_column(Integer)  # the capacity it set, which ends it once reached


@dataclass(frozen=True)
class ScalableTarget:
    key: TargetKey
    arn: str
    min_capacity: int
    max_capacity: int
    role_arn: str
    suspended: dict[str, bool]
    creation_time: datetime
    last_scale_out: datetime | None
    last_scale_in: datetime | None


@dataclass(frozen=True)
class ScalingPolicy:
    key: TargetKey
    name: str
    arn: str
    policy_type: str
    configuration: dict[str, Any]
    alarms: tuple[dict[str, str], ...]
    creation_time: datetime


@dataclass(frozen=True)
class ScheduledAction:
    key: TargetKey
    name: str
    arn: str
    request: dict[str, Any]
    creation_time: datetime
    last_run: datetime | None


@dataclass(frozen=True)
class ScalingActivity:
    activity_id: str
    key: TargetKey
    description: str
    cause: str
    start_time: datetime
    end_time: datetime | None
    status_code: str
    status_message: str
    desired: int | None


class AutoscalingRepository:
    """Scalable targets, policies, scheduled actions and activities. Thread-safe; each method is one transaction;
    times come from `clock`."""

    table = ScalableTargetRow.__tablename__  # the controller's work: its change counter (changes.py)

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self.db = db
        self.clock = clock

    # -- targets ---------------------------------------------------------------------------------------------

    def register(self, key: TargetKey, arn: str, min_capacity: int | None, max_capacity: int | None,
                 role_arn: str, suspended: dict[str, bool] | None) -> tuple[ScalableTarget, bool]:
        """Create the target, or update the members given (None keeps one); answer it and whether it is new. A new
        target needs both capacities: ValueError otherwise."""
        with self.db.write(lock=f"scalable target {key}") as session:
            row = _target_row(session, key)
            created = row is None
            if row is None:
                if min_capacity is None or max_capacity is None:
                    raise ValueError("a new scalable target needs both capacities")
                row = ScalableTargetRow(namespace=key.namespace, resource_id=key.resource_id, dimension=key.dimension,
                                        arn=arn, role_arn=role_arn, creation_time=self.clock(),
                                        suspended=dict.fromkeys(_SUSPENSIONS, False))
                session.add(row)
            if min_capacity is not None:
                row.min_capacity = min_capacity
            if max_capacity is not None:
                row.max_capacity = max_capacity
            if suspended is not None:
                row.suspended = {**row.suspended, **suspended}
            session.flush()
            return _target(row), created

    def target(self, key: TargetKey) -> ScalableTarget | None:
        with self.db.read() as session:
            row = _target_row(session, key)
            return None if row is None else _target(row)

    def targets(self, namespace: str, resource_ids: Sequence[str] | None = None,
                dimension: str | None = None) -> list[ScalableTarget]:
        """The namespace's targets, oldest first, narrowed to these resources and this dimension when given."""
        query = select(ScalableTargetRow).where(ScalableTargetRow.namespace == namespace)
        if resource_ids is not None:
            query = query.where(ScalableTargetRow.resource_id.in_(list(resource_ids)))
        if dimension is not None:
            query = query.where(ScalableTargetRow.dimension == dimension)
        with self.db.read() as session:
            return [_target(row) for row in session.scalars(query.order_by(ScalableTargetRow.id))]

    def deregister(self, key: TargetKey) -> list[ScalingPolicy]:
        """Remove the target with its policies and scheduled actions; answer the policies removed (their alarms
        are the caller's to delete). Raises ScalableTargetNotFound."""
        with self.db.write(lock=f"scalable target {key}") as session:
            row = _target_row(session, key)
            if row is None:
                raise ScalableTargetNotFound(str(key))
            policies = [_policy(policy) for policy in session.scalars(_of(ScalingPolicyRow, key))]
            for table in (ScalingPolicyRow, ScheduledActionRow):
                session.execute(delete(table).where(*_matching(table, key)))
            session.delete(row)
            return policies

    def scaled(self, key: TargetKey, scale_out: bool) -> None:
        """Record a scale-out (or scale-in) now, which its cooldown is counted from."""
        with self.db.write(lock=f"scalable target {key}") as session:
            row = _target_row(session, key)
            if row is not None:
                if scale_out:
                    row.last_scale_out = self.clock()
                else:
                    row.last_scale_in = self.clock()

    # -- policies --------------------------------------------------------------------------------------------

    def put_policy(self, key: TargetKey, name: str, arn: str, policy_type: str, configuration: dict[str, Any],
                   alarms: Sequence[dict[str, str]]) -> ScalingPolicy:
        """Create the policy, or overwrite its type, configuration and alarms (keeping its ARN and creation time)."""
        with self.db.write(lock=f"scalable target {key}") as session:
            row = session.scalar(_of(ScalingPolicyRow, key).where(ScalingPolicyRow.name == name))
            if row is None:
                row = ScalingPolicyRow(namespace=key.namespace, resource_id=key.resource_id, dimension=key.dimension,
                                       name=name, arn=arn, creation_time=self.clock())
                session.add(row)
            row.policy_type, row.configuration, row.alarms = policy_type, configuration, list(alarms)
            session.flush()
            return _policy(row)

    def policy(self, key: TargetKey, name: str) -> ScalingPolicy | None:
        with self.db.read() as session:
            row = session.scalar(_of(ScalingPolicyRow, key).where(ScalingPolicyRow.name == name))
            return None if row is None else _policy(row)

    def policy_by_arn(self, arn: str) -> ScalingPolicy | None:
        with self.db.read() as session:
            row = session.scalar(select(ScalingPolicyRow).where(ScalingPolicyRow.arn == arn))
            return None if row is None else _policy(row)

    def policies(self, namespace: str, resource_id: str | None = None, dimension: str | None = None,
                 names: Sequence[str] | None = None) -> list[ScalingPolicy]:
        """The namespace's policies, oldest first, narrowed by resource, dimension and names when given."""
        query = _narrowed(ScalingPolicyRow, namespace, resource_id, dimension, names)
        with self.db.read() as session:
            return [_policy(row) for row in session.scalars(query)]

    def delete_policy(self, key: TargetKey, name: str) -> ScalingPolicy:
        """Remove the policy and answer it (its alarms are the caller's to delete). Raises RecordNotFound."""
        with self.db.write(lock=f"scalable target {key}") as session:
            row = session.scalar(_of(ScalingPolicyRow, key).where(ScalingPolicyRow.name == name))
            if row is None:
                raise RecordNotFound(name)
            policy = _policy(row)
            session.delete(row)
            return policy

    # -- scheduled actions -----------------------------------------------------------------------------------

    def put_scheduled_action(self, key: TargetKey, name: str, arn: str, request: dict[str, Any]) -> None:
        """Create the scheduled action, or overwrite its request; either way it has not run yet."""
        with self.db.write(lock=f"scalable target {key}") as session:
            row = session.scalar(_of(ScheduledActionRow, key).where(ScheduledActionRow.name == name))
            if row is None:
                row = ScheduledActionRow(namespace=key.namespace, resource_id=key.resource_id,
                                         dimension=key.dimension, name=name, arn=arn, creation_time=self.clock())
                session.add(row)
            row.request, row.last_run = request, None

    def scheduled_actions(self, namespace: str, resource_id: str | None = None, dimension: str | None = None,
                          names: Sequence[str] | None = None) -> list[ScheduledAction]:
        query = _narrowed(ScheduledActionRow, namespace, resource_id, dimension, names)
        with self.db.read() as session:
            return [_scheduled(row) for row in session.scalars(query)]

    def delete_scheduled_action(self, key: TargetKey, name: str) -> None:
        """Raises RecordNotFound."""
        with self.db.write(lock=f"scalable target {key}") as session:
            row = session.scalar(_of(ScheduledActionRow, key).where(ScheduledActionRow.name == name))
            if row is None:
                raise RecordNotFound(name)
            session.delete(row)

    def ran(self, key: TargetKey, name: str, at: datetime) -> None:
        """Record that the scheduled action ran for its occurrence at `at`."""
        with self.db.write(lock=f"scalable target {key}") as session:
            row = session.scalar(_of(ScheduledActionRow, key).where(ScheduledActionRow.name == name))
            if row is not None:
                row.last_run = at

    # -- activities ------------------------------------------------------------------------------------------

    def add_activity(self, activity_id: str, key: TargetKey, description: str, cause: str, status_code: str,
                     status_message: str, desired: int | None = None) -> ScalingActivity:
        """Record an activity, started now; one that has ended (not InProgress) ends now too."""
        now = self.clock()
        row = ScalingActivityRow(activity_id=activity_id, namespace=key.namespace, resource_id=key.resource_id,
                                 dimension=key.dimension, description=description, cause=cause, start_time=now,
                                 end_time=None if status_code in (PENDING, IN_PROGRESS) else now,
                                 status_code=status_code, status_message=status_message, desired=desired)
        with self.db.write() as session:
            session.add(row)
            session.flush()
            return _activity(row)

    def end_activity(self, activity_id: str, status_code: str, status_message: str) -> None:
        with self.db.write() as session:
            row = session.scalar(select(ScalingActivityRow).where(ScalingActivityRow.activity_id == activity_id))
            if row is not None and row.end_time is None:
                row.status_code, row.status_message, row.end_time = status_code, status_message, self.clock()

    def activities(self, namespace: str, resource_id: str | None = None, dimension: str | None = None,
                   in_progress: bool = False, limit: int | None = None) -> list[ScalingActivity]:
        """The namespace's activities, newest first, narrowed by resource and dimension, or to those in progress."""
        query = select(ScalingActivityRow).where(ScalingActivityRow.namespace == namespace)
        for value, column in ((resource_id, ScalingActivityRow.resource_id),
                              (dimension, ScalingActivityRow.dimension)):
            if value is not None:
                query = query.where(column == value)
        if in_progress:
            query = query.where(ScalingActivityRow.end_time.is_(None))
        query = query.order_by(ScalingActivityRow.id.desc()).limit(limit)
        with self.db.read() as session:
            return [_activity(row) for row in session.scalars(query)]


_SUSPENSIONS = ("DynamicScalingInSuspended", "DynamicScalingOutSuspended", "ScheduledScalingSuspended")
_KeyedRow = type[ScalingPolicyRow] | type[ScheduledActionRow] | type[ScalableTargetRow]


def _matching(table: _KeyedRow, key: TargetKey) -> tuple[Any, ...]:
    return (table.namespace == key.namespace, table.resource_id == key.resource_id, table.dimension == key.dimension)


def _of(table: type[ScalingPolicyRow] | type[ScheduledActionRow], key: TargetKey) -> Any:
    return select(table).where(*_matching(table, key))


def _narrowed(table: type[ScalingPolicyRow] | type[ScheduledActionRow], namespace: str, resource_id: str | None,
              dimension: str | None, names: Sequence[str] | None) -> Any:
    """The namespace's rows of `table`, oldest first, narrowed by resource, dimension and names when given."""
    query = select(table).where(table.namespace == namespace)
    for value, column in ((resource_id, table.resource_id), (dimension, table.dimension)):
        if value is not None:
            query = query.where(column == value)
    if names is not None:
        query = query.where(table.name.in_(list(names)))
    return query.order_by(table.id)


def _target_row(session: Session, key: TargetKey) -> ScalableTargetRow | None:
    return session.scalar(select(ScalableTargetRow).where(*_matching(ScalableTargetRow, key)))


def _key(row: ScalableTargetRow | ScalingPolicyRow | ScheduledActionRow | ScalingActivityRow) -> TargetKey:
    return TargetKey(row.namespace, row.resource_id, row.dimension)


def _target(row: ScalableTargetRow) -> ScalableTarget:
    return ScalableTarget(_key(row), row.arn, row.min_capacity, row.max_capacity, row.role_arn, dict(row.suspended),
                          row.creation_time, row.last_scale_out, row.last_scale_in)


def _policy(row: ScalingPolicyRow) -> ScalingPolicy:
    return ScalingPolicy(_key(row), row.name, row.arn, row.policy_type, row.configuration, tuple(row.alarms),
                         row.creation_time)


def _scheduled(row: ScheduledActionRow) -> ScheduledAction:
    return ScheduledAction(_key(row), row.name, row.arn, row.request, row.creation_time, row.last_run)


def _activity(row: ScalingActivityRow) -> ScalingActivity:
    return ScalingActivity(row.activity_id, _key(row), row.description, row.cause, row.start_time, row.end_time,
                           row.status_code, row.status_message, row.desired)
