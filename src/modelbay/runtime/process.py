"""ProcessRuntime: each instance is a local process group, sandboxed as far as the host allows.

State lives in `state_dir`: per instance a JSON record (written atomically) and a log file
holding stdout and stderr. The Runtime that started an instance reaps it (a thread waits for
it) and records its exit; any other Runtime on the same state dir, e.g. after a server crash,
reads the records and reports an instance whose process is gone without a recorded exit as
LOST (or STOPPED when a stop had been asked for). See sandbox.py for `/opt/ml` and memory.py
for limits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelbay.runtime.base import Instance, InstanceNotFound, InstanceRunning, InstanceSpec, InstanceStatus, Runtime
from modelbay.runtime.memory import MemoryLimiter, memory_limiter
from modelbay.runtime.sandbox import namespace_prefix, opt_ml_layout, relocation_env, sandboxed_argv

log = logging.getLogger(__name__)

Record = dict[str, Any]


class ProcessRuntime(Runtime):
    """Instances as process groups under `state_dir`.

    `memory`: the limiter to use (default: the best this machine offers, see memory.py).
    `namespaces`: False relocates paths through SM_* variables even where a mount namespace
    could show the instance directory at `/opt/ml` (default: use namespaces when available).
    """

    def __init__(self, state_dir: Path, memory: MemoryLimiter | None = None,
                 namespaces: bool = True) -> None:
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.memory = memory or memory_limiter()
        self.namespace_prefix = namespace_prefix() if namespaces else None
        if self.namespace_prefix is None:
            log.warning("no mount namespaces: instances see their directory through SM_* variables, "
                        "not at /opt/ml; programs that hard-code /opt/ml will not find it")
        self._lock = threading.Lock()
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    # -- the interface ------------------------------------------------------------------

    def start(self, spec: InstanceSpec, labels: Mapping[str, str]) -> Instance:
        instance_id = uuid.uuid4().hex[:16]
        opt_ml_layout(spec.opt_ml)
        limit = spec.instance_type.memory_bytes
        procs_file = self.memory.prepare(instance_id, limit) if self.memory else None
        env = dict(spec.env)
        if self.namespace_prefix is None:
            env.update(relocation_env(spec.opt_ml))
        log_path = self.state_dir / f"{instance_id}.log"
        with open(log_path, "ab") as log_file:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                sandboxed_argv(spec.argv, spec.opt_ml, self.namespace_prefix, procs_file),
                env=env, cwd=spec.workdir or spec.opt_ml, stdin=subprocess.DEVNULL,
                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        record: Record = {
            "id": instance_id, "labels": dict(labels), "instance_type": spec.instance_type.name,
            "memory": spec.instance_type.memory_label, "argv": list(spec.argv), "opt_ml": str(spec.opt_ml),
            "log": str(log_path), "pid": proc.pid, "pid_start": _process_start(proc.pid),
            "started_at": _now(), "ended_at": None, "exit_code": None,
            "status": InstanceStatus.RUNNING.value, "reason": None, "stop_requested": False,
        }
        with self._lock:
            self._write(record)
            self._children[instance_id] = proc
            started = self._instance(record)  # the reaper, not started yet, cannot race it
        if self.memory:
            self.memory.watch(instance_id, proc.pid, limit)
        threading.Thread(target=self._reap, args=(instance_id, proc), name=f"reaper-{instance_id}",
                         daemon=True).start()
        return started

    def list(self, labels: Mapping[str, str]) -> list[Instance]:
        with self._lock:  # see _instance: a record and the liveness check must agree
            records = [self._read_file(path) for path in self.state_dir.glob("*.json")]
            matching = [r for r in records if r and labels.items() <= r["labels"].items()]
            return [self._instance(r) for r in sorted(matching, key=lambda r: str(r["started_at"]))]

    def inspect(self, instance_id: str) -> Instance:
        with self._lock:
            return self._instance(self._read(instance_id))

    def stop(self, instance_id: str, grace_s: float) -> None:
        with self._lock:
            record = self._read(instance_id)
            if not self._is_running(record):
                return
            record["stop_requested"] = True
            self._write(record)
        _signal_group(record["pid"], signal.SIGTERM)
        timer = threading.Timer(grace_s, self._kill, args=(record,))
        timer.daemon = True
        timer.start()

    def logs(self, instance_id: str) -> Path:
        return Path(self._read(instance_id)["log"])

    def remove(self, instance_id: str) -> None:
        with self._lock:
            record = self._read(instance_id)
            if self._is_running(record):
                raise InstanceRunning(f"instance {instance_id} is still running; stop it first")
            if self.memory:
                self.memory.release(instance_id)
            Path(record["log"]).unlink(missing_ok=True)
            self._path(instance_id).unlink()

    # -- processes ----------------------------------------------------------------------

    def _reap(self, instance_id: str, proc: subprocess.Popen[bytes]) -> None:
        """Wait for the instance's main process, end the rest of its group, record the exit."""
        code = proc.wait()
        _signal_group(proc.pid, signal.SIGKILL)  # an instance ends with its main process
        with self._lock:
            record = self._read(instance_id)
            record.update(exit_code=code, ended_at=_now(), **self._ending(record, code))
            self._write(record)
            del self._children[instance_id]

    def _ending(self, record: Record, code: int) -> Record:
        if self.memory and self.memory.exceeded(record["id"]):
            reason = f"exceeded the {record['memory']} memory of {record['instance_type']}"
            return {"status": InstanceStatus.OOM_KILLED.value, "reason": reason}
        if record["stop_requested"]:
            return {"status": InstanceStatus.STOPPED.value, "reason": None}
        return {"status": InstanceStatus.EXITED.value, "reason": None}

    def _kill(self, record: Record) -> None:
        """The end of a stop's grace period: SIGKILL whatever of the instance remains."""
        try:
            if not self._is_running(self._read(record["id"])):
                return
        except InstanceNotFound:  # ended and removed during the grace period
            return
        _signal_group(record["pid"], signal.SIGKILL)
        for pid in self.memory.pids(record["id"]) if self.memory else []:
            _signal(pid, signal.SIGKILL)  # processes that left the group stay in the cgroup

    def _is_running(self, record: Record) -> bool:
        if record["status"] != InstanceStatus.RUNNING.value:
            return False
        if record["id"] in self._children:
            return True
        start = record["pid_start"]  # None: it had ended before its start time was read
        return start is not None and _process_start(record["pid"]) == start

    # -- records ------------------------------------------------------------------------

    def _instance(self, record: Record) -> Instance:
        """The Instance a record describes. Call with the lock held and the record read under it:
        otherwise the reaper may record the exit and forget the child in between, and a record
        read before that would be judged LOST."""
        status = InstanceStatus(record["status"])
        reason = record["reason"]
        if status is InstanceStatus.RUNNING and not self._is_running(record):
            status = InstanceStatus.STOPPED if record["stop_requested"] else InstanceStatus.LOST
            reason = "the instance's process ended while no runtime was watching it"
        return Instance(
            id=record["id"], labels=record["labels"], status=status, instance_type=record["instance_type"],
            opt_ml=Path(record["opt_ml"]), log_path=Path(record["log"]),
            started_at=datetime.fromisoformat(record["started_at"]),
            ended_at=datetime.fromisoformat(record["ended_at"]) if record["ended_at"] else None,
            exit_code=record["exit_code"], reason=reason)

    def _path(self, instance_id: str) -> Path:
        return self.state_dir / f"{instance_id}.json"

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


def _now() -> str:
    return datetime.now(UTC).isoformat()


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


def _signal(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)
