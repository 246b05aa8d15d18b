"""The suite's own check (tests/leftovers.py): a run that leaves a process running fails, with xdist or without."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import is_running, wait_until

ROOT = Path(__file__).resolve().parents[2]
LEAKY = """
import pathlib, subprocess

def test_leaves_a_process_running():
    sleeper = subprocess.Popen(["sleep", "300"])
    pathlib.Path(__file__).with_name("pid").write_text(str(sleeper.pid))
"""
TIDY = """
import subprocess

def test_waits_for_what_it_starts():
    subprocess.run(["sleep", "0.2"], check=True)
"""


def run_pytest(tmp_path: Path, test: str, *options: str) -> subprocess.CompletedProcess[str]:
    """A pytest run of `test` alone, with the check as its only plugin of ours."""
    (tmp_path / "test_it.py").write_text(test)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.leftovers", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), *options, str(tmp_path / "test_it.py")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("options", [(), ("-n", "2")], ids=["plain", "xdist"])
def test_a_run_that_leaves_a_process_running_fails_and_names_it(tmp_path: Path, options: tuple[str, ...]) -> None:
    done = run_pytest(tmp_path, LEAKY, *options)
    pid = int((tmp_path / "pid").read_text())
    try:
        assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout
        assert "1 passed" in done.stdout
        assert "= processes the tests started are still running =" in done.stdout
        assert f"\npid {pid}: sleep 300\n" in done.stdout
    finally:
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not is_running(pid), 10, "the sleep to end")


def test_a_run_that_leaves_nothing_passes_with_xdist(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, TIDY, "-n", "2")
    assert (done.returncode, "left" in done.stdout) == (pytest.ExitCode.OK, False), done.stdout

