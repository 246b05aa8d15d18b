"""ProcessRuntime: each instance is a local process group, sandboxed as far as the host allows.

State lives in `state_dir`: per instance a JSON record (written atomically), a log file holding
stdout and stderr, and the exit file its supervisor writes when the program ends (see
supervisor.py). Any Runtime on the same state dir, the one that started an instance or one
started after a server crash, reads the records and exit files alike, so each reports the true
exit; an instance whose supervisor is gone without an exit file (e.g. the machine restarted) is
LOST (or STOPPED when a stop had been asked for). Beside them, per instance: its scratch volume
(scratch.py; encrypted under the spec's volume key where `encrypts_volumes`, see volume_encryption.py) and the
`/etc/hosts` and CPU list its sandbox shows (sandbox.py). Its cgroups
(cgroups.py: memory, pids, CPUs) are removed with it; a runtime's start-up removes the cgroups of
instances no longer running and the files of instances no longer recorded, so a server killed
with SIGKILL leaves neither behind once the next has started. memory.py sets the memory limit.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from modelbay.runtime.cgroups import cgroup_tree
from modelbay.runtime.machine import (
    choose_cpus,
    format_cpu_list,
    gpu_notice,
    machine_cpus,
    memory_label,
    memory_limit,
    pids_limit,
)
from modelbay.runtime.memory import PAGE_SIZE, MemoryLimiter, memory_limiter
from modelbay.runtime.network import Attachment, NetworkError, instance_networks
from modelbay.runtime.sandbox import (
    Sandbox,
    hosts_text,
    namespace_prefix,
    opt_ml_layout,
    relocation_env,
    sandboxed_argv,
)
from modelbay.runtime.scratch import create_volume, remove_volume, volumes_encryptable
from modelbay.runtime.supervisor import encode_environment, signal_group, supervisor_argv
from modelbay.runtime.volume_encryption import key_pipe

log = logging.getLogger(__name__)

Record = dict[str, Any]
LOST_REASON = "the instance's supervisor ended without recording how its program ended"
ISOLATION_UNAVAILABLE = ("EnableNetworkIsolation needs a network namespace of the instance's own, which this machine "
                         "cannot give (the server needs root, ip and nft, and instance networks on): it is not run "
                         "on the host's network instead")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_INSTANCE_FILES = (".log", ".exit", ".hosts", ".online", ".volume", ".scratch")  # beside <id>.json


def can_encrypt_volumes() -> bool:
    """Whether a ProcessRuntime here can encrypt scratch volumes (Runtime.encrypts_volumes): its instances have mount
    namespaces and volumes of their own, on a kernel whose ext4 encrypts."""
    return namespace_prefix() is not None and volumes_encryptable()


class ProcessRuntime(Runtime):
    """Instances as process groups under `state_dir`.

    `memory`: the limiter to use (default: the best this machine offers, see memory.py).
    `namespaces`: False relocates paths through SM_* variables even where a mount namespace
    could show the instance directory at `/opt/ml` (default: use namespaces when available).
    `networks`: False leaves instances on the host's network even where they could have their own.
    Scratch volumes are encrypted where `can_encrypt_volumes` and namespaces are used.
    """

    def __init__(self, state_dir: Path, memory: MemoryLimiter | None = None,
                 namespaces: bool = True, networks: bool = True) -> None:
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.cgroups = cgroup_tree(state_dir)
        self.memory = memory or memory_limiter(self.cgroups)
        self.namespace_prefix = namespace_prefix() if namespaces else None
        if self.namespace_prefix is None:
            log.warning("no mount namespaces: instances see their directory through SM_* variables, "
                        "not at /opt/ml; programs that hard-code /opt/ml will not find it")
        self._lock = threading.Lock()  # a record is read, brought up to date and written under it
        self.networks = instance_networks(state_dir) if networks and self.namespace_prefix is not None else None
        self.private_networks = self.networks is not None
        self.encrypts_volumes = namespaces and can_encrypt_volumes()
        self._clean()

    # -- the interface ------------------------------------------------------------------

    def start(self, spec: InstanceSpec, labels: Mapping[str, str]) -> Instance:
        if spec.volume_key is not None and not self.encrypts_volumes:
            raise StartFailed(VOLUME_NOT_ENCRYPTED)
        instance_id = uuid.uuid4().hex[:16]
        opt_ml_layout(spec.opt_ml)
        try:
            record, supervisor = self._launch(instance_id, spec, labels)
        except (OSError, subprocess.SubprocessError, NetworkError) as err:
            self._abandon(instance_id, spec)
            raise StartFailed(f"this machine could not start an instance of {spec.instance_type.name}: {err}") from err
        with self._lock:
            self._write(record)
            started = self._instance(self._settled(record))
        if self.memory and record["pgid"] is not None:
            self.memory.watch(instance_id, record["pgid"], memory_limit(spec.instance_type))
        # the supervisor records the exit; this thread only reaps it
        threading.Thread(target=supervisor.wait, name=f"reaper-{instance_id}", daemon=True).start()
        return started

    def _launch(self, instance_id: str, spec: InstanceSpec,
                labels: Mapping[str, str]) -> tuple[Record, subprocess.Popen[bytes]]:
        """Give the instance its cgroups, network and sandbox and start its supervisor; answer its record."""
        with self._lock:  # so instances started together spread over the CPUs
            cpus = choose_cpus(spec.instance_type, machine_cpus(), self.cgroups.cpus_in_use() if self.cgroups else [])
            procs_files = self.cgroups.create(instance_id, cpus, pids_limit(spec.instance_type)) if self.cgroups else []
        if self.memory:
            self.memory.prepare(instance_id, memory_limit(spec.instance_type))
        env = dict(spec.env)
        if self.namespace_prefix is None:
            env.update(relocation_env(spec.opt_ml))
        pinned = self.cgroups is not None and "cpuset" in self.cgroups.parents
        network = self._join(instance_id, spec)
        key_fd = None if spec.volume_key is None else key_pipe(spec.volume_key)
        try:  # the supervisor passes the key's pipe on to volume_encryption.py; this process keeps no copy
            command = sandboxed_argv(spec.argv, self._sandbox(instance_id, spec, cpus, network, key_fd),
                                     self.namespace_prefix, procs_files, None if pinned else cpus)
            log_path = self._file(instance_id, ".log")
            if notice := gpu_notice(spec.instance_type):  # the log's first line, where the user looks first
                log_path.write_text(notice + "\n")
            supervisor, pgid = self._supervise(instance_id, command, env, spec.workdir or spec.opt_ml, log_path,
                                               () if key_fd is None else (key_fd,))
        finally:
            if key_fd is not None:
                os.close(key_fd)
        return {
            "id": instance_id, "labels": dict(labels), "instance_type": spec.instance_type.name,
            "memory": memory_label(spec.instance_type), "argv": list(spec.argv), "opt_ml": str(spec.opt_ml),
            "log": str(log_path), "pid": supervisor.pid, "pid_start": _process_start(supervisor.pid),
            "pgid": pgid, "started_at": _now(), "ended_at": None, "exit_code": None,
            "status": InstanceStatus.RUNNING.value, "reason": None, "stop_requested": False, "stop_reason": None,
            "address": LOOPBACK if network is None else str(network.address),
            "network_group": _group(instance_id, spec) if network else None,
        }, supervisor

    def _abandon(self, instance_id: str, spec: InstanceSpec) -> None:
        """Free what an instance that could not start was given (its supervisor, if any, has not started)."""
        if self.memory:
            self.memory.release(instance_id)
        if self.cgroups is not None:
            self.cgroups.remove(instance_id)
        try:
            self._leave_network({"id": instance_id, "network_group": _group(instance_id, spec)})
        except NetworkError as error:  # the next start-up's clean removes what is left
            log.warning("could not remove the network of instance %s: %s", instance_id, error)
        self._file(instance_id, ".log").unlink(missing_ok=True)
        self._remove_files(instance_id)

    def list(self, labels: Mapping[str, str]) -> list[Instance]:
        with self._lock:
            records = [self._read_file(path) for path in self.state_dir.glob("*.json")]
            matching = [r for r in records if r and labels.items() <= r["labels"].items()]
            return [self._instance(self._settled(r)) for r in sorted(matching, key=lambda r: str(r["started_at"]))]

    def inspect(self, instance_id: str) -> Instance:
        with self._lock:
            return self._instance(self._current(instance_id))

    def stop(self, instance_id: str, grace_s: float, reason: str | None = None) -> None:
        with self._lock:
            record = self._current(instance_id)
            if record["status"] != InstanceStatus.RUNNING.value:
                return
            if not record["stop_requested"]:  # a second stop may cut the grace short, not change the reason
                record.update(stop_requested=True, stop_reason=reason)
                self._write(record)
        signal_group(record["pgid"], signal.SIGTERM)
        timer = threading.Timer(grace_s, self._kill, args=(instance_id,))
        timer.daemon = True
        timer.start()

    def logs(self, instance_id: str) -> Path:
        return Path(self._read(instance_id)["log"])

    def usage(self, instance_id: str) -> Usage | None:
        """From /proc, over the processes of its cgroup (wherever they moved), else of its process group; its
        volume's blocks in use, where it has a volume of its own."""
        try:
            record = self._read(instance_id)
        except InstanceNotFound:
            return None
        if record["status"] != InstanceStatus.RUNNING.value or record["pgid"] is None:
            return None
        pids = self.cgroups.pids(instance_id) if self.cgroups is not None else None
        cpu_s, memory_bytes = processes_usage(pids, record["pgid"])
        try:
            volume = self._file(instance_id, ".volume").stat()
        except FileNotFoundError:  # a plain directory: no size of its own
            return Usage(cpu_s, memory_bytes)
        return Usage(cpu_s, memory_bytes, volume.st_blocks * 512, volume.st_size)

    def remove(self, instance_id: str) -> None:
        with self._lock:
            record = self._current(instance_id)
            if record["status"] == InstanceStatus.RUNNING.value:
                raise InstanceRunning(f"instance {instance_id} is still running; stop it first")
            if self.memory:
                self.memory.release(instance_id)
            if self.cgroups is not None and not self.cgroups.remove(instance_id):
                log.warning("could not remove the cgroups of instance %s yet; the next start-up retries", instance_id)
            self._leave_network(record)
            Path(record["log"]).unlink(missing_ok=True)
            self._remove_files(instance_id)
            self._path(instance_id).unlink()

    # -- what an instance holds ---------------------------------------------------------

    def _leave_network(self, record: Record) -> None:
        """Detach the instance from its network (and remove its group's bridge with its last member)."""
        if self.networks is not None and record.get("network_group") is not None:
            self.networks.leave(record["id"], record["network_group"])

    def _join(self, instance_id: str, spec: InstanceSpec) -> Attachment | None:
        """The instance's network: member algo-<n> of its group (its job's hosts), or a group of its own; None
        where instances share the host's network, which an isolated instance must not (NetworkError)."""
        if self.networks is None:
            if spec.isolated:
                raise NetworkError(ISOLATION_UNAVAILABLE)
            return None
        hostname = spec.hostname or instance_id
        member = spec.peers.index(hostname) + 1 if hostname in spec.peers else 1
        return self.networks.join(instance_id, _group(instance_id, spec), member, spec.isolated)

    def _sandbox(self, instance_id: str, spec: InstanceSpec, cpus: Sequence[int], network: Attachment | None,
                 volume_key_fd: int | None) -> Sandbox:
        """Make the instance's scratch volume (encrypted under the key in the pipe `volume_key_fd`, if any),
        /etc/hosts and CPU list; return its sandbox."""
        hostname = spec.hostname or instance_id
        hosts = self._file(instance_id, ".hosts")
        hosts.write_text(hosts_text(hostname, spec.peers, _addresses(hostname, spec, network)))
        online = self._file(instance_id, ".online")
        online.write_text(format_cpu_list(cpus) + "\n")
        scratch = self._file(instance_id, ".scratch")
        volume = create_volume(scratch, self._file(instance_id, ".volume"), spec.volume_size_gb,
                               encrypted=volume_key_fd is not None)
        return Sandbox(opt_ml=spec.opt_ml, scratch=scratch, volume=volume, hostname=hostname, hosts_file=hosts,
                       cpu_online_file=online, home=spec.env.get("HOME"),
                       network=None if network is None else network.namespace, program=spec.program_dir,
                       volume_key_fd=volume_key_fd)

    def _remove_files(self, instance_id: str) -> None:
        """The instance's files but its record (its log may live elsewhere; the caller removes it)."""
        remove_volume(self._file(instance_id, ".scratch"), self._file(instance_id, ".volume"))
        for suffix in (".exit", ".hosts", ".online"):
            self._file(instance_id, suffix).unlink(missing_ok=True)

    def _clean(self) -> None:
        """Remove what instances left behind that are no longer running (their cgroups) or no longer recorded
        (their files): after a crash, or a remove whose cgroups were still busy."""
        with self._lock:
            records = [self._settled(r) for path in self.state_dir.glob("*.json") if (r := self._read_file(path))]
        if self.cgroups is not None:  # after settling: an instance's end is read from its memory cgroup
            self.cgroups.clean({r["id"] for r in records if r["status"] == InstanceStatus.RUNNING.value})
        recorded = {r["id"] for r in records}
        for path in self.state_dir.iterdir():
            if path.suffix in _INSTANCE_FILES and path.stem not in recorded and path.suffix != ".log":
                self._remove_files(path.stem)

    # -- processes ----------------------------------------------------------------------

    def _supervise(self, instance_id: str, command: Sequence[str], env: Mapping[str, str], cwd: Path,
                   log_path: Path, pass_fds: tuple[int, ...] = ()) -> tuple[subprocess.Popen[bytes], int | None]:
        """Start the instance's supervisor on `command`, which inherits `pass_fds`; return it and the program's
        process group (None when the program could not start: the supervisor has then recorded the exit)."""
        pid_read, pid_write = os.pipe()
        try:
            with open(log_path, "ab") as log_file:  # the child keeps its own descriptor
                procs = self.cgroups.procs_file(instance_id) if self.cgroups else None
                supervisor = subprocess.Popen(
                    [*supervisor_argv(str(self._exit_path(instance_id)), pid_write, str(procs or "")), *command],
                    cwd=cwd, stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT,
                    pass_fds=(pid_write, *pass_fds), start_new_session=True)
        finally:
            os.close(pid_write)
        assert supervisor.stdin is not None  # stdin=PIPE
        try:
            with supervisor.stdin:
                supervisor.stdin.write(encode_environment(dict(env)))
        except BrokenPipeError:  # it died at once; it will show as lost
            pass
        with open(pid_read, "rb") as pid_pipe:
            pid = pid_pipe.read()
        return supervisor, int(pid) if pid else None

    def _kill(self, instance_id: str) -> None:
        """The end of a stop's grace period: SIGKILL whatever of the instance remains."""
        try:
            with self._lock:
                record = self._current(instance_id)
        except InstanceNotFound:  # ended and removed during the grace period
            return
        if record["status"] != InstanceStatus.RUNNING.value:
            return
        signal_group(record["pgid"], signal.SIGKILL)
        if self.cgroups is not None:
            self.cgroups.kill(instance_id)  # processes that left the group stay in the cgroup

    # -- records ------------------------------------------------------------------------

    def _current(self, instance_id: str) -> Record:
        """The instance's record, brought up to date; call with the lock held."""
        return self._settled(self._read(instance_id))

    def _settled(self, record: Record) -> Record:
        """`record`, with the end of its instance folded in (and saved, so the verdict holds) once
        it has ended. Call with the lock held."""
        if record["status"] != InstanceStatus.RUNNING.value:
            return record
        start = record["pid_start"]  # None: the supervisor had ended before its start time was read
        is_alive = start is not None and _process_start(record["pid"]) == start
        # read after the liveness check: the supervisor writes its exit file before it ends
        ended = self._read_file(self._exit_path(record["id"]))
        if ended is None and is_alive:
            return record
        exit_code, ended_at = (ended["exit_code"], _iso(ended["ended_at"])) if ended else (None, None)
        record.update(exit_code=exit_code, ended_at=ended_at, **self._ending(record, exit_code))
        self._write(record)
        self._leave_network(record)  # it has ended: its network goes now, not when it is removed
        return record

    def _ending(self, record: Record, exit_code: int | None) -> Record:
        """Status and reason of an instance that ended with `exit_code` (None: its supervisor
        ended without recording one)."""
        if self.memory and self.memory.exceeded(record["id"]):
            reason = f"exceeded the {record['memory']} memory of {record['instance_type']}"
            return {"status": InstanceStatus.OOM_KILLED.value, "reason": reason}
        if record["stop_requested"]:  # records written before stop reasons existed have none
            return {"status": InstanceStatus.STOPPED.value, "reason": record.get("stop_reason")}
        if exit_code is None:
            return {"status": InstanceStatus.LOST.value, "reason": LOST_REASON}
        return {"status": InstanceStatus.EXITED.value, "reason": None}

    @staticmethod
    def _instance(record: Record) -> Instance:
        return Instance(
            id=record["id"], labels=record["labels"], status=InstanceStatus(record["status"]),
            instance_type=record["instance_type"], opt_ml=Path(record["opt_ml"]), log_path=Path(record["log"]),
            started_at=datetime.fromisoformat(record["started_at"]),
            ended_at=datetime.fromisoformat(record["ended_at"]) if record["ended_at"] else None,
            exit_code=record["exit_code"], reason=record["reason"], address=record.get("address", LOOPBACK))

    def _path(self, instance_id: str) -> Path:
        return self.state_dir / f"{instance_id}.json"

    def _exit_path(self, instance_id: str) -> Path:
        return self._file(instance_id, ".exit")

    def _file(self, instance_id: str, suffix: str) -> Path:
        """One of the instance's files in the state directory (_INSTANCE_FILES)."""
        return self.state_dir / f"{instance_id}{suffix}"

    def _read(self, instance_id: str) -> Record:
        record = self._read_file(self._path(instance_id))
        if record is None:
            raise InstanceNotFound(f"no instance {instance_id!r}")
        return record

    @staticmethod
    def _read_file(path: Path) -> Record | None:
        try:
            record: Record = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        return record

    def _write(self, record: Record) -> None:
        path = self._path(record["id"])
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)  # same directory, so readers see the old record or the new one


