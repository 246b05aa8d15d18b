"""What an instance sees of the machine and leaves behind, against real processes: CPUs, hostname, the end
of everything it started, and cgroups removed after a crash. (One job checks all of it end to end:
tests/integration/test_instance_isolation.py.)"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay.instance_types import InstanceType
from modelbay.runtime.process import ProcessRuntime
from tests.unit.runtime.test_process import is_gone, python_spec, start_and_crash, wait_ended

ONE_CPU = InstanceType("ml.test.one", 1, 1024)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ProcessRuntime]:
    runtime = ProcessRuntime(tmp_path / "state")
    if runtime.cgroups is None or runtime.namespace_prefix is None:
        pytest.fail("these tests need cgroups and mount namespaces (root on Linux)")
    yield runtime
    for instance in runtime.list({}):
        runtime.stop(instance.id, grace_s=0)
        wait_ended(runtime, instance.id)
        runtime.remove(instance.id)


def groups_of(runtime: ProcessRuntime, instance_id: str) -> list[Path]:
    assert runtime.cgroups is not None
    return [group for parent in runtime.cgroups.parents.values() if (group := parent / instance_id).exists()]


def test_an_instance_sees_its_types_cpus_and_its_hostname(runtime: ProcessRuntime, tmp_path: Path) -> None:
    code = """
        import json, os, socket, subprocess
        nproc = int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)
        print(json.dumps([socket.gethostname(), os.cpu_count(), nproc]))
    """
    spec = dataclasses.replace(python_spec(tmp_path, code, ONE_CPU), hostname="algo-3")
    ended = wait_ended(runtime, runtime.start(spec, labels={}).id)
    assert json.loads(runtime.logs(ended.id).read_text()) == ["algo-3", 1, 1]


def test_what_the_program_leaves_running_ends_with_it(runtime: ProcessRuntime, tmp_path: Path) -> None:
    code = """
        import subprocess
        daemon = subprocess.Popen(["setsid", "--wait", "sh", "-c", "sleep 600 & echo $! > daemon"])
        daemon.wait()
    """
    started = runtime.start(python_spec(tmp_path, code), labels={})
    wait_ended(runtime, started.id)
    daemon = int((tmp_path / "opt_ml" / "daemon").read_text())  # its working directory is the instance's
    assert is_gone(daemon)


def test_a_killed_instance_heals_and_leaves_no_cgroup_behind(tmp_path: Path) -> None:
    record = start_and_crash(tmp_path, ("sh", "-c", "setsid sleep 600 & exec sleep 600"))
    crashed = ProcessRuntime(tmp_path / "state")
    assert groups_of(crashed, record["id"])
    os.kill(record["pid"], signal.SIGKILL)  # the supervisor: nothing ends what it started
    restarted = ProcessRuntime(tmp_path / "state")  # as the next server's start-up
    assert restarted.inspect(record["id"]).status.value == "lost"
    assert groups_of(restarted, record["id"]) == []
    assert is_gone(record["pgid"])
    restarted.remove(record["id"])
    assert not list((tmp_path / "state").glob(f"{record['id']}.*"))
