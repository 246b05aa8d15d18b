"""Endpoints: what each should run (written by requests) and how far it got (written by the EndpointController).

Requests and the controller write the same rows, so every change is a read-check-write under
the endpoint's lock: CreateEndpoint, UpdateEndpoint, UpdateEndpointWeightsAndCapacities and
DeleteEndpoint record desired state and move the status (Creating, Updating, Deleting); the
controller records progress and ends updates with `advance`, and removes deleted endpoints
(`delete`). Every status change goes through `_move`, which checks it against LIFECYCLE. A
request the controller has not acted on yet is never undone by it: `advance` never touches
desired values, and keeps the status while a delete or an UpdateEndpoint is requested (the
latter ends with `advance`'s explicit `update` outcome, the former with `delete`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum, StrEnum
from functools import cached_property
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.statuses import EndpointStatus
from modelbay.store.metadata.definitions import model_containers
from modelbay.store.metadata.lifecycle import IllegalTransition, Lifecycle
from modelbay.store.metadata.records import (
    RecordNotFound,
    Repository,
    StatusConflict,
    check_unique,
    delete_tags,
    find_row,
    from_json_times,
    names_where,
    to_json_times,
)
from modelbay.store.metadata.search_index import SearchDocument, indexes
from modelbay.store.metadata.tables import StatusRow, UtcDateTime

_TIME_KEYS = frozenset({"ResolutionTime", "StartTime"})
DEFAULT_STARTUP_S = 600.0  # a variant's ContainerStartupHealthCheckTimeoutInSeconds when it sets none


_S = EndpointStatus
# SageMaker updates an endpoint only when it is InService, and deletes it only when nothing is in
# progress. Deleting has ended: `delete` removes the row once the instances are gone.
LIFECYCLE: Lifecycle[EndpointStatus] = Lifecycle({
    # modelbay does not enter OutOfService, SystemUpdating or UpdateRollbackFailed yet.
    _S.OUT_OF_SERVICE: frozenset({_S.IN_SERVICE, _S.DELETING}),
    _S.CREATING: frozenset({_S.IN_SERVICE, _S.FAILED}),
    # A weights-and-capacities update whose new hosts cannot be launched fails the endpoint; an UpdateEndpoint
    # whose alarm fires or whose time runs out rolls back.
    _S.UPDATING: frozenset({_S.IN_SERVICE, _S.FAILED, _S.ROLLING_BACK, _S.UPDATE_ROLLBACK_FAILED}),
    _S.SYSTEM_UPDATING: frozenset({_S.IN_SERVICE}),
    _S.ROLLING_BACK: frozenset({_S.IN_SERVICE, _S.UPDATE_ROLLBACK_FAILED}),
    # A serving fleet that cannot launch a replacement host fails the endpoint.
    _S.IN_SERVICE: frozenset({_S.UPDATING, _S.SYSTEM_UPDATING, _S.DELETING, _S.FAILED, _S.OUT_OF_SERVICE}),
    _S.DELETING: frozenset(),
    _S.FAILED: frozenset({_S.DELETING}),
    _S.UPDATE_ROLLBACK_FAILED: frozenset({_S.DELETING}),
})


class UpdateOutcome(Enum):
    """How the controller ends an UpdateEndpoint: the pending config deployed, or dropped for the old one."""

    DEPLOYED = "deployed"
    ROLLED_BACK = "rolled back"


class RolloutPhase(StrEnum):
    """Where an UpdateEndpoint's deployment is (controllers/endpoints/rollout.py steps it)."""

    PROVISIONING = "Provisioning"  # the new fleet (blue/green) or a batch of new instances (rolling) coming up
    BAKING = "Baking"  # a step's traffic on the new fleet for WaitIntervalInSeconds, its alarms watched
    TERMINATING = "Terminating"  # all traffic on the new fleet; the old one waits TerminationWaitInSeconds
    ROLLING_BACK = "RollingBack"  # traffic back on the old fleet while the new one leaves


@dataclass(frozen=True)
class Rollout:
    """An UpdateEndpoint's deployment in progress, stored so that a restarted server carries on where it was."""

    phase: RolloutPhase
    step: int  # steps whose traffic began (blue/green: shares published; rolling: batches in rotation)
    started: datetime  # when the deployment began: MaximumExecutionTimeoutInSeconds counts from then
    phase_started: datetime
    rollback_step: int = 0  # rolling: batches of old instances brought back so far
    reason: str | None = None  # why it rolls back: the endpoint's FailureReason once it has


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
    rollout: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class EndpointNotFound(RecordNotFound):
    """No endpoint has this name."""


