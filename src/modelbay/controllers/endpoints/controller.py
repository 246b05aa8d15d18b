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
- UpdateEndpoint: its DeploymentConfig's rollout (rollout.py) says what runs and takes traffic. Blue/green:
  the new config's fleet comes up beside the old one; once all of it is ready, traffic moves to it in the
  rollout's steps (all at once by default), then the old fleet drains and stops. Rolling: batch by batch, new
  instances join the variant's rotation and as many old ones drain and stop. A new fleet that fails, an alarm
  in ALARM or a deployment past its time rolls back (RollingBack): traffic returns to the old fleet, the new
  one drains and stops, and the endpoint is InService on its old config, the reason recorded.
- Deleting: routes are withdrawn, in-flight requests finish, then every instance stops.

While every endpoint is steady (InService, every slot ready, nothing launching, draining or stopping), a pass comes
every STEADY_PASS_S instead of at the loop's pace: what moves a steady endpoint wakes the controller at once (a
write to an endpoint, an instance's failure or a serverless variant's demand seen by a router, background work
ending), and what it only sees by looking (an instance gone without a failed request, failed health checks, logs to
ship, a serverless variant idle) can wait that long.

A serverless variant (serverless.py) is a variant of 0 or 1 slots, as its ServerlessScaler decides from the
router's demand; its route caps invocations at MaxConcurrency, and its usage in GB-seconds is recorded with
the variant's state.

A shadow variant is planned, launched, checked, healed and recorded as a production variant is; only its route
differs: it is published among the router's shadows, which are copied a share of the invocations (and the
router's copies are recorded as the shadow variant's invocations, through the publisher).
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
from modelbay.controllers.endpoints import rollout
from modelbay.controllers.endpoints.fleet import VARIANT, Health, Slot, SlotKey, group_slots, slot_labels, zone_for
from modelbay.controllers.endpoints.rollout import Done
from modelbay.controllers.endpoints.serverless import (
    ServerlessScaler,
    SetupListener,
    log_setup_time,
    serverless_type,
    workers_env,
)
from modelbay.controllers.images import Images, UnknownImage, explain_failure
from modelbay.controllers.instance_env import handoff_env, listening_env, serving_port
from modelbay.controllers.instance_logs import log_tail, ship_log
from modelbay.controllers.model_hosts import HostShape, Launch, prepare_host
from modelbay.controllers.reasons import fit_reason
from modelbay.controllers.route_book import RouteBook, RouteTable
from modelbay.controllers.staging import StagingError
from modelbay.controllers.volume_keys import volume_key
from modelbay.instance_types import InstanceType, instance_type
from modelbay.platform import Platform
from modelbay.runtime.base import DEFAULT_VOLUME_SIZE_GB, Instance, Runtime, StartFailed
from modelbay.runtime.environments import EnvironmentBuildError
from modelbay.serving.health import ping
from modelbay.serving.router import Backend, TrafficShift, VariantRoute
from modelbay.serving.router_fleet import RouterFleet
from modelbay.statuses import EndpointStatus, VariantStatus
from modelbay.store.metadata.alarms import ALARM
from modelbay.store.metadata.endpoints import (
    Endpoint,
    EndpointSpec,
    Rollout,
    RolloutPhase,
    ServerlessSpec,
    UpdateOutcome,
    VariantSpec,
    VariantState,
)

log = logging.getLogger(__name__)

LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
STEADY_PASS_S = 2.0  # each pass costs a few ms of CPU on a shared core; what it only sees by looking can wait 2 s
# Statuses of an endpoint with a deployed fleet, which a restarted server serves again.
_SERVING = frozenset({EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING, EndpointStatus.SYSTEM_UPDATING,
                      EndpointStatus.ROLLING_BACK, EndpointStatus.UPDATE_ROLLBACK_FAILED})


class LaunchFailed(Exception):
    """A slot could not be launched; the message is the endpoint's FailureReason."""


