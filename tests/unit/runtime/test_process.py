"""ProcessRuntime against real processes: exits, logs, labels across runtimes, stop, /opt/ml, memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelbay.instance_types import InstanceType, instance_type
from modelbay.runtime import machine
from modelbay.runtime.base import Instance, InstanceNotFound, InstanceRunning, InstanceSpec, InstanceStatus, stop_all
from modelbay.runtime.memory import MemoryLimiter, RssWatchdog
from modelbay.runtime.process import LOST_REASON, ProcessRuntime, Record
from modelbay.runtime.sandbox import OPT_ML_DIRS
from tests.helpers import wait_until
from tests.unit.runtime.instances import wait_ended

SMALL = InstanceType("ml.test.small", 1, 200)  # test-only: a limit a test can exceed fast


def python_spec(tmp_path: Path, code: str, kind: InstanceType | None = None) -> InstanceSpec:
    return InstanceSpec(argv=(sys.executable, "-c", textwrap.dedent(code)), opt_ml=tmp_path / "opt_ml",
                        instance_type=kind or instance_type("ml.m5.large"), env={"PATH": os.environ["PATH"]})


def is_gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.fixture
def make_runtime(tmp_path: Path) -> Iterator[Callable[..., ProcessRuntime]]:
    """ProcessRuntimes on tmp_path/state; afterwards their instances are stopped and removed."""
    made: list[ProcessRuntime] = []

    def make(**options: Any) -> ProcessRuntime:
        made.append(ProcessRuntime(tmp_path / "state", **options))
        return made[-1]
    yield make
    for runtime in made:
        for instance in runtime.list({}):
            runtime.stop(instance.id, grace_s=0)
            wait_ended(runtime, instance.id)
            runtime.remove(instance.id)


@pytest.fixture
def runtime(make_runtime: Callable[..., ProcessRuntime]) -> ProcessRuntime:
    return make_runtime()


def test_exit_code_and_logs_are_recorded(runtime: ProcessRuntime, tmp_path: Path) -> None:
    code = "import sys; print('to stdout', flush=True); print('to stderr', file=sys.stderr); sys.exit(3)"
    started = runtime.start(python_spec(tmp_path, code), labels={"job": "j"})
    assert started.status is InstanceStatus.RUNNING and started.exit_code is None
    ended = wait_ended(runtime, started.id)
    assert (ended.status, ended.exit_code) == (InstanceStatus.EXITED, 3)
    assert ended.ended_at is not None and ended.ended_at >= ended.started_at
    log = runtime.logs(started.id).read_text()
    assert "to stdout" in log and "to stderr" in log
    assert all((tmp_path / "opt_ml" / sub).is_dir() for sub in OPT_ML_DIRS)


def test_a_new_runtime_finds_instances_by_label(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sleeper = "import time; time.sleep(60)"
    first = runtime.start(python_spec(tmp_path / "a", sleeper), labels={"job": "a", "host": "algo-1"})
    runtime.start(python_spec(tmp_path / "b", sleeper), labels={"job": "b", "host": "algo-1"})
    other = ProcessRuntime(runtime.state_dir)  # as after a restart: nothing shared but the state dir
    found = other.list({"job": "a"})
    assert [(i.id, i.status, dict(i.labels)) for i in found] == [
        (first.id, InstanceStatus.RUNNING, {"job": "a", "host": "algo-1"})]
    assert len(other.list({"host": "algo-1"})) == 2
    assert other.list({"job": "c"}) == []


def start_and_crash(tmp_path: Path, argv: tuple[str, ...]) -> Record:
    """Start `argv` from a runtime in another process that then dies as in a crash (no cleanup);
    return the instance's record."""
    state = tmp_path / "state"
    starter = f"""
        import os
        from pathlib import Path
        from modelbay.runtime.base import InstanceSpec
        from modelbay.instance_types import instance_type
        from modelbay.runtime.process import LOST_REASON, ProcessRuntime, Record
        spec = InstanceSpec(argv={argv!r}, opt_ml=Path({str(tmp_path / "opt_ml")!r}),
                            instance_type=instance_type("ml.m5.large"), env={{"PATH": os.environ["PATH"]}})
        print(ProcessRuntime(Path({str(state)!r})).start(spec, labels={{}}).id, flush=True)
        os._exit(0)
    """
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(starter)], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[3])
    record: Record = json.loads((state / f"{out.stdout.strip()}.json").read_text())
    return record


def test_a_runtime_that_adopted_an_instance_reports_its_exit_code(
        make_runtime: Callable[..., ProcessRuntime], tmp_path: Path) -> None:
    go = tmp_path / "opt_ml" / "go"  # the program's working directory (its /tmp is its own)
    record = start_and_crash(tmp_path, ("sh", "-c", "while [ ! -e go ]; do sleep 0.05; done; exit 3"))
    runtime = make_runtime()  # not the supervisor's parent: it learns the exit from the exit file
    assert runtime.inspect(record["id"]).status is InstanceStatus.RUNNING
    go.touch()
    ended = wait_ended(runtime, record["id"])
    assert (ended.status, ended.exit_code, ended.reason) == (InstanceStatus.EXITED, 3, None)
    assert ended.ended_at is not None


