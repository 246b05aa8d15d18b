"""Endpoints: what each should run (written by requests) and how far it got (written by the EndpointController).

Requests and the controller write the same rows, so every change is a read-check-write under
the endpoint's lock: CreateEndpoint, UpdateEndpoint, UpdateEndpointWeightsAndCapacities and
DeleteEndpoint record desired state and move the status (Creating, Updating, Deleting); the
controller records progress (`record`), ends updates (`finish_update`) and removes deleted
endpoints (`delete`). A request the controller has not acted on yet is never undone by it:
`record` never touches desired values, and keeps the status while a delete or an
UpdateEndpoint is requested (those end with `delete` and `finish_update`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.definitions import model_containers
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
    from_json_times,
    get_row,
    list_rows,
    to_json_times,
    utc_now,
)
from modelbay.store.metadata.tables import StatusRow, UtcDateTime

CREATING, UPDATING, IN_SERVICE, DELETING, FAILED = "Creating", "Updating", "InService", "Deleting", "Failed"
# SageMaker updates an endpoint only when it is InService, and deletes it only when nothing is in progress.
UPDATABLE_STATUSES = frozenset({IN_SERVICE})
DELETABLE_STATUSES = frozenset({IN_SERVICE, FAILED, "OutOfService", "UpdateRollbackFailed"})
_TIME_KEYS = frozenset({"ResolutionTime", "StartTime"})


class Unchanged(enum.Enum):
    """The default of `record`'s failure_reason: leave the stored reason as it is."""

    UNCHANGED = enum.auto()


UNCHANGED = Unchanged.UNCHANGED


class EndpointRow(StatusRow):
    """One endpoint (see Endpoint for each column). JSON columns hold wire dicts with ISO 8601 times."""

    __tablename__ = "endpoints"

    config_name: Mapped[str] = mapped_column(String(63))
    variants: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    pending_config_name: Mapped[str | None] = mapped_column(String(63))
    pending_variants: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    pending_spec: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    pending_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    deployment_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    update_requested: Mapped[bool] = mapped_column(Boolean)
    delete_requested: Mapped[bool] = mapped_column(Boolean)
    generation: Mapped[int] = mapped_column(Integer)
    deployed_generation: Mapped[int] = mapped_column(Integer)


class EndpointNotFound(RecordNotFound):
    """No endpoint has this name."""


@dataclass(frozen=True)
class VariantState:
    """One production variant as DescribeEndpoint shows it.

    `desired_*` are what requests asked for (the config's initial values, then
    UpdateEndpointWeightsAndCapacities); `current_*`, `deployed_images` (wire dicts
    {SpecifiedImage, ResolvedImage, ResolutionTime}) and `status` (VariantStatus wire dicts
    {Status, StatusMessage, StartTime}) are what the controller reports. A serverless variant
    has desired_instance_count 0: its instances come and go with requests.
    """

    name: str
    desired_weight: float
    desired_instance_count: int
    current_weight: float | None = None
    current_instance_count: int | None = None
    deployed_images: tuple[dict[str, Any], ...] = ()
    status: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class EndpointSpec:
    """What an endpoint config deploys, copied when CreateEndpoint or UpdateEndpoint is called.

    `config` is the endpoint config's request as stored (ProductionVariants, DataCaptureConfig,
    ...) and `models` maps each variant's ModelName to that model's request as stored. Being a
    copy, it stays valid when the config or its models are deleted, as SageMaker allows.
    """

    config: dict[str, Any]
    models: dict[str, dict[str, Any]]

    @property
    def production_variants(self) -> list[dict[str, Any]]:
        variants: list[dict[str, Any]] = self.config["ProductionVariants"]
        return variants

    def containers(self, model_name: str) -> list[dict[str, Any]]:
        """The ContainerDefinitions of the model a variant names, in order."""
        return model_containers(self.models[model_name])


@dataclass(frozen=True)
class Endpoint:
    """An endpoint as stored.

    `variants` are those of `config_name` (deployed by `spec`). While UpdateEndpoint is being
    carried out, `pending_config_name`, `pending_variants`, `pending_spec` and `pending_since`
    describe the config being deployed. `update_requested` is set by UpdateEndpoint and
    UpdateEndpointWeightsAndCapacities until `finish_update`; `delete_requested` by DeleteEndpoint.
    `generation` grows by one with each UpdateEndpoint: the controller labels instances with it;
    `deployed_generation` is the generation of the config in service (the last update that succeeded).
    `deployment_config` is the DeploymentConfig last given to CreateEndpoint or UpdateEndpoint.
    """

    name: str
    arn: str
    config_name: str
    status: str
    failure_reason: str | None
    creation_time: datetime
    last_modified_time: datetime
    variants: tuple[VariantState, ...]
    spec: EndpointSpec
    pending_config_name: str | None
    pending_variants: tuple[VariantState, ...]
    pending_spec: EndpointSpec | None
    pending_since: datetime | None
    deployment_config: dict[str, Any] | None
    update_requested: bool
    delete_requested: bool
    generation: int
    deployed_generation: int