@dataclass(frozen=True)
class VariantPlan:
    """One production (or shadow: `is_shadow`) variant as the fleet must run it."""

    name: str
    weight: float
    count: int
    instance_type: InstanceType
    containers: tuple[dict[str, Any], ...]  # the model's containers, in call order
    images: tuple[str, ...]  # each container's image, in the same order
    startup_s: float
    shape: HostShape  # each instance's scratch space and network isolation
    serverless: ServerlessSpec | None = None
    is_shadow: bool = False
    first: int = 0  # the first slot index run: during a rolling update, the old instances below it have left
    volume_kms_key_id: str | None = None  # the config's KmsKeyId: each slot's volumes get a data key under it


class EndpointController(Wakeable):
    """Keeps every endpoint's instances and routes matching its record."""

    def __init__(self, platform: Platform, runtime: Runtime, images: Images, *,
                 health: Callable[[str], str | None] = ping, check_every_s: float = 2.0, failures_to_replace: int = 2,
                 drain_timeout_s: float = 60.0, stop_grace_s: float = 10.0,
                 on_model_setup: SetupListener = log_setup_time, routers: RouterFleet | None = None) -> None:
        self.platform, self.runtime, self.images = platform, runtime, images
        self.endpoints, self.router = platform.metadata.endpoints, platform.router
        # what every process of this server's front door routes (router_fleet.py)
        self.routers = routers or RouterFleet(platform.router, platform.settings.region)
        # this server's routers, and the store's copy every other server follows
        self.routes = RouteBook(platform, self.routers)
        self.serverless = ServerlessScaler(self.routers.demand, platform.settings.serverless_idle_s, on_model_setup)
        self.health = Health(health, check_every_s, failures_to_replace)
        self.drain_timeout_s, self.stop_grace_s = drain_timeout_s, stop_grace_s
        self.root = platform.settings.data_dir / "endpoints"
        self._launching: dict[tuple[str, SlotKey], Future[Launch]] = {}
        self._answering: dict[str, Future[None]] = {}  # a serverless slot starting → its first /ping answer
        self._draining: dict[str, float] = {}  # instance id (or endpoint) → when its draining began
        self._stopping: set[str] = set()  # instances told to stop, not yet removed
        self._named: list[str] = []  # the endpoints of the last pass
        self._steady: set[str] = set()  # those it left InService with every slot ready
        super().__init__(self.endpoints.table)
        self.routers.add_failure_listener(self.wake)
        self.routers.add_demand_listener(self.wake)
        self.router.add_copy_listener(platform.publisher.invoked)  # shadow variants' invocations, as SageMaker's

    def names(self) -> list[str]:
        self._named = self.endpoints.names_to_reconcile()
        return self._named

    def wait_for_work(self, timeout_s: float) -> None:
        """Wait as the loop says, or STEADY_PASS_S while every endpoint is steady (the module's docstring)."""
        busy = self._launching or self._answering or self._draining or self._stopping
        super().wait_for_work(timeout_s if busy or not self._steady.issuperset(self._named)
                              else max(timeout_s, STEADY_PASS_S))

    def expect_routes(self) -> None:
        """Before the server answers: name to the router the endpoints that serve (after a restart, their
        instances are adopted), so that an invocation arriving before their first pass waits for their
        routes instead of hearing that they do not exist."""
        endpoints = (self.endpoints.get(name) for name in self.names())
        self.router.expect(endpoint.name for endpoint in endpoints
                           if endpoint is not None and endpoint.status in _SERVING and not endpoint.delete_requested)

    def reconcile(self, name: str) -> None:
        """One idempotent pass over endpoint `name`."""
        self._steady.discard(name)
        endpoint = self.endpoints.get(name)
        found = self.runtime.list({"endpoint": name})
        for instance in found:  # SageMaker's names: /aws/sagemaker/Endpoints/<endpoint>, <variant>/<instance>
            ship_log(self.platform.logs, f"{LOG_GROUP_PREFIX}{name}", f"{instance.labels[VARIANT]}/{instance.id}",
                     instance)
        slots = group_slots(found)
        if endpoint is None or (endpoint.status == EndpointStatus.FAILED and endpoint.pending_config_name is None):
            if endpoint is None:
                self._withdraw(name)
                self.serverless.forget(name)
            self._retire(name, slots.values(), drained=True)
            return
        if endpoint.delete_requested:
            self._delete(endpoint, slots)
            return
        current_plan = self._plan(endpoint.name, endpoint.spec, endpoint.variants)
        if endpoint.pending_spec is not None:
            self._update(endpoint, current_plan, slots)
        else:
            # a fleet that has served heals; one coming up fails as a whole
            current = self._converge(endpoint, endpoint.deployed_generation, current_plan, slots,
                                     heal=endpoint.status != EndpointStatus.CREATING)
            if self._settle(endpoint, current_plan, current):
                self._steady.add(name)
        live = {endpoint.deployed_generation} | ({endpoint.generation} if endpoint.pending_spec is not None else set())
        self._retire(name, (s for k, s in slots.items() if k.generation not in live), drained=False)

    # -- phases ---------------------------------------------------------------------------

    def _settle(self, endpoint: Endpoint, plan: Sequence[VariantPlan], fleet: FleetState) -> bool:
        """Creating, InService or a weights/capacity update: publish what is ready, record the status. Answer
        whether the endpoint is steady: InService with every slot ready."""
        if fleet.failure is not None:  # only a fleet coming up reports failures; a serving one heals
            self._retire(endpoint.name, fleet.slots, drained=True)
            self._withdraw(endpoint.name)
            self.endpoints.advance(endpoint.name, EndpointStatus.FAILED, failure_reason=fit_reason(fleet.failure))
            return False
        self._publish(endpoint, plan, fleet)
        complete = all(len(fleet.ready[v.name]) >= v.count for v in plan)
        in_service = complete or endpoint.status == EndpointStatus.IN_SERVICE
        status = EndpointStatus.IN_SERVICE if in_service else endpoint.status
        self._record(endpoint, plan, fleet, status, endpoint.variants)
        return complete and in_service

    def _update(self, endpoint: Endpoint, current_plan: Sequence[VariantPlan], slots: dict[SlotKey, Slot]) -> None:
        """UpdateEndpoint: run both fleets as the rollout's state says, step the rollout, route and record it."""
        assert endpoint.pending_spec is not None
        pending_plan = self._plan(endpoint.name, endpoint.pending_spec, endpoint.pending_variants)
        state = endpoint.rollout or Rollout(RolloutPhase.PROVISIONING, 0, endpoint.last_modified_time,
                                            endpoint.last_modified_time)  # an update begun before rollouts were kept
        guard = rollout.plan(endpoint.deployment_config, max(1, sum(v.count for v in pending_plan if not v.is_shadow)))
        blue_plan, green_plan = _fleet_plans(state, guard, current_plan, pending_plan)
        current = self._converge(endpoint, endpoint.deployed_generation, blue_plan, slots, heal=True)
        pending = self._converge(endpoint, endpoint.generation, green_plan, slots, heal=False)
        if state.phase is not RolloutPhase.ROLLING_BACK:
            ready = _complete(green_plan, pending)
        elif guard.rolling:
            ready = _complete(blue_plan, current)
        else:  # blue/green: the green fleet is gone
            ready = not any(key.generation == endpoint.generation for key in slots)
        alarm = self._alarm_in_alarm(guard.alarms) if rollout.watches_alarms(state) else None
        after = rollout.advance(state, guard, datetime.now(UTC), ready=ready, alarm=alarm,
                                failure=fit_reason(pending.failure) if pending.failure else None)
        if isinstance(after, Done):
            self._end_update(endpoint, after, (pending_plan, pending) if after.deployed else (current_plan, current))
            return
        self._route(endpoint, after, guard, (current_plan, current), (pending_plan, pending))
        self._record_rollout(endpoint, state, after, guard, (blue_plan, current), (green_plan, pending))

    def _end_update(self, endpoint: Endpoint, done: Done, serving: tuple[Sequence[VariantPlan], FleetState]) -> None:
        """Serve the fleet the rollout ended on alone (the other retires, drained, as no longer live) and end the
        update: DEPLOYED, or ROLLED_BACK with why."""
        plan, fleet = serving
        self._publish(endpoint, plan, fleet, spec=endpoint.pending_spec if done.deployed else endpoint.spec)
        outcome = UpdateOutcome.DEPLOYED if done.deployed else UpdateOutcome.ROLLED_BACK
        finished = self.endpoints.advance(endpoint.name, EndpointStatus.IN_SERVICE, update=outcome,
                                          failure_reason=done.reason)
        self._record(finished, plan, fleet, EndpointStatus.IN_SERVICE, finished.variants)

    def _route(self, endpoint: Endpoint, state: Rollout, guard: rollout.Plan,
               blue: tuple[Sequence[VariantPlan], FleetState], green: tuple[Sequence[VariantPlan], FleetState]) -> None:
        """Publish the rollout's traffic: blue/green, the green fleet's share beside the blue one; rolling, each
        variant's old instances still serving and its new ones in rotation, as one route."""
        (blue_plan, blue_fleet), (green_plan, green_fleet) = blue, green
        if not guard.rolling:
            share = rollout.share(state, guard)
            shift = TrafficShift(tuple(route for v, route in _routes(green_plan, green_fleet).items()
                                       if not _is_shadow(green_plan, v)), share) if share > 0 else None
            self._publish(endpoint, blue_plan, blue_fleet, shift)
            return
        new, first = rollout.rolling_counts(state, guard)
        mixed = FleetState(slots=blue_fleet.slots, ready={
            v.name: [s for s in blue_fleet.ready[v.name] if s.key.index >= first]
            + [s for s in green_fleet.ready.get(v.name, []) if s.key.index < new] for v in blue_plan})
        self._publish(endpoint, blue_plan, mixed)

    def _record_rollout(self, endpoint: Endpoint, before: Rollout, state: Rollout, guard: rollout.Plan,
                        blue: tuple[Sequence[VariantPlan], FleetState],
                        green: tuple[Sequence[VariantPlan], FleetState]) -> None:
        """Write the rollout's progress, both fleets' variants (their weights as the traffic shift has them), and
        Updating or RollingBack, only when something changed."""
        (blue_plan, blue_fleet), (green_plan, green_fleet) = blue, green
        status = EndpointStatus.ROLLING_BACK if state.phase is RolloutPhase.ROLLING_BACK else EndpointStatus.UPDATING
        share = 0.0 if guard.rolling else rollout.share(state, guard)
        seen = self._seen(endpoint.name, blue_plan, blue_fleet, endpoint.variants, 1 - share,
                          lambda v, known: _variant_status(v, blue_fleet, status, known))
        pending = self._seen(endpoint.name, green_plan, green_fleet, endpoint.pending_variants, share,
                             lambda v, _: _rollout_status(state, guard, v, green_fleet))
        if (before, status) != (state, endpoint.status) or seen != endpoint.variants \
                or pending != endpoint.pending_variants:
            self.endpoints.advance(endpoint.name, status, variants=seen, pending_variants=pending, rollout=state)

    def _alarm_in_alarm(self, names: Sequence[str]) -> str | None:
        """The first of these CloudWatch alarms that is in ALARM, if any (one deleted since is not)."""
        for name in names:
            alarm = self.platform.metadata.alarms.get(name)
            if alarm is not None and alarm.state.value == ALARM:
                return name
        return None

    def _delete(self, endpoint: Endpoint, slots: dict[SlotKey, Slot]) -> None:
        """Withdraw the routes, let in-flight requests finish, stop everything, forget the endpoint."""
        self._withdraw(endpoint.name)
        drained = self.routers.outstanding(endpoint.name) == 0 or self._waited_out(endpoint.name)
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
        fleet, down = FleetState(), self.routers.out_of_rotation(endpoint.name)
        for variant in plan:
            fleet.ready[variant.name] = []
            for index in range(variant.first, variant.count):
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
                self.health.check(slot, self.routers.answered_within(slot.instance_id, self.health.window_s))
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
                     if (k.generation, k.variant) == (generation, variant.name)
                     and not variant.first <= k.index < variant.count]
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
            self.runtime.start_together(launch)
        except StartFailed as err:
            return f"InternalServerError: {err}"
        return None

    def _prepare(self, endpoint: str, key: SlotKey, variant: VariantPlan) -> Launch:
        """Ready the images and stage every container of one slot (off the reconcile thread), its volumes encrypted
        under a data key of its own when the config names a KmsKeyId."""
        zone = zone_for(key.index, self.platform.settings.availability_zones)
        home = self.root / endpoint / f"g{key.generation}-{key.variant}-{key.index}"
        shape = replace(variant.shape, volume_key=volume_key(self.platform, variant.volume_kms_key_id, "KmsKeyId"),
                        zone=zone, spread_group=f"{endpoint}/{key.variant}")
        return prepare_host(self.platform.objects, self.images, home, variant.instance_type, variant.containers,
                            lambda index, port: slot_labels(endpoint, key, zone, index, port),
                            {"MODELBAY_ZONE": zone} | listening_env(self.runtime) | handoff_env(self.runtime)
                            | (workers_env(variant.serverless, variant.containers) if variant.serverless else {}),
                            port=lambda: serving_port(self.runtime), shape=shape)

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
                    if drained or self.routers.in_flight(instance.id) == 0 or now - left > self.drain_timeout_s:
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

    def _publish(self, endpoint: Endpoint, plan: Sequence[VariantPlan], fleet: FleetState,
                 shift: TrafficShift | None = None, spec: EndpointSpec | None = None) -> None:
        """Route to the fleet's ready instances, and capture as the config it serves says (`spec`: the endpoint's,
        unless an update's switch names the new one)."""
        config = (spec or endpoint.spec).config
        routes = _routes(plan, fleet)
        self.routes.publish(endpoint.name, RouteTable(
            tuple(routes[v.name] for v in plan if not v.is_shadow), queued="AsyncInferenceConfig" in config,
            shift=shift, shadows=tuple(routes[v.name] for v in plan if v.is_shadow),
            capture=config.get("DataCaptureConfig")))

    def _withdraw(self, endpoint: str) -> None:
        """The endpoint's routes and its capture: nothing of it is served."""
        self.routes.withdraw(endpoint)

    def _record(self, endpoint: Endpoint, plan: Sequence[VariantPlan], fleet: FleetState, status: EndpointStatus,
                variants: Sequence[VariantState]) -> None:
        """Write what runs into the record, only when it changed (a pass writes nothing otherwise)."""
        seen = self._seen(endpoint.name, plan, fleet, variants, 1.0,
                          lambda v, known: _variant_status(v, fleet, status, known))
        if status != endpoint.status or seen != tuple(variants):
            self.endpoints.advance(endpoint.name, status, variants=seen)

    def _seen(self, endpoint: str, plan: Sequence[VariantPlan], fleet: FleetState, variants: Sequence[VariantState],
              share: float, status_of: Callable[[VariantPlan, tuple[dict[str, Any], ...]], tuple[dict[str, Any], ...]]
              ) -> tuple[VariantState, ...]:
        """The planned variants as they run: their weight × the `share` of traffic their fleet takes, their ready
        instances, images, VariantStatus (`status_of` the plan and the one known) and usage."""
        planned = {v.name: v for v in plan}
        return tuple(replace(v, current_weight=planned[v.name].weight * share,
                             current_instance_count=len(fleet.ready[v.name]),
                             deployed_images=_deployed_images(planned[v.name], v.deployed_images),
                             status=status_of(planned[v.name], v.status),
                             gb_seconds=self._gb_seconds(endpoint, planned[v.name], v.gb_seconds))
                     for v in variants if v.name in planned)

    def _gb_seconds(self, endpoint: str, variant: VariantPlan, recorded: float) -> float:
        if variant.serverless is None:
            return recorded
        return self.serverless.gb_seconds(endpoint, variant.name, variant.serverless, recorded)

    def _plan(self, endpoint: str, spec: EndpointSpec, variants: Sequence[VariantState]) -> list[VariantPlan]:
        """The variants of the endpoint's copy of its config (shadow variants too: a fleet like the others), with the
        record's desired weights and counts; a serverless variant's count is its scaler's."""
        desired = {v.name: v for v in variants}
        return [_variant_plan(spec, v, desired[v.name], self._serverless_count(endpoint, v))
                for v in spec.all_variants if v.name in desired]

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