def test_a_runtime_that_adopted_an_instance_can_stop_it(
        make_runtime: Callable[..., ProcessRuntime], tmp_path: Path) -> None:
    record = start_and_crash(tmp_path, ("sleep", "60"))
    runtime = make_runtime()
    runtime.stop(record["id"], grace_s=30)
    ended = wait_ended(runtime, record["id"])
    assert (ended.status, ended.exit_code) == (InstanceStatus.STOPPED, -signal.SIGTERM)


def test_an_instance_whose_supervisor_vanished_is_lost(
        make_runtime: Callable[..., ProcessRuntime], tmp_path: Path) -> None:
    record = start_and_crash(tmp_path, ("sleep", "60"))
    runtime = make_runtime()
    assert runtime.inspect(record["id"]).status is InstanceStatus.RUNNING
    os.killpg(record["pid"], signal.SIGKILL)  # as when the machine goes: supervisor and program alike
    os.killpg(record["pgid"], signal.SIGKILL)
    lost = wait_ended(runtime, record["id"])
    assert (lost.status, lost.exit_code) == (InstanceStatus.LOST, None)
    assert lost.reason == LOST_REASON


def start_when_ready(runtime: ProcessRuntime, tmp_path: Path, setup: str) -> Instance:
    """Start a program that runs `setup`, says it is ready (in its working directory, the instance
    directory: its /tmp is its own), then waits to be stopped."""
    ready = tmp_path / "opt_ml" / "ready"
    code = textwrap.dedent(setup) + "\nimport pathlib, time\npathlib.Path('ready').touch()\ntime.sleep(60)\n"
    started = runtime.start(python_spec(tmp_path, code), labels={})
    wait_until(ready.exists, 10, "the program to be ready")
    return started


def test_stop_sends_sigterm_first(runtime: ProcessRuntime, tmp_path: Path) -> None:
    started = start_when_ready(runtime, tmp_path, """
        import pathlib, signal, sys
        def on_term(*_):
            pathlib.Path("term").write_text("got SIGTERM")
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
    """)
    runtime.stop(started.id, grace_s=30)
    ended = wait_ended(runtime, started.id)
    assert (ended.status, ended.exit_code) == (InstanceStatus.STOPPED, 0)
    assert (tmp_path / "opt_ml" / "term").read_text() == "got SIGTERM"


def test_stop_kills_after_the_grace_period(runtime: ProcessRuntime, tmp_path: Path) -> None:
    started = start_when_ready(runtime, tmp_path, """
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    """)
    runtime.stop(started.id, grace_s=0.3)
    ended = wait_ended(runtime, started.id)
    assert (ended.status, ended.exit_code) == (InstanceStatus.STOPPED, -signal.SIGKILL)


