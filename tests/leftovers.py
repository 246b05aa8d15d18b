"""A pytest plugin: the run fails if a process it started is still running at its end (tests/conftest.py loads it).

The controlling process (xdist's controller, or the only process of a plain run) puts a marker unique to
the run in its environment when pytest is configured, before any worker starts, so every process the run
starts inherits it: workers, servers, instances' supervisors, commands. When the session has finished
(after xdist has shut its workers down), any other process whose environment still holds the marker was
left behind: the run lists them and fails. Processes that clear their environment are not seen, but their
starters are (an instance's supervisor outlives its program).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest

MARKER = "TESTS_RUN_ID"  # not MODELBAY_*: tests clear those from the environments of the commands they run
SETTLE_S = 5.0  # how long processes may take to end once the session has


def pytest_configure(config: pytest.Config) -> None:
    if _is_controller(config):
        os.environ[MARKER] = uuid.uuid4().hex


@pytest.hookimpl(trylast=True)  # after xdist's, which shuts the workers down
def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _is_controller(session.config):
        return
    entry = f"{MARKER}={os.environ[MARKER]}".encode()
    deadline = time.monotonic() + SETTLE_S
    while (left := marked(entry)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        reporter = session.config.pluginmanager.getplugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("")  # ends the progress line
            reporter.write_sep("=", "processes the tests started are still running", red=True, bold=True)
            for pid, command in sorted(left.items()):
                reporter.write_line(f"pid {pid}: {' '.join(command.split())[:300]}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def marked(entry: bytes) -> dict[int, str]:
    """The command lines of the live processes, besides this one, whose environment holds `entry`
    (NAME=value)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if entry in (proc / "environ").read_bytes().split(b"\0"):  # a zombie's reads as empty
                found[int(proc.name)] = os.fsdecode((proc / "cmdline").read_bytes().replace(b"\0", b" "))
        except OSError:  # it ended meanwhile, or is not ours to read
            continue
    return found


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")