def _routes(plan: Sequence[VariantPlan], fleet: FleetState) -> dict[str, VariantRoute]:
    """Each planned variant's route over its ready slots, by name."""
    return {v.name: VariantRoute(v.name, v.weight, tuple(
        Backend(s.instance_id, s.zone, s.urls, s.handoff) for s in fleet.ready[v.name]),
        v.serverless.max_concurrency if v.serverless else None) for v in plan}


def _is_shadow(plan: Sequence[VariantPlan], name: str) -> bool:
    return any(v.is_shadow for v in plan if v.name == name)


def _complete(plan: Sequence[VariantPlan], fleet: FleetState) -> bool:
    """Every planned slot is ready."""
    return all(len(fleet.ready[v.name]) >= v.count - v.first for v in plan)


def _fleet_plans(state: Rollout, guard: rollout.Plan, current: Sequence[VariantPlan], pending: Sequence[VariantPlan]
                 ) -> tuple[list[VariantPlan], list[VariantPlan]]:
    """What of each fleet runs now: blue/green, all of both (none of the green one while rolling back); rolling,
    the old instances from the first still serving, and the new ones in rotation or coming up."""
    if guard.rolling:
        new, first = rollout.rolling_counts(state, guard)
        return [replace(v, first=first) for v in current], [replace(v, count=new) for v in pending]
    if state.phase is RolloutPhase.ROLLING_BACK:
        return list(current), [replace(v, count=0) for v in pending]
    return list(current), list(pending)


