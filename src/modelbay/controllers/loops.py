"""What a server runs in the background, built over its platform, and the instances it leaves.

Several servers may share one database (leadership.py): one of them, the leader, runs the controllers (`Leading`);
every one of them serves invocations, so each writes its own invocations' metrics and gauges (`serving`), and a
follower applies the routing tables the leader publishes (route_book.py).

A leader that stops gracefully stops every instance it runs, unless told to keep them
(`Settings.keep_instances`); one that crashes cannot, and the next one on the same data
directory adopts them (a leader on another data directory starts instances of its own, see route_book.py; on Ray
every leader adopts them, runtime/ray.py). A
server that loses the lead leaves its instances running: they serve until the new leader's replace them.
A server that starts stops the orphans of deleted data directories; another server's instances on the same
machine have their data directory, so they are left alone (each server needs a data directory of its own).

Beside the controllers run the metric loops: the invocations' tallies go to the metric store, whose
buffer is written, every FLUSH_INTERVAL_S and once more on the way out, what retention no longer keeps is
expired every EXPIRY_INTERVAL_S, and instance usage is sampled every SAMPLE_INTERVAL_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Protocol

from modelbay.controllers.alarms.actions import SCALING_POLICY_PREFIX, AlarmActions
from modelbay.controllers.alarms.controller import JUDGE_EVERY_S, AlarmController
from modelbay.controllers.async_invocations.controller import AsyncInvocationWorker
from modelbay.controllers.autoscaling.controller import AutoscalingController
from modelbay.controllers.changes import IDLE_RECHECK_S, WATCH_INTERVAL_S, ChangeWatcher, Watching
from modelbay.controllers.compilation_jobs.controller import CompilationController
from modelbay.controllers.edge_packaging_jobs.controller import EdgePackagingController
from modelbay.controllers.edge_telemetry import subscribed
from modelbay.controllers.endpoints.controller import EndpointController
from modelbay.controllers.endpoints.fleet import ENDPOINT
from modelbay.controllers.images import open_images
from modelbay.controllers.instance_usage import SAMPLE_INTERVAL_S, UsageSampler
from modelbay.controllers.leadership import taking_turns
from modelbay.controllers.monitoring_schedules.controller import MonitoringScheduleController
from modelbay.controllers.processing_jobs.controller import ProcessingController
from modelbay.controllers.route_book import FOLLOW_INTERVAL_S, RouteFollower
from modelbay.controllers.trail_delivery import DELIVERY_INTERVAL_S, TrailDelivery
from modelbay.controllers.training_jobs.controller import TrainingController
from modelbay.controllers.transform_jobs.controller import TransformController
from modelbay.controllers.tuning_jobs.controller import TuningController
from modelbay.monitoring import shared_totals
from modelbay.monitoring.metrics import EXPIRY_INTERVAL_S
from modelbay.monitoring.prometheus import region_totals
from modelbay.platform import Platform
from modelbay.runtime.backends import open_runtime
from modelbay.runtime.base import Runtime, stop_all
from modelbay.runtime.orphans import stop_orphans
from modelbay.serving.router_fleet import ALONE, RouterFleet, Workers

log = logging.getLogger(__name__)

EXIT_GRACE_S = 10.0  # SIGTERM to SIGKILL for the instances of a server that stops, and for orphans
# The reason of an instance stopped with its server, which controllers see when the server starts again.
SHUTDOWN_REASON = "stopped when the modelbay server shut down; --keep-instances leaves instances running"
UNROUTED_CHECK_S = 5.0  # how often a follower looks for its instances no longer routed to
FLUSH_INTERVAL_S = 1.0  # the invocation metrics are one-second ones: written within a second or so


class Controller(Watching, Protocol):
    """What a loop runs: its work, named and reconciled, and its wait for more (woken as Watching says)."""

    def names(self) -> list[str]:
        """The resources a pass has work for."""

    def reconcile(self, name: str) -> None:
        """One idempotent pass over one resource."""

    def wait_for_work(self, timeout_s: float) -> None:
        """Return after `timeout_s`, or sooner when background work has finished or `wake` is called."""


@contextlib.asynccontextmanager
async def controllers(platform: Platform, workers: Workers = ALONE) -> AsyncIterator[None]:
    """Run what every server runs, and the controllers' loops while this server leads (leadership.py), while the
    server serves; they see the routers of the server's front-door `workers` beside this process's
    (router_fleet.py). On the way out each loop ends after its pass under way; then, on the leader, every instance is
    stopped and waited for, unless `keep_instances`."""
    await asyncio.to_thread(stop_orphans, EXIT_GRACE_S)  # before this server's state directory exists again
    runtime = await asyncio.to_thread(open_runtime, platform.settings, platform.settings.data_dir / "runtime")
    try:
        routers = RouterFleet(platform.router, platform.settings.region, workers)
        leading = await asyncio.to_thread(Leading, platform, runtime, routers)
        follower = RouteFollower(platform)
        async with serving(platform, routers), taking_turns(platform, leading.running,
                                                   lambda _: _following(follower, routers, runtime), runtime.nodes):
            yield
    finally:
        runtime.close()


@contextlib.asynccontextmanager
async def serving(platform: Platform, routers: RouterFleet | None) -> AsyncIterator[None]:
    """What every server runs for the invocations it answers: their metrics written every second, and its gauges
    (shadow copies dropped; with `routers`, every front-door process's requests in flight, which the first process
    alone records), with its Prometheus figures shared with the server's other front-door processes
    (shared_totals.py); on the way out, its captured records and its last metrics."""
    settings = platform.settings
    work: list[Callable[[], object]] = [lambda: platform.publisher.copies_dropped(platform.router.dropped_copies())]
    if routers is not None:
        work.append(lambda: platform.publisher.concurrent_requests(routers.concurrency()))
    if settings.workers > 1:  # several front-door processes: each shares its Prometheus figures with the others
        if settings.worker == 0:
            await asyncio.to_thread(shared_totals.clear, settings)
        work.append(lambda: shared_totals.share(settings, region_totals(platform.publisher, platform.capture)))
    work.append(platform.publisher.flush)  # last: it writes the gauges just recorded

    def each_second() -> None:
        """All of it in one hand-off to a thread a second (a hand-off costs the event loop more than most of it)."""
        for each in work:
            _logged(each)

    stopping = asyncio.Event()
    task = asyncio.create_task(every(FLUSH_INTERVAL_S, each_second, stopping))
    try:
        yield
    finally:
        stopping.set()
        await task
        await asyncio.to_thread(_logged, platform.capture.close)  # the captured records queued; its drops counted
        await asyncio.to_thread(_logged, platform.publisher.flush)  # what the last invocations recorded


@contextlib.asynccontextmanager
async def _following(follower: RouteFollower, routers: RouterFleet, runtime: Runtime) -> AsyncIterator[None]:
    """A follower's work: the routing tables the leader publishes, applied here (the first time before it yields)
    and by the server's workers, and its own endpoint instances that no table routes to any more stopped."""

    def follow() -> None:
        if follower.follow():
            routers.tables_changed()

    await asyncio.to_thread(_logged, follow)
    stopping = asyncio.Event()
    tasks = [asyncio.create_task(every(FOLLOW_INTERVAL_S, follow, stopping)),
             asyncio.create_task(every(UNROUTED_CHECK_S, lambda: _stop_unrouted(follower, runtime), stopping))]
    try:
        yield
    finally:
        stopping.set()
        await asyncio.gather(*tasks)


