"""PodmanRuntime: each instance is a podman container of its spec's image, driven through podman's Docker API.

A container runs `spec.argv` as its command after the image's ENTRYPOINT (`<image> train`, `<image> serve`, as
SageMaker runs images), under catatonit as PID 1, so a SIGTERM reaches the program and the container ends when
the program does, with whatever it left running. It gets `/opt/ml` bind-mounted from `spec.opt_ml`, the image's
WORKDIR, its type's memory (no swap), its type's vCPUs as a cpuset chosen as the process runtime chooses them
(the least used CPUs first: `nproc` counts them, and `/sys/devices/system/cpu/online` shows them, so
`os.cpu_count()` does too; a cpuset rather than a CPU quota because a quota leaves every core visible), and a
pids limit.

Networks: one podman bridge per network group (a job's hosts) or per instance, named after this runtime's
owner key, so peers resolve `algo-<n>` by name (aardvark-dns), each instance has its own port 8080, and the
host reaches it at its address on that bridge. An isolated instance (EnableNetworkIsolation) is on an
`internal` bridge: no route out, yet the host and its peers still reach it. A group's bridge goes with its
last container.

Everything podman holds is labelled with the owner key (a digest of the state directory), so a runtime lists
only its own containers and a new runtime on the same state directory adopts them. The state directory holds
what labels cannot (they are immutable): per instance a small record (stop request, stop reason, how far its
log has been read), podman's k8s-file log and the plain log made from it, and the CPU list it is shown.

States: running is RUNNING; exited is EXITED with its exit code, STOPPED when a stop was asked for, OOM_KILLED
when podman says the memory limit killed it, or when it died of a SIGKILL nobody asked for (podman cannot
always tell: under gVisor and some cgroup v1 hosts its OOM flag stays false, and in a container nothing
but the kernel's OOM killer sends an unrequested SIGKILL to the whole instance); a container gone from
podman's store is not listed. What a runtime does not have yet: a scratch space limited to VolumeSizeInGB
(the container's writable layer is unlimited) or encrypted under a volume key (an instance with one is refused),
and isolation between instances of different groups beyond different bridges (netavark 1.4 has no isolate
option).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import requests
from docker.errors import DockerException, ImageNotFound, NotFound
from docker.types import LogConfig

from modelbay.runtime.base import (
    LOOPBACK,
    VOLUME_NOT_ENCRYPTED,
    Instance,
    InstanceNotFound,
    InstanceRunning,
    InstanceSpec,
    InstanceStatus,
    Runtime,
    StartFailed,
    Usage,
)
from modelbay.runtime.cgroups import runtime_key
from modelbay.runtime.machine import (
    choose_cpus,
    format_cpu_list,
    machine_cpus,
    memory_label,
    memory_limit,
    parse_cpu_list,
    pids_limit,
)
from modelbay.runtime.network import NetworkError, close_host, drop_rules, make_table, networks_available
from modelbay.runtime.podman_service import PodmanService
from modelbay.runtime.sandbox import opt_ml_layout

log = logging.getLogger(__name__)

Record = dict[str, Any]
API_VERSION = "1.41"
_LABEL = "io.modelbay.runtime."  # the prefix of the labels the runtime keeps for itself
OWNER, NETWORK_GROUP = _LABEL + "owner", _LABEL + "network-group"
_TYPE, _MEMORY, _OPT_ML, _NETWORK = (_LABEL + name for name in ("instance-type", "memory", "opt-ml", "network"))
_ENDED = frozenset({"exited", "stopped", "dead", "removing"})
_UNSTARTED = frozenset({"created", "configured", "initialized"})
_SIGKILL_EXIT = 128 + signal.SIGKILL
_CLIENT_ERRORS = (DockerException, requests.RequestException, NetworkError)
_BRIDGE_OPTION = "com.docker.network.bridge.name"


class PodmanRuntime(Runtime):
    """Instances as podman containers; state (records and logs) under `state_dir`, podman's configuration of ours
    in `config_dir`. Close it to stop its podman service (the containers keep running)."""

    private_networks = True
    runs_images = True

    def __init__(self, state_dir: Path, config_dir: Path) -> None:
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.owner = runtime_key(state_dir)
        self._lock = threading.Lock()  # networks made and removed, records and logs brought up to date
        self.service = PodmanService(config_dir)
        self.api = docker.APIClient(base_url=self.service.url, version=API_VERSION)
        try:
            self._clean()
        except _CLIENT_ERRORS:
            self.close()
            raise

    def close(self) -> None:
        self.api.close()
        self.service.close()

    # -- the interface ------------------------------------------------------------------

    def start(self, spec: InstanceSpec, labels: Mapping[str, str]) -> Instance:
        if spec.image is None:
            raise StartFailed("the podman runtime runs images: this instance names none (a directory image "
                              "needs MODELBAY_RUNTIME=process)")
        if spec.volume_key is not None:  # a container's writable layer is no volume of its own to encrypt
            raise StartFailed(VOLUME_NOT_ENCRYPTED)
        instance_id = uuid.uuid4().hex[:16]
        network = self._network_name(spec.network_group or instance_id)
        opt_ml_layout(spec.opt_ml)
        try:
            with self._lock:  # so instances started together spread over the CPUs and share one network
                self._make_network(network, spec.network_group or instance_id, spec.isolated)
                cpus = choose_cpus(spec.instance_type, machine_cpus(), self._cpus_in_use())
                self._create(instance_id, spec, labels, network, cpus)
            self.api.start(_name(instance_id))
        except ImageNotFound as error:
            self._abandon(instance_id, network)
            raise StartFailed(f"no image {spec.image} in podman's store: {error.explanation}") from error
        except _CLIENT_ERRORS as error:
            self._abandon(instance_id, network)
            raise StartFailed(f"podman could not start an instance of {spec.image}: {_said(error)}") from error
        return self.inspect(instance_id)

    def list(self, labels: Mapping[str, str]) -> list[Instance]:
        wanted = [f"{OWNER}={self.owner}", *(f"{key}={value}" for key, value in labels.items())]
        found = self.api.containers(all=True, filters={"label": wanted})
        instances = [instance for summary in found if (instance := self._found(summary["Id"])) is not None]
        return sorted(instances, key=lambda instance: instance.started_at)

    def inspect(self, instance_id: str) -> Instance:
        instance = self._found(_name(instance_id))
        if instance is None:
            raise InstanceNotFound(f"no instance {instance_id!r}")
        return instance

    def stop(self, instance_id: str, grace_s: float, reason: str | None = None) -> None:
        if not self.inspect(instance_id).is_alive:
            return
        with self._lock:
            record = self._record(instance_id)
            if not record.get("stop_requested"):  # a second stop may cut the grace short, not change the reason
                self._write(instance_id, record | {"stop_requested": True, "stop_reason": reason})
        self._signal(instance_id, signal.SIGTERM)
        timer = threading.Timer(grace_s, self._signal, args=(instance_id, signal.SIGKILL))
        timer.daemon = True
        timer.start()

    def logs(self, instance_id: str) -> Path:
        return self.inspect(instance_id).log_path

    def usage(self, instance_id: str) -> Usage | None:
        """From podman's stats API (the container's cgroup): CPU and memory; its disk is not measured."""
        try:
            stats = self.api.stats(_name(instance_id), stream=False, one_shot=True)
        except _CLIENT_ERRORS:
            return None  # gone, or podman did not answer: the next sample will tell
        cpu_ns = stats.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage")
        memory = stats.get("memory_stats", {}).get("usage")
        return None if cpu_ns is None or memory is None else Usage(cpu_ns / 1e9, int(memory))

    def remove(self, instance_id: str) -> None:
        instance = self.inspect(instance_id)
        if instance.is_alive:
            raise InstanceRunning(f"instance {instance_id} is still running; stop it first")
        with self._lock:
            network = self.api.inspect_container(_name(instance_id))["Config"]["Labels"][_NETWORK]
            self.api.remove_container(_name(instance_id), v=True)
            self._remove_network_if_unused(network)
            self._remove_files(instance_id)

    # -- containers ---------------------------------------------------------------------

    def _create(self, instance_id: str, spec: InstanceSpec, labels: Mapping[str, str], network: str,
                cpus: Sequence[int]) -> None:
        """Create the instance's container (not started) on `network` with its CPUs, limits and mounts."""
        assert spec.image is not None  # start checked it
        online = self._file(instance_id, ".online")
        online.write_text(format_cpu_list(cpus) + "\n")
        self._file(instance_id, ".log").touch()  # the plain log exists from the start, also for a silent program
        memory = memory_limit(spec.instance_type)
        hostname = spec.hostname or instance_id
        host_config = self.api.create_host_config(
            binds={str(spec.opt_ml): {"bind": "/opt/ml", "mode": "rw"},
                   str(online): {"bind": "/sys/devices/system/cpu/online", "mode": "ro"}},
            mem_limit=memory, memswap_limit=memory, cpuset_cpus=format_cpu_list(cpus),
            pids_limit=pids_limit(spec.instance_type), init=True, network_mode=network,
            log_config=LogConfig(type="k8s-file", config={"path": str(self._file(instance_id, ".k8s.log"))}))
        self.api.create_container(
            spec.image, command=list(spec.argv) or None,  # none: the image's CMD
            entrypoint=None if spec.entrypoint is None else list(spec.entrypoint),  # none: the image's ENTRYPOINT
            name=_name(instance_id), hostname=hostname, environment=dict(spec.env), host_config=host_config,
            networking_config=self.api.create_networking_config(
                {network: self.api.create_endpoint_config(aliases=[hostname])}),  # type: ignore[arg-type]  # stubs
            labels={**labels, OWNER: self.owner, _TYPE: spec.instance_type.name,
                    _MEMORY: memory_label(spec.instance_type), _OPT_ML: str(spec.opt_ml), _NETWORK: network})

    def _found(self, container: str) -> Instance | None:
        """The instance a container of ours is, its log brought up to date; None when there is no such container
        (or it is another runtime's)."""
        try:
            attrs = self.api.inspect_container(container)
        except NotFound:
            return None
        config_labels: dict[str, str] = attrs["Config"]["Labels"] or {}
        if config_labels.get(OWNER) != self.owner:
            return None
        instance_id = attrs["Name"].lstrip("/").removeprefix("modelbay-")
        with self._lock:
            record = self._record(instance_id)
            self._copy_log(instance_id, record)
        state = attrs["State"]
        ended = state["Status"] in _ENDED
        status, reason = self._ending(state, config_labels, record) if ended else (InstanceStatus.RUNNING, None)
        networks = attrs["NetworkSettings"]["Networks"] or {}
        address = networks.get(config_labels[_NETWORK], {}).get("IPAddress") or LOOPBACK
        started_at = _started_at(attrs)
        return Instance(
            id=instance_id, labels={k: v for k, v in config_labels.items() if not k.startswith(_LABEL)},
            status=status, instance_type=config_labels[_TYPE], opt_ml=Path(config_labels[_OPT_ML]),
            log_path=self._file(instance_id, ".log"), started_at=started_at,
            ended_at=max(started_at, _time(state["FinishedAt"])) if ended else None,  # podman's clocks differ
            exit_code=state["ExitCode"] if ended else None, reason=reason, address=address)

    @staticmethod
    def _ending(state: Mapping[str, Any], labels: Mapping[str, str],
                record: Record) -> tuple[InstanceStatus, str | None]:
        """Status and reason of an ended container (see the module docstring)."""
        memory = f"the {labels[_MEMORY]} memory of {labels[_TYPE]}"
        if state.get("OOMKilled"):
            return InstanceStatus.OOM_KILLED, f"exceeded {memory}"
        if state["ExitCode"] == _SIGKILL_EXIT and not record.get("stop_requested"):
            return InstanceStatus.OOM_KILLED, f"was killed (SIGKILL) unasked: most likely it exceeded {memory}"
        if record.get("stop_requested"):
            return InstanceStatus.STOPPED, record.get("stop_reason")
        return InstanceStatus.EXITED, None

    def _signal(self, instance_id: str, sig: int) -> None:
        """Send `sig` to the instance's program, if it still runs (a stop timer may outlive the instance)."""
        try:
            if self.api.inspect_container(_name(instance_id))["State"]["Status"] not in _ENDED:
                self.api.kill(_name(instance_id), signal=int(sig))
        except _CLIENT_ERRORS as error:  # ended (or removed) meanwhile, or the runtime closed
            log.debug("could not signal instance %s: %s", instance_id, error)

    def _cpus_in_use(self) -> Sequence[Sequence[int]]:
        """The CPU sets of this runtime's running containers; call with the lock held."""
        running = self.api.containers(filters={"label": [f"{OWNER}={self.owner}"]})
        return [parse_cpu_list(self.api.inspect_container(c["Id"])["HostConfig"]["CpusetCpus"] or "")
                for c in running]

    def _abandon(self, instance_id: str, network: str) -> None:
        """Remove what a start that failed left: its container, its group's network if unused, its files."""
        with self._lock:
            try:
                with contextlib.suppress(NotFound):  # not created
                    self.api.remove_container(_name(instance_id), force=True, v=True)
                self._remove_network_if_unused(network)
            except _CLIENT_ERRORS as error:  # the next start-up's clean removes what is left
                log.warning("could not remove what instance %s left in podman: %s", instance_id, error)
            self._remove_files(instance_id)

    def _clean(self) -> None:
        """Remove what a crashed server left: containers created but never started, networks no container uses,
        files of containers podman no longer has."""
        mine = {"label": [f"{OWNER}={self.owner}"]}
        for summary in self.api.containers(all=True, filters=mine):
            if summary["State"] in _UNSTARTED:
                self.api.remove_container(summary["Id"], force=True, v=True)
        with self._lock:
            for network in self.api.networks(filters=mine):
                self._remove_network_if_unused(network["Name"])
        names = {name.lstrip("/") for c in self.api.containers(all=True, filters=mine) for name in c["Names"]}
        for path in self.state_dir.glob("*.online"):
            if _name(path.stem) not in names:
                self._remove_files(path.stem)

    # -- networks -----------------------------------------------------------------------

    def _network_name(self, group: str) -> str:
        """The name of the group's bridge: unique to this runtime, whatever other servers share podman's store."""
        return f"modelbay-{self.owner}-{hashlib.sha256(group.encode()).hexdigest()[:12]}"

    def _make_network(self, name: str, group: str, isolated: bool) -> None:
        """Make the group's bridge if it is missing (`internal` when isolated); call with the lock held."""
        if not self.api.networks(names=[name]):
            self.api.create_network(name, driver="bridge", internal=isolated, options={_BRIDGE_OPTION: _bridge(name)},
                                    labels={OWNER: self.owner, NETWORK_GROUP: group})
            if isolated and networks_available():  # internal: no way out, but the host answers on its gateway
                make_table()
                close_host(_bridge(name))

    def _remove_network_if_unused(self, name: str) -> None:
        """Remove the bridge once no container is on it; call with the lock held."""
        if not self.api.containers(all=True, filters={"network": [name]}):
            try:
                isolated = self.api.inspect_network(name)["Internal"]
                self.api.remove_network(name)
            except NotFound:  # removed meanwhile
                return
            if isolated and networks_available():
                drop_rules(_bridge(name))

    # -- records and logs ---------------------------------------------------------------

    def _copy_log(self, instance_id: str, record: Record) -> None:
        """Append what podman's k8s-file log gained since the last copy to the plain log: each line's text, a line
        podman split (P) joined again unless the other stream comes between. Call with the lock held."""
        offset, open_stream = record.get("log_offset", 0), record.get("open_stream")
        try:
            with open(self._file(instance_id, ".k8s.log"), "rb") as raw:
                raw.seek(offset)
                gained = raw.read()
        except FileNotFoundError:
            return
        complete = gained[:gained.rfind(b"\n") + 1]
        if not complete:
            return
        plain = bytearray()
        for line in complete.decode(errors="replace").splitlines():
            _, stream, tag, text = (line.split(" ", 3) + [""])[:4]
            if open_stream not in (None, stream):
                plain += b"\n"
            plain += (text if tag == "P" else text + "\n").encode()
            open_stream = stream if tag == "P" else None
        with open(self._file(instance_id, ".log"), "ab") as log_file:
            log_file.write(plain)
        self._write(instance_id, record | {"log_offset": offset + len(complete), "open_stream": open_stream})

    def _record(self, instance_id: str) -> Record:
        try:
            record: Record = json.loads(self._file(instance_id, ".json").read_text())
        except FileNotFoundError:
            return {}
        return record

    def _write(self, instance_id: str, record: Record) -> None:
        path = self._file(instance_id, ".json")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)  # readers see the old record or the new one

    def _remove_files(self, instance_id: str) -> None:
        for suffix in (".json", ".log", ".k8s.log", ".online"):
            self._file(instance_id, suffix).unlink(missing_ok=True)

    def _file(self, instance_id: str, suffix: str) -> Path:
        return self.state_dir / f"{instance_id}{suffix}"


def _bridge(network: str) -> str:
    """The Linux bridge of one of our podman networks, named by us (15 bytes at most), so its rules can name it."""
    return "mbn" + hashlib.sha256(network.encode()).hexdigest()[:12]


def _name(instance_id: str) -> str:
    """The container's name: machine-wide unique, as podman's store is shared by every server."""
    return f"modelbay-{instance_id}"


def _started_at(attrs: Mapping[str, Any]) -> datetime:
    started = _time(attrs["State"]["StartedAt"])
    return started if started.year > 1 else _time(attrs["Created"])  # 0001-01-01: not started yet


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _said(error: Exception) -> str:
    """What podman said (a Docker API error's explanation), else the error."""
    return str(getattr(error, "explanation", None) or error)