def _rollout_status(state: Rollout, guard: rollout.Plan, variant: VariantPlan,
                    fleet: FleetState) -> tuple[dict[str, Any], ...]:
    """A new variant's VariantStatus as the rollout goes: Creating (or Updating, a rolling batch) while it comes up,
    Baking while a step's traffic bakes, ActivatingTraffic with all of it before the old fleet stops, Deleting
    while rolled back."""
    steps, ready = len(guard.steps), len(fleet.ready.get(variant.name, []))
    watched = f", watching alarms {', '.join(guard.alarms)}" if guard.alarms else ""
    if state.phase is RolloutPhase.ROLLING_BACK:
        status, message = VariantStatus.DELETING, f"Rolling back: {state.reason}"
    elif state.phase is RolloutPhase.PROVISIONING and guard.rolling:
        status, message = VariantStatus.UPDATING, (f"Batch {state.step + 1} of {steps}: {ready} of {variant.count} "
                                                   "new instances ready")
    elif state.phase is RolloutPhase.PROVISIONING:
        status, message = VariantStatus.CREATING, f"{ready} of {variant.count} instances ready"
    elif state.phase is RolloutPhase.BAKING:
        part = f"{ready} of {guard.instances} instances new" if guard.rolling \
            else f"{rollout.share(state, guard):.0%} of traffic on the new fleet"
        status, message = VariantStatus.BAKING, (f"Step {state.step} of {steps}: {part}; baking for "
                                                 f"{guard.wait_s} seconds{watched}")
    else:
        status, message = VariantStatus.ACTIVATING_TRAFFIC, (
            f"All traffic on the new fleet; the old fleet stops after {guard.termination_wait_s} seconds")
    return ({"Status": status, "StatusMessage": message[:1024], "StartTime": state.phase_started},)


def _variant_plan(spec: EndpointSpec, variant: VariantSpec, desired: VariantState,
                  serverless_count: int | None) -> VariantPlan:
    """One variant's plan: on instances of its type, or serverless with `serverless_count` instances."""
    return VariantPlan(variant.name, desired.desired_weight,
                       desired.desired_instance_count if serverless_count is None else serverless_count,
                       _instance_type(variant),
                       tuple(spec.containers(variant.model_name)), tuple(spec.images(variant.model_name)),
                       variant.startup_s, HostShape(variant.volume_size_gb or DEFAULT_VOLUME_SIZE_GB,
                                                    spec.network_isolation(variant.model_name)),
                       variant.serverless, variant.is_shadow, volume_kms_key_id=spec.config.get("KmsKeyId"))


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
