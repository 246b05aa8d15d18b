"""The process runtime's usage reader: CPU seconds and resident memory of an instance's processes, from /proc."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from modelbay.instance_types import instance_type
from modelbay.runtime.base import InstanceSpec, Usage
from modelbay.runtime.process import ProcessRuntime, processes_usage
from tests.helpers import wait_until


def test_processes_usage_of_a_group_and_of_listed_pids() -> None:
    own_cpu_s, own_rss = processes_usage([os.getpid()], 0)
    assert own_cpu_s > 0 and own_rss > 10 * 1024 * 1024  # this interpreter, with pytest loaded
    group_cpu_s, group_rss = processes_usage(None, os.getpgrp())
    assert group_cpu_s >= own_cpu_s and group_rss >= own_rss  # the group holds this process, at least
    assert processes_usage([], 0) == (0.0, 0)


def test_processes_usage_skips_what_is_not_a_process(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()  # no stat file: a process that exited while we looked
    (tmp_path / "2").mkdir()
    fields = ["S", "1", "77", *["0"] * 8, "100", "50", "25", "25", *["0"] * 6, "10"]  # utime..cstime, rss = 10 pages
    (tmp_path / "2" / "stat").write_text(f"2 (a (b) c) {' '.join(fields)}\n")
    cpu_s, rss = processes_usage(None, 77, proc=tmp_path)
    assert cpu_s == 200 / os.sysconf("SC_CLK_TCK") and rss == 10 * os.sysconf("SC_PAGE_SIZE")
    assert processes_usage(None, 78, proc=tmp_path) == (0.0, 0)


def test_an_instance_usage_grows_while_it_runs_and_is_none_once_it_ended(tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path / "runtime", namespaces=False)
    spec = InstanceSpec(argv=(sys.executable, "-c", "while True: pass"), opt_ml=tmp_path / "opt_ml",
                        instance_type=instance_type("ml.m5.large"), env={"PATH": os.environ["PATH"]})
    busy = runtime.start(spec, {})

    def used() -> Usage:
        usage = runtime.usage(busy.id)
        assert usage is not None
        return usage

    try:
        wait_until(lambda: used().memory_bytes > 2**20, 20, "the instance's program to run")
        started = used()
        wait_until(lambda: used().cpu_s > started.cpu_s + 0.2, 20, "the instance to use CPU")
    finally:
        runtime.stop(busy.id, grace_s=0)
    wait_until(lambda: not runtime.inspect(busy.id).is_alive, 10, "the instance to end")
    assert runtime.usage(busy.id) is None
    assert runtime.usage("no-such-instance") is None
    runtime.remove(busy.id)