def test_a_stop_keeps_the_reason_it_was_given_first(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sleeper = "import time; time.sleep(60)"
    plain, told = (runtime.start(python_spec(tmp_path / name, sleeper), labels={}) for name in ("plain", "told"))
    runtime.stop(plain.id, grace_s=30)
    runtime.stop(plain.id, grace_s=30, reason="a later stop's")  # the first stop asked for no reason
    runtime.stop(told.id, grace_s=30, reason="the server shut down")
    assert [(i.status, i.reason) for i in (wait_ended(runtime, plain.id), wait_ended(runtime, told.id))] == [
        (InstanceStatus.STOPPED, None), (InstanceStatus.STOPPED, "the server shut down")]


def test_stop_all_returns_once_every_instance_has_ended(runtime: ProcessRuntime, tmp_path: Path) -> None:
    ended = runtime.start(python_spec(tmp_path / "ended", "pass"), labels={})
    wait_ended(runtime, ended.id)
    stubborn = start_when_ready(runtime, tmp_path / "stubborn", """
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    """)
    sleeping = runtime.start(python_spec(tmp_path / "sleeping", "import time; time.sleep(60)"), labels={})
    assert sorted(stop_all(runtime, grace_s=0.5, reason="why")) == sorted([stubborn.id, sleeping.id])
    assert {i.id: (i.status, i.exit_code, i.reason) for i in runtime.list({})} == {
        ended.id: (InstanceStatus.EXITED, 0, None), stubborn.id: (InstanceStatus.STOPPED, -signal.SIGKILL, "why"),
        sleeping.id: (InstanceStatus.STOPPED, -signal.SIGTERM, "why")}


def test_stop_ends_the_whole_process_group(runtime: ProcessRuntime, tmp_path: Path) -> None:
    code = """
        import pathlib, subprocess, time
        child = subprocess.Popen(["sleep", "60"])
        pathlib.Path("child.tmp").write_text(str(child.pid))
        pathlib.Path("child.tmp").rename("child")
        time.sleep(60)
    """
    started = runtime.start(python_spec(tmp_path, code), labels={})
    wait_until((tmp_path / "opt_ml" / "child").exists, 10, "the program to start its child")
    child = int((tmp_path / "opt_ml" / "child").read_text())
    assert not is_gone(child)
    runtime.stop(started.id, grace_s=5)
    wait_ended(runtime, started.id)
    wait_until(lambda: is_gone(child), 5, "the program's child to end")


def test_a_hard_coded_opt_ml_path_lands_in_the_instance_dir(runtime: ProcessRuntime, tmp_path: Path) -> None:
    if runtime.namespace_prefix is None:  # relocation instead: the variables point into the instance dir
        code = "import os, pathlib; pathlib.Path(os.environ['SM_MODEL_DIR'], 'x').write_text('model')"
    else:
        code = "import pathlib; pathlib.Path('/opt/ml/model/x').write_text('model')"
    ended = wait_ended(runtime, runtime.start(python_spec(tmp_path, code), labels={}).id)
    assert (ended.status, ended.exit_code) == (InstanceStatus.EXITED, 0), runtime.logs(ended.id).read_text()
    assert (tmp_path / "opt_ml" / "model" / "x").read_text() == "model"
    assert not Path("/opt/ml/model/x").exists()


def test_without_namespaces_paths_are_relocated(make_runtime: Callable[..., ProcessRuntime], tmp_path: Path) -> None:
    runtime = make_runtime(namespaces=False)
    code = "import os; print(os.environ['SM_MODEL_DIR'], os.environ['SM_OUTPUT_DATA_DIR'])"
    ended = wait_ended(runtime, runtime.start(python_spec(tmp_path, code), labels={}).id)
    assert ended.exit_code == 0
    opt_ml = tmp_path / "opt_ml"
    assert runtime.logs(ended.id).read_text().split() == [str(opt_ml / "model"), str(opt_ml / "output/data")]


@pytest.mark.parametrize("limiter", [None, RssWatchdog()], ids=["best-available", "rss-watchdog"])
def test_exceeding_the_memory_limit_kills_with_a_reason(
        make_runtime: Callable[..., ProcessRuntime], tmp_path: Path, limiter: MemoryLimiter | None) -> None:
    runtime = make_runtime(memory=limiter)
    code = "import time; hog = b'x' * (400 * 1024 * 1024); time.sleep(60)"
    ended = wait_ended(runtime, runtime.start(python_spec(tmp_path, code, SMALL), labels={}).id)
    assert ended.status is InstanceStatus.OOM_KILLED
    assert ended.reason == "exceeded the 200 MiB memory of ml.test.small"


def test_remove_forgets_an_ended_instance(runtime: ProcessRuntime, tmp_path: Path) -> None:
    running = runtime.start(python_spec(tmp_path, "import time; time.sleep(60)"), labels={})
    with pytest.raises(InstanceRunning):
        runtime.remove(running.id)
    runtime.stop(running.id, grace_s=0)
    wait_ended(runtime, running.id)
    runtime.remove(running.id)
    with pytest.raises(InstanceNotFound):
        runtime.inspect(running.id)
    assert not running.log_path.exists()
    if runtime.cgroups is not None:
        assert not any((parent / running.id).exists() for parent in runtime.cgroups.parents.values())
    assert not list(runtime.state_dir.glob(f"{running.id}*"))


def test_an_instance_ending_while_listed_is_never_reported_lost(runtime: ProcessRuntime, tmp_path: Path) -> None:
    """list() must read the exit file after checking that the supervisor lives: the other order
    judges an instance that ends in between lost (that made quick jobs fail). Polled without
    pause, as a race test."""
    for n in range(20):
        started = runtime.start(InstanceSpec(argv=("true",), opt_ml=tmp_path / f"opt_ml{n}",
                                             instance_type=instance_type("ml.m5.large"),
                                             env={"PATH": os.environ["PATH"]}), labels={"race": str(n)})
        while (seen := runtime.list({"race": str(n)})[0]).is_alive:
            pass
        assert (seen.status, seen.exit_code) == (InstanceStatus.EXITED, 0), seen.reason
        runtime.remove(started.id)


def test_a_gpu_type_on_a_machine_without_gpus_opens_its_log_saying_so(
        runtime: ProcessRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "machine_gpus", lambda: 0)
    started = runtime.start(python_spec(tmp_path, "print('training')", instance_type("ml.g5.xlarge")), {})
    ended = wait_ended(runtime, started.id)
    assert ended.log_path.read_text().splitlines() == [
        "modelbay: ml.g5.xlarge has 1 × NVIDIA A10G (24 GiB) but this machine has no GPU; "
        "the program runs with SM_NUM_GPUS=0", "training"]
