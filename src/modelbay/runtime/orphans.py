"""Orphans: instances whose runtime state directory is gone, so that no runtime can ever find them again.

That happens when a data directory is deleted while its instances run (after a crash, or a stop
with --keep-instances, then `rm -rf ~/.modelbay`). Such an instance would run until the machine
stops; a server stops them all when it starts. They are found by their supervisors' command
lines (`supervisor_argv` in supervisor.py), which name the exit file in the state directory, and
ended as a session: each supervisor leads one, holding the program's process group.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

log = logging.getLogger(__name__)

_SUPERVISOR = ("modelbay", "runtime", "supervisor.py")  # the last parts of its path, whatever the install


def find_orphans() -> list[int]:
    """Pids of this user's instance supervisors whose state directory no longer exists."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):  # none without /proc
        try:
            if proc.stat().st_uid != os.getuid():
                continue
            exit_file = _exit_file((proc / "cmdline").read_bytes().split(b"\0"))
        except OSError:  # it ended meanwhile
            continue
        if exit_file is not None and not exit_file.parent.is_dir():
            found.append(int(proc.name))
    return found


def stop_orphans(grace_s: float) -> list[int]:
    """Stop every orphan (see end_sessions); return their supervisors' pids."""
    orphans = find_orphans()
    if orphans:
        log.warning("stopping %d instances whose data directory was deleted while they ran", len(orphans))
        end_sessions(orphans, grace_s)
    return orphans


def end_sessions(supervisors: list[int], grace_s: float, poll_s: float = 0.1) -> None:
    """SIGTERM to each supervisor, which passes it on to its program; SIGKILL to what remains of their
    sessions after `grace_s`. Return once they have ended (or a few seconds after the SIGKILL)."""
    for pid in supervisors:
        _signal(pid, signal.SIGTERM)
    _wait_for_end(supervisors, grace_s, poll_s)
    for pid in _members(supervisors):
        _signal(pid, signal.SIGKILL)
    _wait_for_end(supervisors, 5, poll_s)


def _exit_file(argv: list[bytes]) -> Path | None:
    """EXIT_FILE if `argv` is a supervisor's command line (python -I -S .../supervisor.py EXIT_FILE PID_FD ...)."""
    if len(argv) < 6 or argv[1:3] != [b"-I", b"-S"] or Path(os.fsdecode(argv[3])).parts[-3:] != _SUPERVISOR:
        return None
    return Path(os.fsdecode(argv[4]))


def _wait_for_end(sessions: list[int], timeout_s: float, poll_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _members(sessions) and time.monotonic() < deadline:
        time.sleep(poll_s)


def _members(sessions: list[int]) -> list[int]:
    """The live (not zombie) processes of the sessions led by `sessions`."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, _pgrp, session = stat.read_text().rsplit(")", 1)[1].split()[:4]
        except OSError:  # it ended meanwhile
            continue
        if state != "Z" and int(session) in sessions:
            members.append(int(stat.parent.name))
    return members


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # it ended meanwhile
        os.kill(pid, sig)
