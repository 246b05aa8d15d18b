"""The Model Registry: model package groups, and model packages (a group's versions, or unversioned packages).

A group holds versions numbered 1, 2, 3... in the order they were registered: `create_version` reads the
group's next version and counts it on in one transaction under the group's lock, so concurrent registrations
get distinct consecutive versions (the unique index on (group, version) is the backstop). Versions are never
reused, even once deleted, as SageMaker's are not. A group that holds versions cannot be deleted.

A package's ModelApprovalStatus (versions only) changes through `update`; its creation and every change of its
approval status record a "SageMaker Model Package State Change" event (events.py) in the same transaction.
ModelPackageStatus follows LIFECYCLE; modelbay creates packages Completed, as SageMaker does a package it need
not validate. Every row is indexed for Search (search_index.py) with Describe's members.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, Index, Integer, String, Text, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.statuses import ModelApprovalStatus, ModelPackageGroupStatus, ModelPackageStatus
from modelbay.store.metadata.events import append as append_event
from modelbay.store.metadata.lifecycle import Lifecycle
from modelbay.store.metadata.records import (
    ListFilter,
    RecordExists,
    RecordNotFound,
    Repository,
    check_unique,
    delete_tags,
    find_row,
    to_json_times,
)
from modelbay.store.metadata.search_index import SearchDocument, indexes
from modelbay.store.metadata.tables import StatusRow

STATE_CHANGE = "SageMaker Model Package State Change"  # the detail-type of a package's events
_G, _P = ModelPackageGroupStatus, ModelPackageStatus
# Groups are created Completed and deleted at once (the row goes): no move is made yet.
GROUP_LIFECYCLE: Lifecycle[ModelPackageGroupStatus] = Lifecycle({
    _G.PENDING: frozenset({_G.IN_PROGRESS, _G.FAILED}), _G.IN_PROGRESS: frozenset({_G.COMPLETED, _G.FAILED}),
    _G.COMPLETED: frozenset({_G.DELETING}), _G.FAILED: frozenset({_G.DELETING}),
    _G.DELETING: frozenset({_G.DELETE_FAILED}), _G.DELETE_FAILED: frozenset({_G.DELETING})})
# A package that SageMaker validates goes Pending → InProgress → Completed or Failed; modelbay refuses
# ValidationSpecification for now, so it creates every package Completed.
LIFECYCLE: Lifecycle[ModelPackageStatus] = Lifecycle({
    _P.PENDING: frozenset({_P.IN_PROGRESS, _P.FAILED}), _P.IN_PROGRESS: frozenset({_P.COMPLETED, _P.FAILED}),
    _P.COMPLETED: frozenset({_P.DELETING}), _P.FAILED: frozenset({_P.DELETING}), _P.DELETING: frozenset()})


class ModelPackageGroupRow(StatusRow):
    """One model package group; `next_version` is the version its next package gets."""

    __tablename__ = "model_package_groups"

    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[dict[str, Any]] = mapped_column(JSON)
    resource_policy: Mapped[str | None] = mapped_column(Text)
    next_version: Mapped[int] = mapped_column(Integer)


class ModelPackageRow(StatusRow):
    """One model package (see ModelPackage for each column). `name` is the group's for a version, so it is not
    unique here: the ARN is."""

    __tablename__ = "model_packages"
    __table_args__ = (Index(None, "creation_time"), Index(None, "group_name", "version", unique=True))

    name: Mapped[str] = mapped_column(String(63))
    group_name: Mapped[str | None] = mapped_column(String(63))
    version: Mapped[int | None] = mapped_column(Integer)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    approval_status: Mapped[str | None] = mapped_column(String(32))
    approval_description: Mapped[str | None] = mapped_column(Text)
    customer_metadata: Mapped[dict[str, str]] = mapped_column(JSON)
    status_details: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[dict[str, Any]] = mapped_column(JSON)
    last_modified_by: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ModelPackageGroupNotFound(RecordNotFound):
    """No model package group has this name."""


class ModelPackageNotFound(RecordNotFound):
    """No model package has this ARN."""


class GroupNotEmpty(Exception):
    """The group holds versions (`count` of them): it cannot be deleted."""

    def __init__(self, name: str, count: int) -> None:
        super().__init__(f"{name} holds {count} model packages")
        self.count = count


@dataclass(frozen=True)
class ModelPackageGroup:
    """A model package group as stored; `resource_policy` is its PutModelPackageGroupPolicy document, if any."""

    name: str
    arn: str
    description: str | None
    status: ModelPackageGroupStatus
    creation_time: datetime
    created_by: dict[str, Any]
    resource_policy: str | None

    def members(self) -> dict[str, Any]:
        """DescribeModelPackageGroup's members."""
        return {"ModelPackageGroupName": self.name, "ModelPackageGroupArn": self.arn, "CreationTime":
                self.creation_time, "CreatedBy": self.created_by, "ModelPackageGroupStatus": self.status} | (
            {} if self.description is None else {"ModelPackageGroupDescription": self.description})


