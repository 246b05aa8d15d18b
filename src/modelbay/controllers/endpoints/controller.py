"""EndpointController: keeps each endpoint's fleet matching its endpoint config, and the router in step.

Desired state is the endpoint record (its config, the desired weights and counts, a pending
config during UpdateEndpoint, a delete request); what runs is found through the runtime by the
labels in fleet.py, so a restarted server picks up where it left off. A pass never waits for a
model server: it launches slots (staging in the background), health-checks them, publishes the
ready ones to the router, and records what it sees.

- Creating: every slot of every variant must pass `/ping`; then InService. A slot that dies or
  misses its startup window fails the endpoint with the model server's own last words.
- InService: a slot that dies or fails its checks leaves the rotation at once and is replaced in
  its zone. Weights and counts from UpdateEndpointWeightsAndCapacities apply live.
- UpdateEndpoint (blue/green): the new config's fleet comes up beside the old one; once all of
  it is ready, traffic switches at once and the old fleet drains and stops. If the new fleet
  fails, it is stopped and the endpoint stays InService on the old one, the failure recorded.
- Deleting: routes are withdrawn, in-flight requests finish, then every instance stops.

A serverless variant (serverless.py) is a variant of 0 or 1 slots, as its ServerlessScaler decides from the
router's demand; its route caps invocations at MaxConcurrency, and its usage in GB-seconds is recorded with
the variant's state.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from modelbay.controllers.background import Wakeable, in_background
from modelbay.controllers.endpoints.fleet import VARIANT, Health, Slot, SlotKey, group_slots, slot_labels, zone_for
from modelbay.controllers.endpoints.serverless import (
    ServerlessScaler,
    SetupListener,
    log_setup_time,
    serverless_type,
    workers_env,
)
from modelbay.controllers.images import Images, UnknownImage, explain_failure
from modelbay.controllers.instance_env import listening_env, serving_port
from modelbay.controllers.instance_logs import log_tail, ship_log
from modelbay.controllers.model_hosts import HostShape, Launch, prepare_host
from modelbay.controllers.reasons import fit_reason
from modelbay.controllers.staging import StagingError
from modelbay.instance_types import InstanceType, instance_type
from modelbay.platform import Platform
from modelbay.runtime.base import DEFAULT_VOLUME_SIZE_GB, Instance, Runtime, StartFailed, start_together
from modelbay.runtime.environments import EnvironmentBuildError
from modelbay.serving.health import ping
from modelbay.serving.router import Backend, VariantRoute
from modelbay.statuses import EndpointStatus, VariantStatus
from modelbay.store.metadata.endpoints import (
    Endpoint,
    EndpointSpec,
    ServerlessSpec,
    UpdateOutcome,
    VariantSpec,
    VariantState,
)

log = logging.getLogger(__name__)

LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
# Statuses of an endpoint with a deployed fleet, which a restarted server serves again.
_SERVING = frozenset({EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING, EndpointStatus.SYSTEM_UPDATING,
                      EndpointStatus.ROLLING_BACK, EndpointStatus.UPDATE_ROLLBACK_FAILED})


class LaunchFailed(Exception):
    """A slot could not be launched; the message is the endpoint's FailureReason."""


@dataclass(frozen=True)
class VariantPlan:
    """One production variant as the fleet must run it."""

    name: str
    weight: float
    count: int
    instance_type: InstanceType
    containers: tuple[dict[str, Any], ...]  # the model's containers, in call order
    images: tuple[str, ...]  # each container's image, in the same order
    startup_s: float
    shape: HostShape  # each instance's scratch space and network isolation
    serverless: ServerlessSpec | None = None