def _group(instance_id: str, spec: InstanceSpec) -> str:
    return spec.network_group or instance_id


def _addresses(hostname: str, spec: InstanceSpec, network: Attachment | None) -> Callable[[str], str]:
    """Where each name of an instance's /etc/hosts is: its peers at their places in its group (algo-<n> is member
    n), itself at its own address; where it has no address of its own, its peers where the spec says they are
    (on other machines of a cluster), else the loopback."""
    peers = spec.peers
    if network is None:
        return lambda host: spec.peer_addresses.get(host, LOOPBACK)
    own = network.address
    gateway = own - (peers.index(hostname) + 1 if hostname in peers else 1)
    return lambda host: str(gateway + peers.index(host) + 1 if host in peers else own)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat()


def _process_start(pid: int) -> int | None:
    """The process's start time in clock ticks (tells a live pid from a reused one); None if
    the process is gone or a zombie. Without /proc, 0 for any live pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return None
        return 0 if _signal(pid, 0) else None
    except OSError:
        return None
    return None if fields[0] == "Z" else int(fields[19])


def processes_usage(pids: Sequence[int] | None, pgid: int, proc: Path = Path("/proc")) -> tuple[float, int]:
    """CPU seconds (their own and their reaped children's) and resident bytes of the live processes `pids`, or
    (None) of the processes in group `pgid`."""
    cpu_ticks, rss_pages = 0, 0
    for entry in (proc / str(pid) for pid in pids) if pids is not None else proc.iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # not a process, or one that exited while we looked
        # after the command: state, ppid, pgrp, ...; utime, stime, cutime, cstime at 11-14, rss (pages) at 21
        if fields[0] == "Z" or (pids is None and int(fields[2]) != pgid):
            continue
        cpu_ticks += sum(int(ticks) for ticks in fields[11:15])
        rss_pages += int(fields[21])
    return cpu_ticks / _CLOCK_TICKS, rss_pages * PAGE_SIZE


def _signal(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True
