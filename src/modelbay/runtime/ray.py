"""RayRuntime: instances placed on the nodes of an existing Ray cluster (MODELBAY_RUNTIME=ray).

Each instance is run on its node by a detached, named actor (ray_node.NodeHost, `instance-<id>` in namespace
`modelbay`) that holds the node's launcher; its directory travels through the object store (instance_mirror.py).
The actor holds the instance's resources in Ray's terms, placed as ray_placement.py says (zones, spread groups,
custom resources); a type no node could ever hold is refused (StartFailed), one the cluster has no room for now waits
START_TIMEOUT_S, then is refused. The hosts of a job are started together in a placement group (all or none), each
told where its peers are; the containers of one host go to one node.

The instances belong to the deployment, not to one server: every server of a deployment (one metadata database)
has the same owner key (`deployment_key`), and a runtime adopts every running actor of its key that it has no record
of, so that the leader after a fail-over finds the previous leader's instances and carries on with them. An adopted
instance's record is rebuilt here (`_adopted`): its opt_ml moves under this server's data directory where it was
under the starting server's, its log starts again from the beginning in this server's file, and the files it
changed since it started are fetched again.

Only the leader acts on the cluster. A runtime polls only while it is used: the first operation (start, list,
inspect, stop, logs, usage, remove) adopts, then starts the polling, and polling pauses once no operation has come
for `idle_s` (a server that lost the lead stops its controllers, which call the runtime every second or so). A
follower that opens a RayRuntime never polls.

State: beside each actor, a record per instance in `state_dir` (written atomically) and its log. While polling, one
thread asks every running instance's actor about once a second for what is new since the record's log offset and
snapshot of its files: new log bytes are appended to the log, changed opt_ml files downloaded into the server's
opt_ml, and the state recorded (an ended instance's files arrive before its end is recorded); an ended instance's
actor frees its node and is ended. An instance whose actor or node is gone is LOST, with a reason naming the node.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ray
from ray._private.state import available_resources_per_node
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError, RayError
from ray.util.placement_group import placement_group_table
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from modelbay.config import Settings
from modelbay.runtime.base import (
    VOLUME_NOT_ENCRYPTED,
    Instance,
    InstanceNotFound,
    InstanceRunning,
    InstanceSpec,
    InstanceStatus,
    Node,
    Runtime,
    StartFailed,
    Usage,
    stop_instances,
)
from modelbay.runtime.instance_mirror import InstanceMirror
from modelbay.runtime.ray_node import LOG_CHUNK_BYTES, NodeHost, Report
from modelbay.runtime.ray_placement import (
    PLAIN_RESOURCES,
    START_TIMEOUT_S,
    Running,
    custom_resources,
    demand,
    host_node,
    node_name,
    pinned,
    placement,
    remove_group,
    reserve_hosts,
    start_failure,
    visible_resources,
)
from modelbay.runtime.sandbox import opt_ml_layout
from modelbay.store.objects import open_object_store

log = logging.getLogger(__name__)

ISOLATION_UNAVAILABLE = ("EnableNetworkIsolation needs a network namespace of the instance's own, which the Ray "
                         "runtime does not give (its instances use their node's network, so that other machines reach "
                         "them): it is not run on the node's network instead")

NAMESPACE = "modelbay"
ACTOR_PREFIX = "instance-"
POLL_INTERVAL_S = 1.0
IDLE_S = 15.0  # polling pauses after this long without an operation (see the module)
CALL_TIMEOUT_S = 30.0  # a call to an actor that takes longer is tried again at the next poll

Record = dict[str, Any]
Records = list[Record]  # named here: in the class, `list` is the method
_Host = Any  # a NodeHost actor's handle (its methods' `.remote` are beyond a type checker)
_RemoteHost: Any = ray.remote(NodeHost)


def deployment_key(settings: Settings) -> str:
    """The owner key of a deployment's instances: its metadata database (URL without credentials, and schema),
    hashed, so that every server of the deployment has it and no other deployment does."""
    url = urlsplit(settings.metadata_url)
    database = url._replace(netloc=url.netloc.rpartition("@")[2]).geturl()
    return hashlib.sha256(f"{database} {settings.database_schema or ''}".encode()).hexdigest()[:16]


class RayRuntime(Runtime):
    """Instances on the nodes of the Ray cluster at settings.ray_address, with state in `state_dir`."""

    private_networks = False
    encrypts_volumes = False
    spans_machines = True

    def __init__(self, settings: Settings, state_dir: Path, poll_s: float = POLL_INTERVAL_S,
                 idle_s: float = IDLE_S) -> None:
        if settings.ray_address is None or settings.s3_endpoint_url is None:
            raise ValueError("RayRuntime needs settings.ray_address and settings.s3_endpoint_url")
        self.settings, self.state_dir, self.poll_s, self.idle_s = settings, state_dir, poll_s, idle_s
        self.owner = deployment_key(settings)
        self.objects = open_object_store(settings)
        state_dir.mkdir(parents=True, exist_ok=True)
        ray.init(address=settings.ray_address, namespace=NAMESPACE, logging_level=logging.ERROR, log_to_driver=False,
                 ignore_reinit_error=True)
        self._lock = threading.Lock()  # a record is read, brought up to date and written under it
        self._filling: set[str] = set()  # placement groups whose hosts are being started: not to be freed yet
        self._closed = threading.Event()
        self._use = threading.Lock()  # over the two below
        self._poller: threading.Thread | None = None  # polling while the runtime is in use
        self._used_at = 0.0  # time.monotonic() of the last operation

    @property
    def polling(self) -> bool:
        """Whether the runtime polls its instances now: it has been used within idle_s."""
        with self._use:
            return self._poller is not None

    # -- the interface ------------------------------------------------------------------
    def start(self, spec: InstanceSpec, labels: Mapping[str, str]) -> Instance:
        self._in_use()
        nodes = _cluster_nodes()
        asked = demand(spec.instance_type, nodes)
        return self._start(spec, labels, asked, placement(spec, asked, nodes, self._running()))

    def start_together(self, launch: Sequence[tuple[InstanceSpec, Mapping[str, str]]]) -> None:
        """A job's hosts (each named among its peers) in a placement group, spread over the nodes, all or none; the
        containers of one host on one node."""
        self._in_use()
        if len(launch) < 2:
            super().start_together(launch)
        elif all(spec.hostname in spec.peers for spec, _ in launch):
            self._start_hosts(launch)
        else:
            self._start_on_one_node(launch)

    def list(self, labels: Mapping[str, str]) -> list[Instance]:
        self._in_use()
        with self._lock:
            records = [r for r in self._records() if labels.items() <= r["labels"].items()]
        return [_instance(r) for r in sorted(records, key=lambda r: str(r["started_at"]))]

    def inspect(self, instance_id: str) -> Instance:
        self._in_use()
        with self._lock:
            return _instance(self._read(instance_id))

    def stop(self, instance_id: str, grace_s: float, reason: str | None = None) -> None:
        self._in_use()
        with self._lock:
            record = self._read(instance_id)
            if record["status"] != InstanceStatus.RUNNING.value:
                return
            if not record["stop_requested"]:  # a second stop may cut the grace short, not change the reason
                record.update(stop_requested=True, stop_reason=reason)
                self._write(record)
        host = _host(instance_id)
        if host is not None:
            host.stop.remote(grace_s, record["stop_reason"])

    def logs(self, instance_id: str) -> Path:
        self._in_use()
        with self._lock:
            return Path(self._read(instance_id)["log"])

    def usage(self, instance_id: str) -> Usage | None:
        """The launcher's reading on the instance's node."""
        self._in_use()
        with self._lock:
            running = self._read(instance_id)["status"] == InstanceStatus.RUNNING.value
        host = _host(instance_id) if running else None
        if host is None:
            return None
        try:
            used: Usage | None = ray.get(host.usage.remote(), timeout=CALL_TIMEOUT_S)
        except RayError:
            return None
        return used

    def remove(self, instance_id: str) -> None:
        self._in_use()
        with self._lock:
            record = self._read(instance_id)
            if record["status"] == InstanceStatus.RUNNING.value:
                raise InstanceRunning(f"instance {instance_id} is still running; stop it first")
            Path(record["log"]).unlink(missing_ok=True)
            self._path(instance_id).unlink()
        InstanceMirror(self.objects, instance_id, self.settings.region).delete()  # a lost node's left them

    def nodes(self) -> builtins.list[Node]:
        """Ray's nodes with the resources people know (ray_placement.visible_resources) and this runtime's running
        instances on each."""
        free = _free_resources()
        running = self._running()
        return [Node(node_name(n), n["NodeManagerAddress"], n["Labels"].get("zone"), n["Alive"],
                     visible_resources(n["Resources"]),
                     visible_resources(free.get(n["NodeID"], {})) if n["Alive"] else {},
                     tuple(r.instance_id for r in running if r.node_id == n["NodeID"]))
                for n in _cluster_nodes()]

    def close(self) -> None:
        """Stop polling; the instances and the connection to the cluster stay (another runtime may share it)."""
        self._closed.set()
        with self._use:
            poller = self._poller
        if poller is not None:
            poller.join()

    # -- in use: adopting, then polling -------------------------------------------------
    def _in_use(self) -> None:
        """Note an operation: the first since the runtime opened (or paused) adopts the deployment's instances it
        has no record of and starts polling, before the operation goes on."""
        with self._use:
            self._used_at = time.monotonic()
            if self._poller is None and not self._closed.is_set():
                self._adopt()
                self._poller = threading.Thread(target=self._poll_forever, name="ray-runtime-poll", daemon=True)
                self._poller.start()

    def _adopt(self) -> None:
        """Record the running actors of this deployment (by owner key) that have no record here: another server's
        or this one's, whose record was lost."""
        recorded = {path.stem for path in self.state_dir.glob("*.json")}
        unrecorded = [name.removeprefix(ACTOR_PREFIX) for name in ray.util.list_named_actors()
                      if name.startswith(ACTOR_PREFIX) and name.removeprefix(ACTOR_PREFIX) not in recorded]
        hosts = [host for instance_id in unrecorded if (host := _host(instance_id)) is not None]
        answers = [host.recorded.remote() for host in hosts]  # all asked at once: a slow node delays the rest little
        deadline = time.monotonic() + CALL_TIMEOUT_S
        for answer in answers:
            try:
                record: Record = ray.get(answer, timeout=max(0.0, deadline - time.monotonic()))
            except RayError:  # ended meanwhile, or its node is slow: it stays another runtime's
                continue
            if record.get("owner") == self.owner:
                adopted = self._adopted(record)
                with self._lock:
                    self._write(adopted)

    def _adopted(self, record: Record) -> Record:
        """An actor's record (as its start answered it) made this server's: its opt_ml under this data directory
        where it was under the starting server's, its log from the beginning into a file here, and every file it
        changed since it started fetched again (the record's snapshot is the one at the start)."""
        opt_ml, started_in = Path(record["opt_ml"]), Path(record["data_dir"])
        if opt_ml.is_relative_to(started_in):
            opt_ml = self.settings.data_dir / opt_ml.relative_to(started_in)
        opt_ml.mkdir(parents=True, exist_ok=True)
        log_path = self.state_dir / f"{record['id']}.log"
        log_path.write_bytes(b"")
        return record | _placed(record["node_id"]) | {
            "opt_ml": str(opt_ml), "data_dir": str(self.settings.data_dir), "log": str(log_path), "log_offset": 0,
            "pending": []}

    def _poll_forever(self) -> None:
        """Poll every running instance every poll_s, until the runtime is closed or has not been used for idle_s."""
        while not self._closed.wait(self.poll_s):
            with self._use:
                if time.monotonic() - self._used_at > self.idle_s:
                    self._poller = None
                    return
            with self._lock:
                running = [r["id"] for r in self._records() if r["status"] == InstanceStatus.RUNNING.value]
            for instance_id in running:
                try:
                    self._poll(instance_id)
                except Exception:
                    log.exception("polling instance %s failed", instance_id)

    # -- starting -----------------------------------------------------------------------
    def _start(self, spec: InstanceSpec, labels: Mapping[str, str], asked: Mapping[str, float],
               options: Mapping[str, Any], group: str | None = None) -> Instance:
        """Upload the staged directory, start the instance's actor with Ray's `options` placing it, wait for its
        start."""
        if spec.volume_key is not None:
            raise StartFailed(VOLUME_NOT_ENCRYPTED)
        if spec.isolated:
            raise StartFailed(ISOLATION_UNAVAILABLE)
        instance_id = uuid.uuid4().hex[:16]
        opt_ml_layout(spec.opt_ml)
        mirror = InstanceMirror(self.objects, instance_id, self.settings.region)
        mirror.upload_start(spec.opt_ml)
        record: Record = {
            "id": instance_id, "owner": self.owner, "labels": dict(labels), "instance_type": spec.instance_type.name,
            "opt_ml": str(spec.opt_ml), "data_dir": str(self.settings.data_dir),
            "log": str(self.state_dir / f"{instance_id}.log"), "log_offset": 0, "synced": {}, "pending": [],
            "started_at": _now(), "ended_at": None, "exit_code": None, "status": InstanceStatus.RUNNING.value,
            "reason": None, "stop_requested": False, "stop_reason": None, "spread_group": spec.spread_group,
            "placement_group": group}
        host = _RemoteHost.options(
            name=ACTOR_PREFIX + instance_id, namespace=NAMESPACE, lifetime="detached", max_restarts=0,
            num_cpus=asked["CPU"], memory=asked["memory"], num_gpus=asked["GPU"], resources=custom_resources(asked),
            **options).remote(self._node_settings(), instance_id)
        try:
            record = ray.get(host.start.remote(spec, labels, record), timeout=START_TIMEOUT_S)
        except RayError as err:
            ray.kill(host)
            mirror.delete()
            raise StartFailed(start_failure(spec.instance_type, asked, err)) from err
        record |= _placed(record["node_id"])
        Path(record["log"]).touch()
        with self._lock:
            self._write(record)
        return _instance(record)

    def _start_hosts(self, launch: Sequence[tuple[InstanceSpec, Mapping[str, str]]]) -> None:
        """A job's hosts: a bundle each in a placement group, spread over the nodes; each told its peers' nodes."""
        kind = launch[0][0].instance_type
        asked = demand(kind, _cluster_nodes())
        name = f"hosts-{uuid.uuid4().hex[:16]}"
        group = reserve_hosts(kind, asked, len(launch), name)
        bundle_nodes = placement_group_table(group)["bundles_to_node_id"]
        addresses = {spec.hostname or "": _node(bundle_nodes[index])["NodeManagerAddress"]
                     for index, (spec, _) in enumerate(launch)}
        self._filling.add(name)
        try:
            self._start_all([(replace(spec, peer_addresses=addresses), labels,
                              {"scheduling_strategy": PlacementGroupSchedulingStrategy(group, index)}, asked)
                             for index, (spec, labels) in enumerate(launch)], name)
        finally:
            self._filling.discard(name)
            self._free_group(name)  # unless a host runs in it

    def _start_on_one_node(self, launch: Sequence[tuple[InstanceSpec, Mapping[str, str]]]) -> None:
        """The containers of one host: all where the first would go, which holds the host's resources for them all
        (an inference pipeline's containers share their instance, as on SageMaker)."""
        first = launch[0][0]
        nodes = _cluster_nodes()
        asked = demand(first.instance_type, nodes)
        on_node = pinned(host_node(first, asked, nodes, self._running()))
        shared = dict.fromkeys(PLAIN_RESOURCES, 0.0)
        self._start_all([(spec, labels, on_node, asked if index == 0 else shared)
                         for index, (spec, labels) in enumerate(launch)], None)

    def _start_all(self, launch: Iterable[tuple[InstanceSpec, Mapping[str, str], Mapping[str, Any],
                                                Mapping[str, float]]], group: str | None) -> None:
        """Start each (its spec, labels, Ray's options placing it, its demand), or none: those started before one
        that fails are stopped and removed."""
        started: list[str] = []
        try:
            for spec, labels, options, asked in launch:
                started.append(self._start(spec, labels, asked, options, group).id)
        except StartFailed:
            stop_instances(self, started, grace_s=0)
            for instance_id in started:
                self.remove(instance_id)
            raise

    def _running(self) -> builtins.list[Running]:
        """Where this runtime's running instances are, for node choice."""
        with self._lock:
            return [Running(r["id"], r["node_id"], r["spread_group"]) for r in self._records()
                    if r["status"] == InstanceStatus.RUNNING.value]

    def _node_settings(self) -> Settings:
        """What a node needs of the settings, and nothing else (no master key, no database)."""
        s = self.settings
        return Settings(s3_endpoint_url=s.s3_endpoint_url, s3_access_key_id=s.s3_access_key_id,
                        s3_secret_access_key=s.s3_secret_access_key, s3_region=s.s3_region, region=s.region)

    # -- polling ------------------------------------------------------------------------
    def _poll(self, instance_id: str) -> None:
        """Bring the instance's log, files and state up to date from its actor."""
        record = self._record_of(instance_id)
        host = _host(instance_id)
        if host is None:  # ended with its node
            self._lost(instance_id)
            return
        try:
            report: Report = ray.get(host.poll.remote(record["log_offset"], record["synced"]), timeout=CALL_TIMEOUT_S)
        except (GetTimeoutError, ActorUnavailableError):  # a node slow to answer, or lost: Ray decides which
            if not _node_alive(record["node_id"]):
                self._lost(instance_id)
            return
        except RayActorError:
            self._lost(instance_id)
            return
        if self._apply(record, report):
            self._release(instance_id, host, record["placement_group"])

    def _apply(self, record: Record, report: Report) -> bool:
        """Append the report's log, download its files (those of a failed download are retried), record its state
        once the log and files are all here; answer whether it has ended."""
        with open(record["log"], "ab") as log_file:
            log_file.write(report.log)
        record = self._update(record["id"], log_offset=record["log_offset"] + len(report.log),
                              pending=sorted({*record["pending"], *report.changed}), synced=report.synced)
        InstanceMirror(self.objects, record["id"], self.settings.region).download_outputs(record["pending"],
                                                                                          Path(record["opt_ml"]))
        ended = report.status != InstanceStatus.RUNNING.value and len(report.log) < LOG_CHUNK_BYTES
        self._update(record["id"], pending=[], **({} if not ended else {
            "status": report.status, "exit_code": report.exit_code, "reason": report.reason,
            "ended_at": report.ended_at.isoformat() if report.ended_at else _now()}))
        return ended

    def _lost(self, instance_id: str) -> None:
        """Record the instance as ended without an exit (STOPPED if a stop was asked for) and free its actor."""
        record = self._record_of(instance_id)
        stopped = record["stop_requested"]
        reason = record["stop_reason"] if stopped else \
            f"the node {record['node']} ({record['address']}, zone {record['zone'] or 'none'}) running it was lost"
        self._update(instance_id, status=(InstanceStatus.STOPPED if stopped else InstanceStatus.LOST).value,
                     ended_at=_now(), reason=reason)
        host = _host(instance_id)
        if host is not None:
            ray.kill(host)
        self._free_group(record["placement_group"])

    def _release(self, instance_id: str, host: _Host, group: str | None) -> None:
        """An ended instance: its node's files freed, its actor (and resources) too, its placement `group` once
        none of its hosts runs."""
        try:
            ray.get(host.release.remote(), timeout=CALL_TIMEOUT_S)
        except RayError as err:
            log.warning("could not free the node's files of instance %s: %s", instance_id, err)
        ray.kill(host)
        self._free_group(group)

    def _free_group(self, group: str | None) -> None:
        """Remove the placement group of a job's hosts once none of them runs."""
        if group is None or group in self._filling:
            return
        with self._lock:
            if any(r["placement_group"] == group and r["status"] == InstanceStatus.RUNNING.value
                   for r in self._records()):
                return
        remove_group(group)

    # -- records ------------------------------------------------------------------------
    def _records(self) -> Records:
        """Every record; call with the lock held."""
        return [record for path in self.state_dir.glob("*.json") if (record := _read_file(path))]

    def _record_of(self, instance_id: str) -> Record:
        with self._lock:
            return self._read(instance_id)

    def _update(self, instance_id: str, **changes: Any) -> Record:
        """The record with `changes` made and saved."""
        with self._lock:
            record = self._read(instance_id) | changes
            self._write(record)
            return record

    def _read(self, instance_id: str) -> Record:
        record = _read_file(self._path(instance_id))
        if record is None:
            raise InstanceNotFound(f"no instance {instance_id!r}")
        return record

    def _write(self, record: Record) -> None:
        path = self._path(record["id"])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)  # same directory, so readers see the old record or the new one

    def _path(self, instance_id: str) -> Path:
        return self.state_dir / f"{instance_id}.json"