class EndpointController(Wakeable):
    """Keeps every endpoint's instances and routes matching its record."""

    def __init__(self, platform: Platform, runtime: Runtime, images: Images, *,
                 health: Callable[[str], str | None] = ping, check_every_s: float = 2.0, failures_to_replace: int = 2,
                 drain_timeout_s: float = 60.0, stop_grace_s: float = 10.0,
                 on_model_setup: SetupListener = log_setup_time) -> None:
        self.platform, self.runtime, self.images = platform, runtime, images
        self.endpoints, self.router = platform.metadata.endpoints, platform.router
        self.serverless = ServerlessScaler(self.router.demand, platform.settings.serverless_idle_s, on_model_setup)
        self.health = Health(health, check_every_s, failures_to_replace)
        self.drain_timeout_s, self.stop_grace_s = drain_timeout_s, stop_grace_s
        self.root = platform.settings.data_dir / "endpoints"
        self._launching: dict[tuple[str, SlotKey], Future[Launch]] = {}
        self._answering: dict[str, Future[None]] = {}  # a serverless slot starting → its first /ping answer
        self._draining: dict[str, float] = {}  # instance id (or endpoint) → when its draining began
        self._stopping: set[str] = set()  # instances told to stop, not yet removed
        super().__init__()
        self.router.add_failure_listener(self.wake)
        self.router.add_demand_listener(self.wake)

    def names(self) -> list[str]:
        return self.endpoints.names_to_reconcile()

    def expect_routes(self) -> None:
        """Before the server answers: name to the router the endpoints that serve (after a restart, their
        instances are adopted), so that an invocation arriving before their first pass waits for their
        routes instead of hearing that they do not exist."""
        endpoints = (self.endpoints.get(name) for name in self.names())
        self.router.expect(endpoint.name for endpoint in endpoints
                           if endpoint is not None and endpoint.status in _SERVING and not endpoint.delete_requested)

    def reconcile(self, name: str) -> None:
        """One idempotent pass over endpoint `name`."""
        endpoint = self.endpoints.get(name)
        found = self.runtime.list({"endpoint": name})
        for instance in found:  # SageMaker's names: /aws/sagemaker/Endpoints/<endpoint>, <variant>/<instance>
            ship_log(self.platform.logs, f"{LOG_GROUP_PREFIX}{name}", f"{instance.labels[VARIANT]}/{instance.id}",
                     instance, instance.opt_ml.parent / "log.offset")
        slots = group_slots(found)
        if endpoint is None or (endpoint.status == EndpointStatus.FAILED and endpoint.pending_config_name is None):
            if endpoint is None:
                self.router.withdraw(name)
                self.serverless.forget(name)
            self._retire(name, slots.values(), drained=True)
            return
        if endpoint.delete_requested:
            self._delete(endpoint, slots)
            return
        current_plan = self._plan(endpoint.name, endpoint.spec, endpoint.variants)
        # a fleet that has served heals; one coming up fails as a whole (the endpoint, or the update)
        current = self._converge(endpoint, endpoint.deployed_generation, current_plan, slots,
                                 heal=endpoint.status != EndpointStatus.CREATING)
        if endpoint.pending_spec is not None:
            self._update(endpoint, current_plan, current, slots)
        else:
            self._settle(endpoint, current_plan, current)
        live = {endpoint.deployed_generation} | ({endpoint.generation} if endpoint.pending_spec is not None else set())
        self._retire(name, (s for k, s in slots.items() if k.generation not in live), drained=False)

    # -- phases ---------------------------------------------------------------------------

    def _settle(self, endpoint: Endpoint, plan: Sequence[VariantPlan], fleet: FleetState) -> None:
        """Creating, InService or a weights/capacity update: publish what is ready, record the status."""
        if fleet.failure is not None:  # only a fleet coming up reports failures; a serving one heals
            self._retire(endpoint.name, fleet.slots, drained=True)
            self.router.withdraw(endpoint.name)
            self.endpoints.advance(endpoint.name, EndpointStatus.FAILED, failure_reason=fit_reason(fleet.failure))
            return
        self._publish(endpoint, plan, fleet)
        complete = all(len(fleet.ready[v.name]) >= v.count for v in plan)
        in_service = complete or endpoint.status == EndpointStatus.IN_SERVICE
        status = EndpointStatus.IN_SERVICE if in_service else endpoint.status
        self._record(endpoint, plan, fleet, status, endpoint.variants)

    def _update(self, endpoint: Endpoint, current_plan: Sequence[VariantPlan], current: FleetState,
                slots: dict[SlotKey, Slot]) -> None:
        """Blue/green: bring the pending fleet up beside the current one, then switch at once."""
        assert endpoint.pending_spec is not None
        pending_plan = self._plan(endpoint.name, endpoint.pending_spec, endpoint.pending_variants)
        pending = self._converge(endpoint, endpoint.generation, pending_plan, slots, heal=False)
        if pending.failure is not None:
            self._retire(endpoint.name, pending.slots, drained=True)
            self.endpoints.advance(endpoint.name, EndpointStatus.IN_SERVICE, failure_reason=fit_reason(pending.failure),
                                   update=UpdateOutcome.ROLLED_BACK)
            return
        if all(len(pending.ready[v.name]) >= v.count for v in pending_plan):
            self._publish(endpoint, pending_plan, pending)
            finished = self.endpoints.advance(endpoint.name, EndpointStatus.IN_SERVICE, update=UpdateOutcome.DEPLOYED)
            self._record(finished, pending_plan, pending, EndpointStatus.IN_SERVICE, finished.variants)
            return
        self._publish(endpoint, current_plan, current)  # the old fleet serves until the switch
        self._record(endpoint, current_plan, current, EndpointStatus.UPDATING, endpoint.variants)

    def _delete(self, endpoint: Endpoint, slots: dict[SlotKey, Slot]) -> None:
        """Withdraw the routes, let in-flight requests finish, stop everything, forget the endpoint."""
        self.router.withdraw(endpoint.name)
        drained = self.router.outstanding(endpoint.name) == 0 or self._waited_out(endpoint.name)
        if not drained:
            return
        self._retire(endpoint.name, slots.values(), drained=True)
        if not slots:
            self._draining.pop(endpoint.name, None)
            self.serverless.forget(endpoint.name)
            shutil.rmtree(self.root / endpoint.name, ignore_errors=True)
            self.endpoints.delete(endpoint.name)

    # -- fleets ---------------------------------------------------------------------------

    def _converge(self, endpoint: Endpoint, generation: int, plan: Sequence[VariantPlan],
                  slots: dict[SlotKey, Slot], heal: bool) -> FleetState:
        """Launch missing slots, check the others; with `heal`, replace failed ones, else report them."""
        fleet, down = FleetState(), self.router.out_of_rotation(endpoint.name)
        for variant in plan:
            fleet.ready[variant.name] = []
            for index in range(variant.count):
                key = SlotKey(generation, variant.name, index)
                slot = slots.get(key)
                if slot is None:
                    if variant.serverless is not None:
                        self.serverless.launching(endpoint.name, variant.name)
                    fleet.failure = fleet.failure or self._launch(endpoint.name, key, variant)
                    continue
                if any(i.id in self._stopping for i in slot.instances):  # on its way out (a serverless variant
                    self._retire(endpoint.name, [slot], drained=True)  # scaled to zero): its successor waits
                    continue
                fleet.slots.append(slot)
                self.health.check(slot, self.router.answered_within(slot.instance_id, self.health.window_s))
                if variant.serverless is not None and not self.health.was_ready(slot):
                    self._await_first_answer(slot, variant.startup_s)
                if self.health.is_ready(slot) and slot.instance_id not in down:
                    fleet.ready[variant.name].append(slot)
                    if variant.serverless is not None:
                        self.serverless.ready(endpoint.name, variant.name)
                        self._answering.pop(slot.instance_id, None)
                elif self.health.has_failed(slot) or slot.instance_id in down or _overdue(slot, variant.startup_s):
                    reason = self._slot_failure(slot, variant)
                    if heal:
                        log.warning("replacing %s of endpoint %s: %s", key, endpoint.name, reason)
                        self._retire(endpoint.name, [slot], drained=True)
                    else:
                        fleet.failure = fleet.failure or reason
            extra = [s for k, s in slots.items()
                     if (k.generation, k.variant) == (generation, variant.name) and k.index >= variant.count]
            self._retire(endpoint.name, extra, drained=False)
        return fleet

    def _launch(self, endpoint: str, key: SlotKey, variant: VariantPlan) -> str | None:
        """Start the slot once its background preparation is done; the failure reason if it failed."""
        launching = self._launching.get((endpoint, key))
        if launching is None:
            launching = in_background(lambda: self._prepare(endpoint, key, variant))
            launching.add_done_callback(self.wake)
            self._launching[(endpoint, key)] = launching
            return None
        if not launching.done():
            return None
        del self._launching[(endpoint, key)]
        try:
            launch = launching.result()
        except (LaunchFailed, UnknownImage, StagingError, EnvironmentBuildError) as err:
            return explain_failure(str(err), variant.images)
        try:
            start_together(self.runtime, launch)
        except StartFailed as err:
            return f"InternalServerError: {err}"
        return None

    def _prepare(self, endpoint: str, key: SlotKey, variant: VariantPlan) -> Launch:
        """Ready the images and stage every container of one slot (off the reconcile thread)."""
        zone = zone_for(key.index, self.platform.settings.availability_zones)
        home = self.root / endpoint / f"g{key.generation}-{key.variant}-{key.index}"
        return prepare_host(self.platform.objects, self.images, home, variant.instance_type, variant.containers,
                            lambda index, port: slot_labels(endpoint, key, zone, index, port),
                            {"MODELBAY_ZONE": zone} | listening_env(self.runtime)
                            | (workers_env(variant.serverless, variant.containers) if variant.serverless else {}),
                            port=lambda: serving_port(self.runtime), shape=variant.shape)

    def _await_first_answer(self, slot: Slot, startup_s: float) -> None:
        """A cold start: an invocation waits, so wake the controller as soon as the slot answers /ping rather than
        at its next pass."""
        if slot.instance_id not in self._answering:
            pinging = in_background(lambda: _first_answer(self.health.ping, slot.urls, startup_s))
            pinging.add_done_callback(self.wake)
            self._answering[slot.instance_id] = pinging

    def _slot_failure(self, slot: Slot, variant: VariantPlan) -> str:
        """Why a slot failed, in the model server's own words where it left any."""
        ended = next((i for i in slot.instances if not i.is_alive), None)
        if ended is not None:
            cause = ended.reason or f"exit code {ended.exit_code}"
            return explain_failure(f"The model server of variant {variant.name} exited ({cause}): "
                                   f"{log_tail(ended.log_path)}", variant.images)
        waiting = self.health.not_ready(slot)
        if waiting is None:
            return (f"The model server of variant {variant.name} stopped answering its /ping health checks: "
                    f"{self.health.failure(slot) or 'the router could not reach it'}")
        silent, url, last_error = waiting
        return explain_failure(
            f"The model server of variant {variant.name} did not pass its /ping health check at {url}/ping within "
            f"{variant.startup_s:.0f} seconds ({last_error or 'no answer'}); it printed: "
            f"{log_tail(silent.log_path) or 'nothing'}", variant.images)

    def _retire(self, endpoint: str, slots: Iterable[Slot], drained: bool) -> None:
        """Stop slots (after their in-flight requests, unless `drained`), then remove them once ended."""
        now = time.monotonic()
        for slot in slots:
            for instance in slot.instances:
                if instance.is_alive:
                    left = self._draining.setdefault(instance.id, now)
                    if drained or self.router.in_flight(instance.id) == 0 or now - left > self.drain_timeout_s:
                        self.runtime.stop(instance.id, self.stop_grace_s)
                        self._stopping.add(instance.id)
                else:
                    self._forget(instance)

    def _forget(self, instance: Instance) -> None:
        self.runtime.remove(instance.id)
        self._answering.pop(instance.id, None)
        self._stopping.discard(instance.id)
        self.health.forget(instance.id)
        self._draining.pop(instance.id, None)
        shutil.rmtree(instance.opt_ml.parent, ignore_errors=True)

    def _waited_out(self, endpoint: str) -> bool:
        started = self._draining.setdefault(endpoint, time.monotonic())
        return time.monotonic() - started > self.drain_timeout_s

    # -- routes and records ---------------------------------------------------------------

    def _publish(self, endpoint: Endpoint, plan: Sequence[VariantPlan], fleet: FleetState) -> None:
        self.router.publish(endpoint.name, [VariantRoute(v.name, v.weight, tuple(
            Backend(s.instance_id, s.zone, s.urls) for s in fleet.ready[v.name]),
            v.serverless.max_concurrency if v.serverless else None) for v in plan],
            queued="AsyncInferenceConfig" in endpoint.spec.config)

    def _record(self, endpoint: Endpoint, plan: Sequence[VariantPlan], fleet: FleetState, status: EndpointStatus,
                variants: Sequence[VariantState]) -> None:
        """Write what runs into the record, only when it changed (a pass writes nothing otherwise)."""
        planned = {v.name: v for v in plan}
        seen = tuple(replace(v, current_weight=planned[v.name].weight,
                             current_instance_count=len(fleet.ready[v.name]),
                             deployed_images=_deployed_images(planned[v.name], v.deployed_images),
                             status=_variant_status(planned[v.name], fleet, status, v.status),
                             gb_seconds=self._gb_seconds(endpoint.name, planned[v.name], v.gb_seconds))
                     for v in variants if v.name in planned)
        if status != endpoint.status or seen != tuple(variants):
            self.endpoints.advance(endpoint.name, status, variants=seen)

    def _gb_seconds(self, endpoint: str, variant: VariantPlan, recorded: float) -> float:
        if variant.serverless is None:
            return recorded
        return self.serverless.gb_seconds(endpoint, variant.name, variant.serverless, recorded)

    def _plan(self, endpoint: str, spec: EndpointSpec, variants: Sequence[VariantState]) -> list[VariantPlan]:
        """The variants of the endpoint's copy of its config, with the record's desired weights and counts; a
        serverless variant's count is its scaler's."""
        desired = {v.name: v for v in variants}
        return [_variant_plan(spec, v, desired[v.name], self._serverless_count(endpoint, v))
                for v in spec.variants if v.name in desired]

    def _serverless_count(self, endpoint: str, variant: VariantSpec) -> int | None:
        if variant.serverless is None:
            return None
        return self.serverless.instances(endpoint, variant.name, variant.serverless)


