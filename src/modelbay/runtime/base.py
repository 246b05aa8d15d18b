"""The Runtime interface: start, find, stop and remove instances, whatever runs them.

An instance is one host: one training host now, one serving host later. Backends (local
processes now; containers and Ray later) implement `Runtime`; controllers use only this module.
"""

from __future__ import annotations

import abc
import enum
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from modelbay.instance_types import InstanceType
from modelbay.runtime.capacity import free_resources, machine_resources

LOOPBACK = "127.0.0.1"
# The scratch space of an instance whose request names none (a serving variant without VolumeSizeInGB, a
# transform job): 30 GB, the SageMaker Python SDK's default for training volumes.
DEFAULT_VOLUME_SIZE_GB = 30
VOLUME_NOT_ENCRYPTED = ("this runtime cannot encrypt an instance's scratch volume (that needs the process runtime, "
                        "root, loop devices and a kernel with ext4 encryption): the instance is not run on a volume "
                        "in the clear instead")


class InstanceStatus(enum.StrEnum):
    RUNNING = "running"
    EXITED = "exited"  # the program ended by itself; see exit_code
    OOM_KILLED = "killed by the memory limit"
    STOPPED = "stopped"  # ended after stop() was asked for; see reason
    LOST = "lost"  # gone without a recorded exit (e.g. the machine restarted meanwhile)


class InstanceNotFound(KeyError):
    """No instance by that id in this runtime's state."""

    def __str__(self) -> str:
        return str(self.args[0])


class StartFailed(RuntimeError):
    """The machine could not give an instance what it needs (its network, volume, cgroups, a process); nothing
    of it was left behind. The message says what failed, for the reason of the job or endpoint."""


class InstanceRunning(RuntimeError):
    """The operation needs an instance that has ended (e.g. remove)."""


@dataclass(frozen=True)
class InstanceSpec:
    """What to run and with what.

    `opt_ml` is the instance's own directory: inside the instance it is `/opt/ml` (or the SM_*
    paths point into it where `/opt/ml` cannot be mounted). The caller owns it and fills it in
    (`opt_ml_layout` in the process runtime creates the standard tree). `env` is the program's
    whole environment; the runtime adds nothing but path relocation where it must. The rest says
    what the instance sees of the machine where the runtime isolates it (sandbox.py).
    """

    argv: tuple[str, ...]
    opt_ml: Path
    instance_type: InstanceType
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: Path | None = None  # None: the opt_ml directory
    volume_size_gb: int = DEFAULT_VOLUME_SIZE_GB  # its scratch space: /tmp, /var/tmp, /run, HOME, /var/log
    hostname: str | None = None  # None: the instance's id
    peers: tuple[str, ...] = ()  # the hosts of its job, which it resolves by name (itself included or not)
    network_group: str | None = None  # instances that talk to each other (a job's hosts) share one; None: its own
    isolated: bool = False  # EnableNetworkIsolation: no way out of its group; a runtime that cannot, refuses it
    image: str | None = None  # an OCI image to run `argv` in (container runtimes); None: the host's filesystem
    entrypoint: tuple[str, ...] | None = None  # replaces `image`'s ENTRYPOINT, `argv` its arguments; None: the image's
    program_dir: Path | None = None  # a bring-your-own directory image: shown at /opt/program where it can be
    zone: str | None = None  # the availability zone its owner chose; a runtime whose nodes carry zones runs it in it
    spread_group: str | None = None  # instances spread over nodes as far as they go (a variant's); None: anywhere
    # where its peers are when they run on other machines (a cluster runtime sets it for its node's launcher): a
    # peer's name to its address; empty: where the runtime itself puts them
    peer_addresses: Mapping[str, str] = field(default_factory=dict)
    # its scratch volume's key (volume_encryption.KEY_BYTES of a KMS data key): the volume is encrypted under it,
    # and a runtime that cannot encrypt volumes refuses the instance; None: not encrypted. Never shown or stored.
    volume_key: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Instance:
    """What a runtime knows of one instance. `exit_code` is None while running or when lost."""

    id: str
    labels: Mapping[str, str]
    status: InstanceStatus
    instance_type: str
    opt_ml: Path
    log_path: Path
    started_at: datetime
    ended_at: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None  # why it ended, when a person needs telling (memory limit, lost)
    address: str = LOOPBACK  # where its ports are: its own address, or the host's loopback when it has no network
    node: str | None = None  # the cluster node it runs on (Node.name); None: the server's own machine

    @property
    def is_alive(self) -> bool:
        return self.status is InstanceStatus.RUNNING


@dataclass(frozen=True)
class Node:
    """One machine instances run on, as `modelbay cluster` shows it: its resources (Ray's names: CPU, memory in
    bytes, GPU, and custom ones) in all and free now, and the ids of the instances running there."""

    name: str
    address: str
    zone: str | None
    alive: bool
    resources: Mapping[str, float]
    free: Mapping[str, float]
    instances: tuple[str, ...] = ()