@dataclass(frozen=True)
class VariantState:
    """One variant as DescribeEndpoint shows it: a production variant, or a shadow one (the record keeps both in
    one list, by their unique names; the endpoint's spec tells which is which).

    `desired_*` are what requests asked for (the config's initial values, then
    UpdateEndpointWeightsAndCapacities); `current_*`, `deployed_images` (wire dicts
    {SpecifiedImage, ResolvedImage, ResolutionTime}) and `status` (VariantStatus wire dicts
    {Status, StatusMessage, StartTime}) are what the controller reports. A serverless variant
    has desired_instance_count 0: its instances come and go with requests; `gb_seconds` is its usage as
    SageMaker bills it (MemorySizeInMB / 1024 × the seconds its invocations took), also reported.
    """

    name: str
    desired_weight: float
    desired_instance_count: int
    current_weight: float | None = None
    current_instance_count: int | None = None
    deployed_images: tuple[dict[str, Any], ...] = ()
    status: tuple[dict[str, Any], ...] = ()
    gb_seconds: float = 0.0


@dataclass(frozen=True)
class ServerlessSpec:
    """A variant's ServerlessConfig, typed."""

    memory_mb: int  # MemorySizeInMB: the instance's memory limit
    max_concurrency: int  # MaxConcurrency: invocations answered at once; more are throttled
    provisioned_concurrency: int  # ProvisionedConcurrency: kept warm always (0: none, it scales to zero)

    @classmethod
    def from_request(cls, config: dict[str, Any]) -> ServerlessSpec:
        return cls(config["MemorySizeInMB"], config["MaxConcurrency"], config.get("ProvisionedConcurrency", 0))


@dataclass(frozen=True)
class VariantSpec:
    """One ProductionVariant (or ShadowProductionVariant: `is_shadow`) of an endpoint config, typed.

    The service stored the variant with InitialVariantWeight's default; the startup timeout's default
    is filled here, since DescribeEndpointConfig echoes the variant without it.
    """

    name: str
    model_name: str
    instance_type: str | None  # None for a serverless variant
    initial_weight: float
    initial_instance_count: int  # 0 for a serverless variant
    startup_s: float  # ContainerStartupHealthCheckTimeoutInSeconds
    volume_size_gb: int | None  # VolumeSizeInGB: each instance's scratch space (None: the runtime's default)
    serverless: ServerlessSpec | None = None  # its ServerlessConfig (None: it runs on instances)
    is_shadow: bool = False  # a shadow variant: copied a share of the invocations, answering nobody

    @classmethod
    def from_request(cls, variant: dict[str, Any], is_shadow: bool = False) -> VariantSpec:
        serverless = variant.get("ServerlessConfig")
        return cls(name=variant["VariantName"], model_name=variant["ModelName"],
                   instance_type=variant.get("InstanceType"), initial_weight=variant["InitialVariantWeight"],
                   initial_instance_count=variant.get("InitialInstanceCount", 0),
                   startup_s=float(variant.get("ContainerStartupHealthCheckTimeoutInSeconds", DEFAULT_STARTUP_S)),
                   volume_size_gb=variant.get("VolumeSizeInGB"),
                   serverless=None if serverless is None else ServerlessSpec.from_request(serverless),
                   is_shadow=is_shadow)


@dataclass(frozen=True)
class EndpointSpec:
    """What an endpoint config deploys, copied when CreateEndpoint or UpdateEndpoint is called.

    `config` is the endpoint config's request as stored (ProductionVariants, DataCaptureConfig,
    ...) and `models` maps each variant's ModelName to that model's request as stored. Being a
    copy, it stays valid when the config or its models are deleted, as SageMaker allows.
    `variants` reads the config's ProductionVariants once, for the controller; `shadow_variants` its
    ShadowProductionVariants.
    """

    config: dict[str, Any]
    models: dict[str, dict[str, Any]]

    @property
    def production_variants(self) -> list[dict[str, Any]]:
        variants: list[dict[str, Any]] = self.config["ProductionVariants"]
        return variants

    @cached_property
    def variants(self) -> tuple[VariantSpec, ...]:
        """The ProductionVariants, typed, in order."""
        return tuple(VariantSpec.from_request(variant) for variant in self.production_variants)

    @cached_property
    def shadow_variants(self) -> tuple[VariantSpec, ...]:
        """The ShadowProductionVariants, typed, in order (none if the config has none)."""
        return tuple(VariantSpec.from_request(variant, is_shadow=True)
                     for variant in self.config.get("ShadowProductionVariants", []))

    @property
    def all_variants(self) -> tuple[VariantSpec, ...]:
        """The production variants, then the shadow variants."""
        return self.variants + self.shadow_variants

    def containers(self, model_name: str) -> list[dict[str, Any]]:
        """The ContainerDefinitions of the model a variant names, in order."""
        return model_containers(self.models[model_name])

    def images(self, model_name: str) -> list[str]:
        """The Image of each container of the model a variant names, in order."""
        return [container["Image"] for container in self.containers(model_name)]

    def network_isolation(self, model_name: str) -> bool:
        """The model's EnableNetworkIsolation: its containers reach nothing but the front door reaching them."""
        return bool(self.models[model_name].get("EnableNetworkIsolation", False))