# -- Ray's view of the cluster ------------------------------------------------------------
def _cluster_nodes() -> list[dict[str, Any]]:
    """Ray's entries for every node the cluster has known, alive or not."""
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return nodes


def _free_resources() -> dict[str, dict[str, float]]:
    """Each alive node's resources free now, by node id."""
    free: dict[str, dict[str, float]] = available_resources_per_node()  # type: ignore[no-untyped-call]
    return free


def _host(instance_id: str) -> _Host | None:
    """The instance's actor; None once it is gone."""
    try:
        return ray.get_actor(ACTOR_PREFIX + instance_id, namespace=NAMESPACE)
    except ValueError:
        return None


def _node(node_id: str) -> dict[str, Any]:
    """Ray's entry for a node (of _cluster_nodes())."""
    found: dict[str, Any] = next(n for n in _cluster_nodes() if n["NodeID"] == node_id)
    return found


def _placed(node_id: str) -> Record:
    """What an instance's record holds of its node: its Ray id, name, address and zone."""
    node = _node(node_id)
    return {"node_id": node_id, "node": node_name(node), "address": node["NodeManagerAddress"],
            "zone": node["Labels"].get("zone")}


def _node_alive(node_id: str) -> bool:
    return any(n["NodeID"] == node_id and n["Alive"] for n in _cluster_nodes())


def _instance(record: Record) -> Instance:
    return Instance(
        id=record["id"], labels=record["labels"], status=InstanceStatus(record["status"]),
        instance_type=record["instance_type"], opt_ml=Path(record["opt_ml"]), log_path=Path(record["log"]),
        started_at=datetime.fromisoformat(record["started_at"]),
        ended_at=datetime.fromisoformat(record["ended_at"]) if record["ended_at"] else None,
        exit_code=record["exit_code"], reason=record["reason"], address=record["address"], node=record["node"])


def _read_file(path: Path) -> Record | None:
    try:
        record: Record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return record


def _now() -> str:
    return datetime.now(UTC).isoformat()