@dataclass(frozen=True)
class Usage:
    """What a running instance has used: CPU seconds since it started (all its processes), resident memory now, and
    of its scratch volume the bytes written and its size (None where the runtime cannot tell)."""

    cpu_s: float
    memory_bytes: int
    disk_bytes: int | None = None
    disk_size_bytes: int | None = None


class Runtime(abc.ABC):
    """Runs instances. State survives the Runtime object: a new one on the same state finds
    the instances an earlier one started (running or ended), so controllers can rebuild what
    runs from labels after a crash. `private_networks`: each instance has a network of its own, so
    its ports are its own (a model server listens on SageMaker's 8080) and its peers are reached
    by name; else instances share the host's and must be given free ports. `runs_images`: instances run in the
    OCI image their spec names (`InstanceSpec.image`), so controllers give every instance one; else on the host's
    files. `encrypts_volumes`: an instance whose spec has a `volume_key` gets a scratch volume encrypted under it;
    else such an instance is refused (StartFailed, VOLUME_NOT_ENCRYPTED)."""

    private_networks: bool = False
    runs_images: bool = False
    encrypts_volumes: bool = False
    spans_machines: bool = False  # instances may run on machines other than the server's (their ports bind widely)

    @abc.abstractmethod
    def start(self, spec: InstanceSpec, labels: Mapping[str, str]) -> Instance:
        """Start an instance and return once it exists (not once its program is ready); raise StartFailed."""

    @abc.abstractmethod
    def list(self, labels: Mapping[str, str]) -> list[Instance]:
        """Instances, running or ended but not removed, whose labels include all of `labels`,
        oldest first."""

    @abc.abstractmethod
    def inspect(self, instance_id: str) -> Instance:
        """The instance's current state; raise InstanceNotFound."""

    @abc.abstractmethod
    def stop(self, instance_id: str, grace_s: float, reason: str | None = None) -> None:
        """Ask the instance to end: SIGTERM to all its processes now, SIGKILL after `grace_s`
        if any remain. Returns at once; the instance ends as STOPPED, with `reason` as its reason
        (for its owner to tell a stop it did not ask for; a second stop keeps the first one's).
        No-op once ended. Raise InstanceNotFound."""

    @abc.abstractmethod
    def logs(self, instance_id: str) -> Path:
        """The file holding the instance's stdout and stderr, interleaved, growing while it
        runs. Raise InstanceNotFound."""

    @abc.abstractmethod
    def remove(self, instance_id: str) -> None:
        """Forget an ended instance and free what the runtime holds for it (its log, limits);
        the caller's opt_ml directory is left alone. Raise InstanceRunning, InstanceNotFound."""

    def usage(self, instance_id: str) -> Usage | None:
        """What the instance has used so far; None once it has ended, or where the runtime cannot tell."""
        return None

    def start_together(self, launch: Sequence[tuple[InstanceSpec, Mapping[str, str]]]) -> None:
        """Start every instance of `launch` (spec, labels), or none: when one cannot start, those started before it
        are killed and removed, and its StartFailed raised. A cluster runtime places them all before starting any."""
        started: list[str] = []
        try:
            for spec, labels in launch:
                started.append(self.start(spec, labels).id)
        except StartFailed:
            stop_instances(self, started, grace_s=0)
            for instance_id in started:
                self.remove(instance_id)
            raise

    def nodes(self) -> Sequence[Node]:
        """The machines instances run on: this one alone, unless the runtime spans a cluster."""
        running = [instance for instance in self.list({}) if instance.is_alive]
        resources = machine_resources()
        return [Node(name=socket.gethostname(), address=LOOPBACK, zone=None, alive=True, resources=resources,
                     free=free_resources(resources, (instance.instance_type for instance in running)),
                     instances=tuple(instance.id for instance in running))]

    def close(self) -> None:  # noqa: B027 - most runtimes hold nothing to free
        """Free what the runtime holds in this process (a podman API service); its instances keep running."""


def stop_all(runtime: Runtime, grace_s: float, reason: str | None = None, poll_s: float = 0.1) -> list[str]:
    """Stop every running instance (SIGKILL after `grace_s`) and return their ids once all have ended,
    or once `grace_s` and ten more seconds have passed."""
    running = [instance.id for instance in runtime.list({}) if instance.is_alive]
    stop_instances(runtime, running, grace_s, reason, poll_s)
    return running


def stop_instances(runtime: Runtime, instance_ids: list[str], grace_s: float, reason: str | None = None,
                   poll_s: float = 0.1) -> None:
    """Stop the instances (SIGKILL after `grace_s`); return once all have ended, or once `grace_s` and ten more
    seconds have passed."""
    for instance_id in instance_ids:
        runtime.stop(instance_id, grace_s, reason)
    deadline = time.monotonic() + grace_s + 10
    while any(runtime.inspect(i).is_alive for i in instance_ids) and time.monotonic() < deadline:
        time.sleep(poll_s)
