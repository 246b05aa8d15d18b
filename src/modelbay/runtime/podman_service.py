"""A `podman system service` of our own: podman's Docker-compatible REST API on a unix socket.

The runtime starts one per PodmanRuntime and stops it on close. It runs in a session of its own, so stopping
that session stops podman wherever it re-executed itself (rootless podman runs its real service in a child),
while the containers' conmon monitors, each in a session of its own, keep running. Its socket lives under the
temporary directory, whose short path stays within a unix socket's 108 characters, named after the server's
pid: a service whose server is gone (killed with SIGKILL) is stopped by the next service that starts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from modelbay.podman_engine import PodmanError, podman_env

_PREFIX = "modelbay-podman-"
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0


class PodmanService:
    """A running `podman system service --time=0 unix://<socket>`; `url` is where to reach it."""

    def __init__(self, config_dir: Path, run_dir: Path | None = None) -> None:
        run_dir = run_dir or Path(tempfile.gettempdir())
        stop_abandoned(run_dir)
        self.socket = run_dir / f"{_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
        with open(self.socket.with_suffix(".log"), "wb") as said:  # the child keeps its own descriptor
            self._process = subprocess.Popen(
                ["podman", "system", "service", "--time=0", f"unix://{self.socket}"], env=podman_env(config_dir),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=said, start_new_session=True,
                cwd=config_dir)  # conmon leaves files in its working directory (an `oom` marker): not the caller's
        self.socket.with_suffix(".pid").write_text(str(self._process.pid))
        try:
            self._wait_until_serving()
        except PodmanError:
            self.close()
            raise

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def close(self) -> None:
        """Stop the service (its whole session) and remove its socket; idempotent."""
        if self._process.poll() is None:
            _end_session(self._process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=_STOP_TIMEOUT_S)
        _remove_files(self.socket)

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not _accepts(self.socket):
            if self._process.poll() is not None:
                said = self.socket.with_suffix(".log").read_text(errors="replace")
                raise PodmanError(f"podman system service exited with {self._process.returncode}: {said[-2000:]}")
            if time.monotonic() > deadline:
                raise PodmanError(f"podman system service did not listen on {self.socket} "
                                  f"within {_START_TIMEOUT_S:.0f} s")
            time.sleep(0.05)


def stop_abandoned(run_dir: Path) -> None:
    """Stop the services of servers that are gone (their pid is in their socket's name) and remove their files."""
    for pid_file in run_dir.glob(f"{_PREFIX}*.pid"):
        server_pid = pid_file.name.removeprefix(_PREFIX).split("-")[0]
        if not server_pid.isdigit() or _is_alive(int(server_pid)):
            continue
        sock = pid_file.with_suffix(".sock")
        with contextlib.suppress(OSError, ValueError):
            service_pid = int(pid_file.read_text())
            if str(sock).encode() in Path(f"/proc/{service_pid}/cmdline").read_bytes():  # not a reused pid
                _end_session(service_pid)
        _remove_files(sock)


def _remove_files(sock: Path) -> None:
    for path in (sock, sock.with_suffix(".pid"), sock.with_suffix(".log")):
        path.unlink(missing_ok=True)


def _end_session(leader: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader, signal.SIGTERM)


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        return probe.connect_ex(str(path)) == 0