@dataclass
class FleetState:
    """One pass's view of a fleet: its slots, the ready ones per variant, and why it failed if it did."""

    slots: list[Slot] = field(default_factory=list)
    ready: dict[str, list[Slot]] = field(default_factory=dict)
    failure: str | None = None


def _variant_plan(spec: EndpointSpec, variant: VariantSpec, desired: VariantState,
                  serverless_count: int | None) -> VariantPlan:
    """One variant's plan: on instances of its type, or serverless with `serverless_count` instances."""
    return VariantPlan(variant.name, desired.desired_weight,
                       desired.desired_instance_count if serverless_count is None else serverless_count,
                       _instance_type(variant),
                       tuple(spec.containers(variant.model_name)), tuple(spec.images(variant.model_name)),
                       variant.startup_s, HostShape(variant.volume_size_gb or DEFAULT_VOLUME_SIZE_GB,
                                                    spec.network_isolation(variant.model_name)),
                       variant.serverless)


def _instance_type(variant: VariantSpec) -> InstanceType:
    """What the variant's instances run as: its InstanceType, or its serverless memory size."""
    if variant.serverless is not None:
        return serverless_type(variant.serverless)
    assert variant.instance_type is not None  # a variant has one or the other (services/sagemaker/endpoint_configs)
    return instance_type(variant.instance_type)