@dataclass(frozen=True)
class ModelPackage:
    """A model package as stored.

    `request` holds the CreateModelPackage members Describe echoes (InferenceSpecification, ModelMetrics, ...), as
    UpdateModelPackage last changed them. `group_name` and `version` are None for an unversioned package, whose
    `approval_status` is what its request gave, if anything.
    """

    name: str
    arn: str
    group_name: str | None
    version: int | None
    request: dict[str, Any]
    status: ModelPackageStatus
    approval_status: ModelApprovalStatus | None
    approval_description: str | None
    customer_metadata: dict[str, str]
    status_details: dict[str, Any]
    creation_time: datetime
    last_modified_time: datetime
    created_by: dict[str, Any]
    last_modified_by: dict[str, Any] | None

    @property
    def containers(self) -> list[dict[str, Any]]:
        """Its InferenceSpecification's containers (none for a package made from an algorithm)."""
        found: list[dict[str, Any]] = self.request.get("InferenceSpecification", {}).get("Containers", [])
        return found

    def members(self) -> dict[str, Any]:
        """DescribeModelPackage's members (the request's, the package's names, state and times)."""
        optional = {"ModelPackageGroupName": self.group_name, "ModelPackageVersion": self.version,
                    "ModelApprovalStatus": self.approval_status, "ApprovalDescription": self.approval_description,
                    "CustomerMetadataProperties": self.customer_metadata or None,
                    "LastModifiedBy": self.last_modified_by}
        return {"ModelPackageName": self.name, "ModelPackageArn": self.arn, "CreationTime": self.creation_time,
                "ModelPackageStatus": self.status, "ModelPackageStatusDetails": self.status_details,
                "CreatedBy": self.created_by, "LastModifiedTime": self.last_modified_time} | self.request | {
            key: value for key, value in optional.items() if value is not None}


@dataclass(frozen=True)
class ModelPackageFilter(ListFilter):
    """ListModelPackages' filters: ListFilter's, the approval status, the group, and which kinds of package
    (`versioned`: True for versions, False for unversioned packages, None for both)."""

    approval_status: str | None = None
    group_name: str | None = None
    versioned: bool | None = False

    def conditions(self, row: Any) -> list[ColumnElement[bool]]:
        found = super().conditions(row)
        exact = ((self.approval_status, row.approval_status), (self.group_name, row.group_name))
        found += [column == value for value, column in exact if value is not None]
        if self.versioned is not None:
            found.append(row.version.is_not(None) if self.versioned else row.version.is_(None))
        return found


@dataclass(frozen=True)
class Change:
    """What UpdateModelPackage changes (None: not this); `request` members replace the stored ones."""

    approval_status: ModelApprovalStatus | None = None
    approval_description: str | None = None
    customer_metadata: dict[str, str] = field(default_factory=dict)
    metadata_to_remove: tuple[str, ...] = ()
    request: dict[str, Any] = field(default_factory=dict)