class UnknownVariants(Exception):
    """UpdateEndpointWeightsAndCapacities named variants the endpoint does not have (`names`, in order)."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(", ".join(names))
        self.names = list(names)


class EndpointRepository:
    """Endpoints by name. Each method that writes is one transaction under the endpoint's lock."""

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    def create(self, name: str, arn: str, config_name: str, variants: Sequence[VariantState], spec: EndpointSpec,
               deployment_config: dict[str, Any] | None = None) -> Endpoint:
        """Store a new endpoint, Creating since now, generation 0.

        Raises RecordExists, writing nothing, if an endpoint has this name or ARN.
        """
        now = self._clock()
        with self._db.write(lock="endpoints create") as session:
            check_unique(session, EndpointRow, name, arn)
            row = EndpointRow(
                name=name, arn=arn, config_name=config_name, status=CREATING, creation_time=now,
                last_modified_time=now, variants=_variants_json(variants), spec=_spec_json(spec),
                pending_variants=[], deployment_config=deployment_config, update_requested=False,
                delete_requested=False, generation=0, deployed_generation=0)
            session.add(row)
            session.flush()
            return _endpoint(row)

    def get(self, name: str) -> Endpoint | None:
        """The endpoint with this name, or None."""
        return get_row(self._db, EndpointRow, name, _endpoint)

    def names(self) -> list[str]:
        """Every endpoint's name, in creation order (the controller's loop)."""
        with self._db.read() as session:
            return list(session.scalars(select(EndpointRow.name).order_by(EndpointRow.id)))

    def list(self, filters: ListFilter = NO_FILTER, sort_by: SortKey = "CreationTime", ascending: bool = False,
             after_token: str | None = None, limit: int = 10) -> Page[Endpoint]:
        """A page of endpoints in order (see records.list_rows)."""
        return list_rows(self._db, EndpointRow, _endpoint, filters, sort_by, ascending, after_token, limit)

    def request_update(self, name: str, config_name: str, variants: Sequence[VariantState], spec: EndpointSpec,
                       deployment_config: dict[str, Any] | None = None) -> Endpoint:
        """UpdateEndpoint: record `config_name` as pending, bump the generation, move to Updating.

        `deployment_config`, when given, replaces the stored one. Raises EndpointNotFound, or
        StatusConflict if the endpoint is not InService.
        """
        with self._changing(name, UPDATABLE_STATUSES) as row:
            row.pending_config_name, row.pending_variants = config_name, _variants_json(variants)
            row.pending_spec, row.generation = _spec_json(spec), row.generation + 1
            if deployment_config is not None:
                row.deployment_config = deployment_config
            self._requested(row, UPDATING)
            row.pending_since = row.last_modified_time
            return _endpoint(row)

    def request_weights(self, name: str, desired: Mapping[str, tuple[float | None, int | None]]) -> Endpoint:
        """UpdateEndpointWeightsAndCapacities: set the desired (weight, instance count) of variants, move to Updating.

        None in a pair keeps that value. Raises EndpointNotFound, StatusConflict if the
        endpoint is not InService, or UnknownVariants (writing nothing).
        """
        with self._changing(name, UPDATABLE_STATUSES) as row:
            variants = {variant.name: variant for variant in _variants(row.variants)}
            if unknown := [variant for variant in desired if variant not in variants]:
                raise UnknownVariants(unknown)
            for variant, (weight, count) in desired.items():
                old = variants[variant]
                variants[variant] = replace(old, desired_weight=old.desired_weight if weight is None else weight,
                                            desired_instance_count=old.desired_instance_count if count is None
                                            else count)
            row.variants = _variants_json(variants.values())
            self._requested(row, UPDATING)
            return _endpoint(row)

    def request_delete(self, name: str) -> Endpoint:
        """DeleteEndpoint: mark the endpoint delete-requested and move it to Deleting.

        Raises EndpointNotFound, or StatusConflict if an operation is in progress (Creating,
        Updating, Deleting, ...). The controller calls `delete` once its instances are gone.
        """
        with self._changing(name, DELETABLE_STATUSES) as row:
            row.delete_requested = True
            self._requested(row, DELETING)
            return _endpoint(row)

    def record(self, name: str, *, status: str | None = None, failure_reason: str | None | Unchanged = UNCHANGED,
               variants: Sequence[VariantState] | None = None,
               pending_variants: Sequence[VariantState] | None = None) -> Endpoint:
        """The controller's progress: a new status, failure reason (None clears it), and what runs per variant.

        Of `variants` (and `pending_variants`, those of the config being deployed), only what the
        controller reports is kept (current weight and count, deployed images, variant status),
        matched by name; desired values stay as requested.
        The status is kept while a delete or an UpdateEndpoint is requested (finish_update ends
        the latter); a status other than Updating ends a weights-and-capacities update.
        Raises EndpointNotFound.
        """
        with self._db.write(lock=f"endpoint {name}") as session:
            row = _find(session, name)
            if status is not None and not (row.delete_requested or row.pending_config_name is not None):
                row.status = status
                row.update_requested = row.update_requested and status == UPDATING
            if not isinstance(failure_reason, Unchanged):
                row.failure_reason = failure_reason
            if variants is not None:
                row.variants = _variants_json(_reported(_variants(row.variants), variants))
            if pending_variants is not None:
                row.pending_variants = _variants_json(_reported(_variants(row.pending_variants), pending_variants))
            row.last_modified_time = self._clock()
            return _endpoint(row)

    def finish_update(self, name: str, *, succeeded: bool, failure_reason: str | None = None) -> Endpoint:
        """End the requested update: the endpoint is InService again.

        After an UpdateEndpoint that succeeded, the pending config becomes the endpoint's (its
        variants as given to request_update, updated by what `record` reported) and the
        failure reason is cleared; one that failed is dropped and `failure_reason` recorded.
        Raises EndpointNotFound, or StatusConflict if no update is requested.
        """
        with self._db.write(lock=f"endpoint {name}") as session:
            row = _find(session, name)
            if not row.update_requested:
                raise StatusConflict(name, row.status)
            if succeeded and row.pending_config_name is not None and row.pending_spec is not None:
                row.config_name, row.spec = row.pending_config_name, row.pending_spec
                row.variants, row.deployed_generation = row.pending_variants, row.generation
            row.failure_reason = None if succeeded else failure_reason
            row.pending_config_name, row.pending_variants, row.pending_spec, row.pending_since = None, [], None, None
            row.update_requested, row.status, row.last_modified_time = False, IN_SERVICE, self._clock()
            return _endpoint(row)

    def delete(self, name: str) -> None:
        """Remove the endpoint and its tags (the controller, once a deleted endpoint's instances are gone).

        Raises EndpointNotFound.
        """
        with self._db.write(lock=f"endpoint {name}") as session:
            row = _find(session, name)
            delete_tags(session, row.arn)
            session.delete(row)

    @contextmanager
    def _changing(self, name: str, allowed: frozenset[str]) -> Iterator[EndpointRow]:
        """A request's transaction on the endpoint's row, if its status is one of `allowed`."""
        with self._db.write(lock=f"endpoint {name}") as session:
            row = _find(session, name)
            if row.status not in allowed:
                raise StatusConflict(name, row.status)
            yield row

    def _requested(self, row: EndpointRow, status: str) -> None:
        row.status, row.failure_reason, row.last_modified_time = status, None, self._clock()
        row.update_requested = row.update_requested or status == UPDATING


