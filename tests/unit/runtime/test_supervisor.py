"""The supervisor on its own: the program's exact environment, exit files, signals, unstartable programs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from modelbay.runtime.supervisor import CANNOT_START, encode_environment, supervisor_argv
from tests.helpers import wait_until


def supervise(tmp_path: Path, command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """Run `command` under the supervisor as the process runtime does; return it and the pid it reported."""
    pid_read, pid_write = os.pipe()
    proc = subprocess.Popen([*supervisor_argv(str(tmp_path / "exit"), pid_write), *command],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            pass_fds=(pid_write,), start_new_session=True)
    os.close(pid_write)
    assert proc.stdin is not None
    with proc.stdin:
        proc.stdin.write(encode_environment(env))
    with open(pid_read, "rb") as pipe:
        return proc, pipe.read().decode().strip()


def output(proc: subprocess.Popen[bytes]) -> str:
    """What the supervisor and its program printed, once the supervisor has ended."""
    assert proc.stdout is not None and proc.wait(timeout=10) == 0
    return proc.stdout.read().decode()


def exit_code(tmp_path: Path) -> int:
    code: int = json.loads((tmp_path / "exit").read_text())["exit_code"]
    return code


def test_the_program_gets_exactly_its_environment(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "WITH_EQUALS": "a=b", "EMPTY": ""}  # no locale: Python would add one
    proc, pid = supervise(tmp_path, ["env", "-0"], env)  # found through the program's PATH
    assert dict(entry.split("=", 1) for entry in output(proc).split("\0")[:-1]) == env
    assert pid and exit_code(tmp_path) == 0


def test_sigterm_to_the_supervisor_reaches_the_program_in_its_own_group(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    program = f"import pathlib, time; pathlib.Path({str(ready)!r}).touch(); time.sleep(60)"
    proc, pid = supervise(tmp_path, [sys.executable, "-c", program], {})
    wait_until(ready.exists, 10, "the program to start")
    assert os.getpgid(int(pid)) == int(pid) != os.getpgid(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert exit_code(tmp_path) == -signal.SIGTERM


def test_a_program_that_cannot_start_is_recorded_as_127(tmp_path: Path) -> None:
    proc, pid = supervise(tmp_path, [str(tmp_path / "missing")], {})
    assert pid == ""
    assert exit_code(tmp_path) == CANNOT_START
    assert output(proc) == f"modelbay: cannot run {tmp_path / 'missing'}: No such file or directory\n"