class ModelPackageGroupRepository(Repository[ModelPackageGroupRow, ModelPackageGroup]):
    """Model package groups by name, and their resource policies. Each write is one transaction."""

    row, lifecycle, not_found = ModelPackageGroupRow, GROUP_LIFECYCLE, ModelPackageGroupNotFound

    def _record(self, row: ModelPackageGroupRow) -> ModelPackageGroup:
        return _group(row)

    def get(self, name: str) -> ModelPackageGroup | None:
        """The group of this name, or of this ARN (in any letter case); None if there is none."""
        with self._db.read() as session:
            row = session.scalar(select(ModelPackageGroupRow).where(
                or_(ModelPackageGroupRow.name == name, ModelPackageGroupRow.arn == name.lower())))
            return None if row is None else _group(row)

    def create(self, name: str, arn: str, description: str | None, created_by: dict[str, Any]) -> ModelPackageGroup:
        """Store a new group, Completed. Raises RecordExists, writing nothing, if one has this name or ARN."""
        now = self._clock()
        with self._db.write(lock="model_package_groups create") as session:
            check_unique(session, ModelPackageGroupRow, name, arn)
            row = ModelPackageGroupRow(name=name, arn=arn, description=description, created_by=created_by,
                                       status=_G.COMPLETED, creation_time=now, last_modified_time=now,
                                       resource_policy=None, next_version=1)
            session.add(row)
            return _group(row)

    def delete(self, name: str) -> None:
        """Remove an empty group and its tags. Raises ModelPackageGroupNotFound, or GroupNotEmpty."""
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, ModelPackageGroupRow, name, ModelPackageGroupNotFound)
            count = session.scalar(select(func.count()).select_from(ModelPackageRow)
                                  .where(ModelPackageRow.group_name == name)) or 0
            if count:
                raise GroupNotEmpty(name, count)
            delete_tags(session, row.arn)
            session.delete(row)

    def set_policy(self, name: str, policy: str | None) -> ModelPackageGroup:
        """Give the group this resource policy (None: remove it). Raises ModelPackageGroupNotFound."""
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, ModelPackageGroupRow, name, ModelPackageGroupNotFound)
            row.resource_policy = policy
            return _group(row)