def _find(session: Session, name: str) -> EndpointRow:
    try:
        return find_row(session, EndpointRow, name)
    except RecordNotFound:
        raise EndpointNotFound(name) from None


def _reported(stored: Sequence[VariantState], reported: Sequence[VariantState]) -> list[VariantState]:
    by_name = {variant.name: variant for variant in reported}
    return [replace(variant, current_weight=got.current_weight, current_instance_count=got.current_instance_count,
                    deployed_images=got.deployed_images, status=got.status)
            if (got := by_name.get(variant.name)) is not None else variant for variant in stored]


def _variants_json(variants: Sequence[VariantState] | Any) -> list[dict[str, Any]]:
    return [{"name": v.name, "desired_weight": v.desired_weight, "desired_instance_count": v.desired_instance_count,
             "current_weight": v.current_weight, "current_instance_count": v.current_instance_count,
             "deployed_images": [to_json_times(image) for image in v.deployed_images],
             "status": [to_json_times(status) for status in v.status]} for v in variants]


def _variants(stored: list[dict[str, Any]]) -> tuple[VariantState, ...]:
    return tuple(VariantState(
        name=v["name"], desired_weight=v["desired_weight"], desired_instance_count=v["desired_instance_count"],
        current_weight=v["current_weight"], current_instance_count=v["current_instance_count"],
        deployed_images=tuple(from_json_times(image, _TIME_KEYS) for image in v["deployed_images"]),
        status=tuple(from_json_times(status, _TIME_KEYS) for status in v["status"])) for v in stored)


def _spec_json(spec: EndpointSpec) -> dict[str, Any]:
    return {"config": spec.config, "models": spec.models}


def _spec(stored: dict[str, Any]) -> EndpointSpec:
    return EndpointSpec(config=stored["config"], models=stored["models"])


def _endpoint(row: EndpointRow) -> Endpoint:
    return Endpoint(
        name=row.name, arn=row.arn, config_name=row.config_name, status=row.status,
        failure_reason=row.failure_reason, creation_time=row.creation_time, last_modified_time=row.last_modified_time,
        variants=_variants(row.variants), spec=_spec(row.spec), pending_config_name=row.pending_config_name,
        pending_variants=_variants(row.pending_variants),
        pending_spec=None if row.pending_spec is None else _spec(row.pending_spec), pending_since=row.pending_since,
        deployment_config=row.deployment_config, update_requested=row.update_requested,
        delete_requested=row.delete_requested, generation=row.generation,
        deployed_generation=row.deployed_generation)
