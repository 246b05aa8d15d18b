"""Orphans: instances whose state directory was deleted are found by their supervisors and ended, session and all."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay.instance_types import instance_type
from modelbay.runtime.base import InstanceSpec, stop_all
from modelbay.runtime.orphans import end_sessions, find_orphans
from modelbay.runtime.process import ProcessRuntime
from tests.helpers import is_running, wait_until


def stubborn(tmp_path: Path) -> InstanceSpec:
    """A program that ignores SIGTERM and starts a child, writing the child's pid to tmp_path/child."""
    code = f"""
        import pathlib, signal, subprocess, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen(["sleep", "60"])
        pathlib.Path({str(tmp_path / "child.tmp")!r}).write_text(str(child.pid))
        pathlib.Path({str(tmp_path / "child.tmp")!r}).rename({str(tmp_path / "child")!r})
        time.sleep(60)
    """
    return InstanceSpec(argv=(sys.executable, "-c", textwrap.dedent(code)), opt_ml=tmp_path / "opt_ml",
                        instance_type=instance_type("ml.m5.large"), env={"PATH": os.environ["PATH"]})


@pytest.fixture
def runtimes(tmp_path: Path) -> Iterator[tuple[ProcessRuntime, ProcessRuntime]]:
    """Two runtimes, on tmp_path/kept and tmp_path/deleted; what the first runs is stopped at the end."""
    kept = ProcessRuntime(tmp_path / "kept", namespaces=False)
    yield kept, ProcessRuntime(tmp_path / "deleted", namespaces=False)
    stop_all(kept, grace_s=0)


def test_the_instances_of_a_deleted_state_directory_are_orphans_and_end_with_their_session(
        runtimes: tuple[ProcessRuntime, ProcessRuntime], tmp_path: Path) -> None:
    kept, deleted = runtimes
    safe = kept.start(stubborn(tmp_path / "safe"), labels={})
    orphan = deleted.start(stubborn(tmp_path / "orphan"), labels={})
    wait_until((tmp_path / "orphan" / "child").exists, 10, "the orphan's program to start its child")
    record = json.loads((deleted.state_dir / f"{orphan.id}.json").read_text())
    supervisor, program, child = record["pid"], record["pgid"], int((tmp_path / "orphan" / "child").read_text())
    assert supervisor not in find_orphans()  # its state directory is still there

    shutil.rmtree(deleted.state_dir)
    orphans = find_orphans()
    assert supervisor in orphans and json.loads((kept.state_dir / f"{safe.id}.json").read_text())["pid"] not in orphans
    end_sessions([supervisor], grace_s=0.5)  # the program ignores SIGTERM: SIGKILL ends it
    assert not any(is_running(pid) for pid in (supervisor, program, child))
    assert kept.inspect(safe.id).is_alive