def _stop_unrouted(follower: RouteFollower, runtime: Runtime) -> None:
    """Stop the endpoint instances this server ran as a leader that no table names any more (the new leader's own
    replaced them): nothing would route to them again, nor stop them, as only a leader runs the controllers. Not on a
    runtime that spans machines: its instances are the deployment's, which the leader adopts and alone acts on."""
    if runtime.spans_machines:
        return
    routed = follower.routed()
    for instance in runtime.list({}):
        if instance.is_alive and ENDPOINT in instance.labels and instance.id not in routed:
            runtime.stop(instance.id, EXIT_GRACE_S)


class Leading:
    """What only the leading server runs: a loop per controller, the async-invocation worker, and the periodic
    work (instance usage, trail delivery, metric expiry), with the edge-telemetry subscriber. Built once per server,
    so that the controllers tell the router of their listeners once; run in each of its turns at leading."""

    def __init__(self, platform: Platform, runtime: Runtime, routers: RouterFleet) -> None:
        self.platform, self.runtime = platform, runtime
        images = open_images(platform, runtime.runs_images)
        self.endpoints = EndpointController(platform, runtime, images, on_model_setup=platform.publisher.model_setup,
                                            routers=routers)
        alarm_actions = AlarmActions()
        autoscaling = AutoscalingController(platform.metadata, platform.metrics)
        alarm_actions.register(SCALING_POLICY_PREFIX, autoscaling.run_policy)
        grace_s = platform.settings.stop_grace_s
        self.loops: list[tuple[Controller, float]] = [
            (TrainingController(platform, runtime, images, stop_grace_s=grace_s), 0.2),
            (self.endpoints, 0.25), (TransformController(platform, runtime, images), 0.25),
            (ProcessingController(platform, runtime, images, stop_grace_s=grace_s), 0.2),
            (CompilationController(platform, runtime, images, stop_grace_s=grace_s), 0.2),
            (MonitoringScheduleController(platform), 1.0), (TuningController(platform), 0.5),
            (EdgePackagingController(platform), 0.5),
            (AlarmController(platform.metadata.alarms, platform.metrics, alarm_actions), JUDGE_EVERY_S),
            (autoscaling, 1.0)]
        sampler = UsageSampler(platform, runtime)
        delivery = TrailDelivery(platform)
        self.periodic: list[tuple[Callable[[], object], float]] = [
            (lambda: delivery.deliver(datetime.now(UTC)), DELIVERY_INTERVAL_S),
            (platform.metrics.expire, EXPIRY_INTERVAL_S), (sampler.sample, SAMPLE_INTERVAL_S)]

    @contextlib.asynccontextmanager
    async def running(self, leaving: asyncio.Event) -> AsyncIterator[None]:
        """Lead until left: then each loop ends after its pass under way, and, if the server is `leaving` (not
        only the lead), every instance is stopped and waited for, unless `keep_instances`."""
        platform = self.platform
        await asyncio.to_thread(self.endpoints.routes.take_over)
        await asyncio.to_thread(self.endpoints.expect_routes)  # before the server answers a first invocation
        await asyncio.to_thread(platform.metadata.async_invocations.release_in_progress)  # claimed by a server gone
        stopping = asyncio.Event()
        # the counters as they are before any controller looks for work: a write after that wakes its controller
        async_worker = AsyncInvocationWorker(platform)
        watcher = await asyncio.to_thread(ChangeWatcher, platform.metadata.changes,
                                          [*(each for each, _ in self.loops), async_worker])
        waiting = ThreadPoolExecutor(len(self.loops), thread_name_prefix="controller-wait")
        tasks = [asyncio.create_task(run_until(controller, every_s, stopping, waiting))
                 for controller, every_s in self.loops]
        tasks.append(asyncio.create_task(every(WATCH_INTERVAL_S, watcher.look, stopping)))
        tasks.append(asyncio.create_task(async_worker.run_until(stopping)))
        tasks += [asyncio.create_task(every(interval_s, work, stopping)) for work, interval_s in self.periodic]
        try:
            # the watcher hears this process's writes; edge agents' MQTT telemetry comes in (Settings.mqtt_url)
            with watcher, subscribed(platform):
                yield
        finally:
            stopping.set()
            for controller, _ in self.loops:
                controller.wake()
            async_worker.wake()
            await asyncio.gather(*tasks)
            waiting.shutdown()
            if leaving.is_set() and not platform.settings.keep_instances:
                await asyncio.to_thread(self._stop_instances)

    def _stop_instances(self) -> None:
        """Take every instance out of the routing tables (followers apply that within FOLLOW_INTERVAL_S), then stop
        them and wait for them."""
        self.endpoints.routes.drop([instance.id for instance in self.runtime.list({}) if instance.is_alive])
        stop_all(self.runtime, EXIT_GRACE_S, SHUTDOWN_REASON)