@dataclass(frozen=True)
class Endpoint:
    """An endpoint as stored.

    `variants` are those of `config_name` (deployed by `spec`). While UpdateEndpoint is being
    carried out, `pending_config_name`, `pending_variants`, `pending_spec` and `pending_since`
    describe the config being deployed. `update_requested` is set by UpdateEndpoint and
    UpdateEndpointWeightsAndCapacities until the update ends; `delete_requested` by DeleteEndpoint.
    `generation` grows by one with each UpdateEndpoint: the controller labels instances with it;
    `deployed_generation` is the generation of the config in service (the last update that succeeded).
    `deployment_config` is the DeploymentConfig last given to CreateEndpoint or UpdateEndpoint; `rollout` the
    UpdateEndpoint's deployment in progress (None when none is).
    """

    name: str
    arn: str
    config_name: str
    status: EndpointStatus
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
    rollout: Rollout | None = None


class UnknownVariants(Exception):
    """UpdateEndpointWeightsAndCapacities named variants the endpoint does not have (`names`, in order)."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(", ".join(names))
        self.names = list(names)


class EndpointRepository(Repository[EndpointRow, Endpoint]):
    """Endpoints by name. Each method that writes is one transaction under the endpoint's lock."""

    row, lifecycle = EndpointRow, LIFECYCLE

    def _record(self, row: EndpointRow) -> Endpoint:
        return _endpoint(row)

    def create(self, name: str, arn: str, config_name: str, variants: Sequence[VariantState], spec: EndpointSpec,
               deployment_config: dict[str, Any] | None = None) -> Endpoint:
        """Store a new endpoint, Creating since now, generation 0.

        Raises RecordExists, writing nothing, if an endpoint has this name or ARN.
        """
        now = self._clock()
        with self._db.write(lock="endpoints create") as session:
            check_unique(session, EndpointRow, name, arn)
            row = EndpointRow(
                name=name, arn=arn, config_name=config_name, status=str(EndpointStatus.CREATING), creation_time=now,
                last_modified_time=now, variants=_variants_json(variants), spec=_spec_json(spec),
                pending_variants=[], deployment_config=deployment_config, update_requested=False,
                delete_requested=False, generation=0, deployed_generation=0)
            session.add(row)
            session.flush()
            return _endpoint(row)

    def names_to_reconcile(self) -> list[str]:
        """Every endpoint's name, oldest first: the controller has work for each, even those that ended (it
        retires a Failed endpoint's instances, and removes a Deleting one once its instances are gone)."""
        return names_where(self._db, EndpointRow)

    def request_update(self, name: str, config_name: str, variants: Sequence[VariantState], spec: EndpointSpec,
                       deployment_config: dict[str, Any] | None = None) -> Endpoint:
        """UpdateEndpoint: record `config_name` as pending, bump the generation, move to Updating, and begin its
        rollout (provisioning since now).

        `deployment_config` is the DeploymentConfig this deployment follows (None: all at once), stored as the
        endpoint's last. Raises EndpointNotFound, or StatusConflict if the endpoint is not InService.
        """
        with self._requesting(name, EndpointStatus.UPDATING) as row:
            row.pending_config_name, row.pending_variants = config_name, _variants_json(variants)
            row.pending_spec, row.generation = _spec_json(spec), row.generation + 1
            row.deployment_config = deployment_config
            row.pending_since, row.update_requested = row.last_modified_time, True
            row.rollout = _rollout_json(Rollout(RolloutPhase.PROVISIONING, 0, row.last_modified_time,
                                                row.last_modified_time))
            return _endpoint(row)

    def request_weights(self, name: str, desired: Mapping[str, tuple[float | None, int | None]]) -> Endpoint:
        """UpdateEndpointWeightsAndCapacities: set the desired (weight, instance count) of variants, move to Updating.

        None in a pair keeps that value. Raises EndpointNotFound, StatusConflict if the
        endpoint is not InService, or UnknownVariants (writing nothing).
        """
        with self._requesting(name, EndpointStatus.UPDATING) as row:
            variants = {variant.name: variant for variant in _variants(row.variants)}
            if unknown := [variant for variant in desired if variant not in variants]:
                raise UnknownVariants(unknown)
            for variant, (weight, count) in desired.items():
                old = variants[variant]
                variants[variant] = replace(old, desired_weight=old.desired_weight if weight is None else weight,
                                            desired_instance_count=old.desired_instance_count if count is None
                                            else count)
            row.variants, row.update_requested = _variants_json(variants.values()), True
            return _endpoint(row)

    def request_delete(self, name: str) -> Endpoint:
        """DeleteEndpoint: mark the endpoint delete-requested and move it to Deleting.

        Raises EndpointNotFound, or StatusConflict if an operation is in progress (Creating,
        Updating, Deleting, ...). The controller calls `delete` once its instances are gone.
        """
        with self._requesting(name, EndpointStatus.DELETING) as row:
            row.delete_requested = True
            return _endpoint(row)

    def advance(self, name: str, status: EndpointStatus | None, *, failure_reason: str | None = None,
                variants: Sequence[VariantState] | None = None, pending_variants: Sequence[VariantState] | None = None,
                update: UpdateOutcome | None = None, rollout: Rollout | None = None) -> Endpoint:
        """The controller's progress: move the endpoint to `status`, and record what is given (None keeps what is
        stored; a None status records progress only).

        Of `variants` (and `pending_variants`, those of the config being deployed), only what the
        controller reports is kept (current weight and count, deployed images, variant status),
        matched by name; desired values stay as requested. The status is kept while a delete or
        an UpdateEndpoint is requested, unless the UpdateEndpoint's `rollout` progress comes with it (its rollback
        moves to RollingBack); `update` ends the UpdateEndpoint, moving to `status`: DEPLOYED
        makes the pending config the endpoint's (its variants as given to request_update, updated
        by what was reported) and clears the failure reason; ROLLED_BACK drops it; either ends the rollout.
        A status other than Updating ends a weights-and-capacities update.
        Raises EndpointNotFound, or IllegalTransition for a move LIFECYCLE does not allow or an
        `update` outcome while no UpdateEndpoint is in progress.
        """
        with self._db.write(lock=self._lock(name)) as session:
            row, now = _find(session, name), self._clock()
            if variants is not None:
                row.variants = _variants_json(_reported(_variants(row.variants), variants))
            if pending_variants is not None:
                row.pending_variants = _variants_json(_reported(_variants(row.pending_variants), pending_variants))
            if rollout is not None and row.pending_config_name is not None:
                row.rollout = _rollout_json(rollout)
            if update is not None:
                if status is None:
                    raise ValueError("ending an update needs the status it ends in")
                _end_update(row, status, update, now)
            # DeleteEndpoint or UpdateEndpoint overtook the controller: its status waits for `delete` or `update`.
            elif status is not None and not row.delete_requested and (row.pending_config_name is None
                                                                      or rollout is not None):
                _move(row, status, now)
            if failure_reason is not None:
                row.failure_reason = failure_reason
            row.last_modified_time = now
            return _endpoint(row)

    def delete(self, name: str) -> None:
        """Remove the endpoint and its tags (the controller, once a deleted endpoint's instances are gone).

        Raises EndpointNotFound.
        """
        with self._db.write(lock=self._lock(name)) as session:
            row = _find(session, name)
            delete_tags(session, row.arn)
            session.delete(row)

    @contextmanager
    def _requesting(self, name: str, status: EndpointStatus) -> Iterator[EndpointRow]:
        """A request's transaction moving the endpoint to `status`, its failure reason cleared; StatusConflict if
        LIFECYCLE does not allow the move."""
        with self._db.write(lock=self._lock(name)) as session:
            row = _find(session, name)
            if not LIFECYCLE.allows(row.status, status):
                raise StatusConflict(name, row.status)
            _move(row, status, self._clock())
            row.failure_reason = None
            yield row