def _first_answer(ping: Callable[[str], str | None], urls: Sequence[str], within_s: float,
                  every_s: float = 0.01) -> None:
    """Return once every URL answers /ping, or after `within_s`."""
    deadline = time.monotonic() + within_s
    for url in urls:
        while ping(url) is not None and time.monotonic() < deadline:
            time.sleep(every_s)


def _overdue(slot: Slot, startup_s: float) -> bool:
    started = min(i.started_at for i in slot.instances)
    return (datetime.now(UTC) - started).total_seconds() > startup_s


def _deployed_images(variant: VariantPlan, known: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """DeployedImages: each container's image as specified; resolved once, when first deployed."""
    when = known[0]["ResolutionTime"] if known else datetime.now(UTC)
    return tuple({"SpecifiedImage": image, "ResolvedImage": image, "ResolutionTime": when}
                 for image in variant.images)


def _variant_status(variant: VariantPlan, fleet: FleetState, status: EndpointStatus,
                    known: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """VariantStatus while the variant is coming up or changing, saying where its hosts run."""
    if status == EndpointStatus.IN_SERVICE:
        return ()
    ready = fleet.ready.get(variant.name, [])
    zones = ", ".join(sorted({s.zone for s in ready})) or "none yet"
    message = f"{len(ready)} of {variant.count} instances ready (zones: {zones})"
    phase = VariantStatus.CREATING if status == EndpointStatus.CREATING else VariantStatus.UPDATING
    if known and known[0].get("StatusMessage") == message and known[0].get("Status") == phase:
        return tuple(known)
    return ({"Status": phase, "StatusMessage": message, "StartTime": datetime.now(UTC)},)