async def run_until(controller: Controller, every_s: float, stopping: asyncio.Event, waiting: Executor) -> None:
    """Reconcile every resource the controller names, each in a worker thread, every `every_s` seconds (sooner
    when woken; when it named none and watches tables, once woken by a write to them, changes.py), until
    `stopping` is set: then return after the pass under way. A failing pass, or a failing list of work, is logged;
    the loop goes on. It waits in a thread of `waiting`, which has one for each loop: a wait holds its thread,
    which the default executor's few threads, shared by all the server's other work, cannot spare."""
    while not stopping.is_set():
        try:
            names = await asyncio.to_thread(controller.names)
            idle = not names and bool(controller.watches)
        except Exception:
            log.exception("listing the work of %s failed", type(controller).__name__)
            names, idle = [], False
        for name in names:
            if stopping.is_set():
                break
            try:
                await asyncio.to_thread(controller.reconcile, name)
            except Exception:
                log.exception("reconcile of %s failed for %s", type(controller).__name__, name)
        await asyncio.get_running_loop().run_in_executor(waiting, controller.wait_for_work,
                                                         IDLE_RECHECK_S if idle else every_s)


async def every(interval_s: float, work: Callable[[], object], stopping: asyncio.Event) -> None:
    """Run `work` in a worker thread every `interval_s` seconds until `stopping` is set (a failure is logged)."""
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval_s)
        if not stopping.is_set():
            await asyncio.to_thread(_logged, work)


def _logged(work: Callable[[], object]) -> None:
    try:
        work()
    except Exception:
        log.exception("%s failed", getattr(work, "__qualname__", work))