def _move(row: EndpointRow, status: EndpointStatus, now: datetime) -> None:
    """The one write of an endpoint's status: checked against LIFECYCLE; any status but Updating ends an update."""
    LIFECYCLE.check(row.name, row.status, status)
    row.status, row.last_modified_time = str(status), now
    row.update_requested = row.update_requested and status == EndpointStatus.UPDATING


def _end_update(row: EndpointRow, status: EndpointStatus, outcome: UpdateOutcome, now: datetime) -> None:
    """End the UpdateEndpoint in progress, moving to `status`: deploy the pending config, or drop it."""
    if row.pending_config_name is None or row.pending_spec is None:  # the controller ends only what it started
        raise IllegalTransition(row.name, row.status, status)
    _move(row, status, now)
    if outcome is UpdateOutcome.DEPLOYED:
        row.config_name, row.spec = row.pending_config_name, row.pending_spec
        row.variants, row.deployed_generation = row.pending_variants, row.generation
        row.failure_reason = None
    row.pending_config_name, row.pending_variants, row.pending_spec, row.pending_since = None, [], None, None
    row.update_requested, row.rollout = False, None


def _find(session: Session, name: str) -> EndpointRow:
    return find_row(session, EndpointRow, name, EndpointNotFound)


def _reported(stored: Sequence[VariantState], reported: Sequence[VariantState]) -> list[VariantState]:
    by_name = {variant.name: variant for variant in reported}
    return [replace(variant, current_weight=got.current_weight, current_instance_count=got.current_instance_count,
                    deployed_images=got.deployed_images, status=got.status, gb_seconds=got.gb_seconds)
            if (got := by_name.get(variant.name)) is not None else variant for variant in stored]