class ModelPackageRepository(Repository[ModelPackageRow, ModelPackage]):
    """Model packages by ARN (`get`; names are not unique: a group's versions share its name). Each write is one
    transaction, with its event."""

    row, lifecycle, not_found = ModelPackageRow, LIFECYCLE, ModelPackageNotFound

    def _record(self, row: ModelPackageRow) -> ModelPackage:
        return _package(row)

    def get(self, name: str) -> ModelPackage | None:
        """The package whose ARN is `name` (in any letter case), or None."""
        with self._db.read() as session:
            row = session.scalar(select(ModelPackageRow).where(ModelPackageRow.arn == name.lower()))
            return None if row is None else _package(row)

    def versions(self, group_name: str) -> list[ModelPackage]:
        """The group's versions, oldest first."""
        with self._db.read() as session:
            rows = session.scalars(select(ModelPackageRow).where(ModelPackageRow.group_name == group_name)
                                   .order_by(ModelPackageRow.version))
            return [_package(row) for row in rows]

    def create_version(self, group_name: str, group_arn: str, request: dict[str, Any],
                       approval_status: ModelApprovalStatus, customer_metadata: dict[str, str],
                       created_by: dict[str, Any]) -> ModelPackage:
        """Store the group's next version, Completed, as `<group_arn with model-package>/<version>`.

        Raises ModelPackageGroupNotFound. Concurrent calls for one group get distinct consecutive versions.
        """
        with self._db.write(lock=f"model_package_groups {group_name}") as session:
            group = find_row(session, ModelPackageGroupRow, group_name, ModelPackageGroupNotFound)
            version, group.next_version = group.next_version, group.next_version + 1
            arn = f"{group_arn.replace(':model-package-group/', ':model-package/', 1)}/{version}"
            return self._add(session, ModelPackageRow(
                name=group_name, arn=arn, group_name=group_name, version=version, approval_status=approval_status,
                request=request, customer_metadata=customer_metadata, created_by=created_by))

    def create_unversioned(self, name: str, arn: str, request: dict[str, Any],
                           approval_status: ModelApprovalStatus | None, customer_metadata: dict[str, str],
                           created_by: dict[str, Any]) -> ModelPackage:
        """Store an unversioned package, Completed. Raises RecordExists, writing nothing, if one has this ARN."""
        with self._db.write(lock="model_packages create") as session:
            if session.scalar(select(ModelPackageRow.id).where(ModelPackageRow.arn == arn)) is not None:
                raise RecordExists(arn)
            return self._add(session, ModelPackageRow(
                name=name, arn=arn, group_name=None, version=None, approval_status=approval_status, request=request,
                customer_metadata=customer_metadata, created_by=created_by))

    def _add(self, session: Session, row: ModelPackageRow) -> ModelPackage:
        now = self._clock()
        row.status, row.creation_time, row.last_modified_time = _P.COMPLETED, now, now
        row.failure_reason, row.approval_description, row.last_modified_by = None, None, None
        row.status_details = {"ValidationStatuses": [], "ImageScanStatuses": []}
        session.add(row)
        package = _package(row)
        _record_event(session, package)
        return package

    def update(self, arn: str, change: Change, modified_by: dict[str, Any]) -> ModelPackage:
        """Apply `change` now (an event is recorded if the approval status changed). Raises ModelPackageNotFound."""
        with self._db.write(lock=self._lock(arn.lower())) as session:
            row = session.scalar(select(ModelPackageRow).where(ModelPackageRow.arn == arn.lower()))
            if row is None:
                raise ModelPackageNotFound(arn)
            approval_changed = change.approval_status not in (None, row.approval_status)
            row.approval_status = change.approval_status or row.approval_status
            row.approval_description = change.approval_description or row.approval_description
            row.customer_metadata = {key: value for key, value in (row.customer_metadata | change.customer_metadata)
                                     .items() if key not in change.metadata_to_remove}
            row.request = row.request | change.request
            row.last_modified_time, row.last_modified_by = self._clock(), modified_by
            package = _package(row)
            if approval_changed:
                _record_event(session, package)
            return package

    def delete(self, arn: str) -> ModelPackage:
        """Remove the package and its tags. Raises ModelPackageNotFound."""
        with self._db.write(lock=self._lock(arn.lower())) as session:
            row = session.scalar(select(ModelPackageRow).where(ModelPackageRow.arn == arn.lower()))
            if row is None:
                raise ModelPackageNotFound(arn)
            delete_tags(session, row.arn)
            session.delete(row)
            return _package(row)


def _record_event(session: Session, package: ModelPackage) -> None:
    append_event(session, package.last_modified_time, package.arn, STATE_CHANGE, to_json_times(package.members()))


def _group(row: ModelPackageGroupRow) -> ModelPackageGroup:
    return ModelPackageGroup(name=row.name, arn=row.arn, description=row.description,
                             status=ModelPackageGroupStatus(row.status), creation_time=row.creation_time,
                             created_by=row.created_by, resource_policy=row.resource_policy)


def _package(row: ModelPackageRow) -> ModelPackage:
    return ModelPackage(
        name=row.name, arn=row.arn, group_name=row.group_name, version=row.version, request=row.request,
        status=ModelPackageStatus(row.status),
        approval_status=None if row.approval_status is None else ModelApprovalStatus(row.approval_status),
        approval_description=row.approval_description, customer_metadata=row.customer_metadata,
        status_details=row.status_details, creation_time=row.creation_time,
        last_modified_time=row.last_modified_time, created_by=row.created_by, last_modified_by=row.last_modified_by)


@indexes(ModelPackageGroupRow)
def _group_documents(session: Session, row: ModelPackageGroupRow) -> Iterable[SearchDocument]:
    return [SearchDocument("ModelPackageGroup", row.arn, _group(row).members())]


@indexes(ModelPackageRow)
def _package_documents(session: Session, row: ModelPackageRow) -> Iterable[SearchDocument]:
    return [SearchDocument("ModelPackage", row.arn, _package(row).members())]