def _variants_json(variants: Sequence[VariantState] | Any) -> list[dict[str, Any]]:
    return [{"name": v.name, "desired_weight": v.desired_weight, "desired_instance_count": v.desired_instance_count,
             "current_weight": v.current_weight, "current_instance_count": v.current_instance_count,
             "deployed_images": [to_json_times(image) for image in v.deployed_images],
             "status": [to_json_times(status) for status in v.status], "gb_seconds": v.gb_seconds} for v in variants]


def _variants(stored: list[dict[str, Any]]) -> tuple[VariantState, ...]:
    return tuple(VariantState(
        name=v["name"], desired_weight=v["desired_weight"], desired_instance_count=v["desired_instance_count"],
        current_weight=v["current_weight"], current_instance_count=v["current_instance_count"],
        deployed_images=tuple(from_json_times(image, _TIME_KEYS) for image in v["deployed_images"]),
        status=tuple(from_json_times(status, _TIME_KEYS) for status in v["status"]),
        gb_seconds=v.get("gb_seconds", 0.0)) for v in stored)


def _rollout_json(rollout: Rollout) -> dict[str, Any]:
    return {"phase": str(rollout.phase), "step": rollout.step, "started": rollout.started.isoformat(),
            "phase_started": rollout.phase_started.isoformat(), "rollback_step": rollout.rollback_step,
            "reason": rollout.reason}


def _rollout(stored: dict[str, Any] | None) -> Rollout | None:
    if stored is None:
        return None
    times = from_json_times(stored, frozenset({"started", "phase_started"}))
    return Rollout(RolloutPhase(stored["phase"]), stored["step"], times["started"], times["phase_started"],
                   stored["rollback_step"], stored["reason"])


def _spec_json(spec: EndpointSpec) -> dict[str, Any]:
    return {"config": spec.config, "models": spec.models}


def _spec(stored: dict[str, Any]) -> EndpointSpec:
    return EndpointSpec(config=stored["config"], models=stored["models"])


def _endpoint(row: EndpointRow) -> Endpoint:
    return Endpoint(
        name=row.name, arn=row.arn, config_name=row.config_name, status=EndpointStatus(row.status),
        failure_reason=row.failure_reason, creation_time=row.creation_time, last_modified_time=row.last_modified_time,
        variants=_variants(row.variants), spec=_spec(row.spec), pending_config_name=row.pending_config_name,
        pending_variants=_variants(row.pending_variants),
        pending_spec=None if row.pending_spec is None else _spec(row.pending_spec), pending_since=row.pending_since,
        deployment_config=row.deployment_config, update_requested=row.update_requested,
        delete_requested=row.delete_requested, generation=row.generation,
        deployed_generation=row.deployed_generation, rollout=_rollout(row.rollout))


@indexes(EndpointRow)
def _search_documents(session: Session, row: EndpointRow) -> Iterable[SearchDocument]:
    """The endpoint as Search's Endpoint: names, status, times, and each production variant's weights and counts."""
    variants = [{"VariantName": v["name"], "DesiredWeight": v["desired_weight"],
                 "DesiredInstanceCount": v["desired_instance_count"], "CurrentWeight": v.get("current_weight"),
                 "CurrentInstanceCount": v.get("current_instance_count")} for v in row.variants]
    properties = {"EndpointName": row.name, "EndpointArn": row.arn, "EndpointConfigName": row.config_name,
                  "EndpointStatus": row.status, "FailureReason": row.failure_reason, "CreationTime": row.creation_time,
                  "LastModifiedTime": row.last_modified_time, "ProductionVariants": variants}
    return [SearchDocument("Endpoint", row.arn, properties)]
