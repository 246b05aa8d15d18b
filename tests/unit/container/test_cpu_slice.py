"""A model server worker's scheduler slice, asked of the kernel, each case in a process of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.unit.container.serving import TAKES_SLICES, slice_ns

ASKED_MS = 20  # the slice asked for: longer than the kernel's default on any machine (0.75 ms × (1 + log2 CPUs))

ASK = """
import json, os, sys
from modelbay.container import cpu_slice
if sys.argv[2] == "batch":
    os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
os.nice(5)
took = cpu_slice.lengthen(int(sys.argv[1]))
print(json.dumps({"took": took, "sched": open("/proc/self/sched").read(), "policy": os.sched_getscheduler(0),
                  "nice": os.getpriority(os.PRIO_PROCESS, 0)}))
"""



def ask(slice_ms: int, policy: str = "other") -> dict[str, int]:
    """What a process of `policy` with nice value 5 has after asking for a slice of `slice_ms`."""
    done = subprocess.run([sys.executable, "-c", ASK, str(slice_ms), policy], capture_output=True, text=True,
                          check=True)
    got = json.loads(done.stdout)
    return {"took": got["took"], "slice_ns": slice_ns(got["sched"]), "policy": got["policy"], "nice": got["nice"]}


@pytest.mark.parametrize("policy", ["other", "batch"])
def test_a_worker_gets_the_slice_it_asks_for_keeping_its_policy_and_nice_value(policy: str) -> None:
    got = ask(ASKED_MS, policy)
    assert got["took"] is TAKES_SLICES
    assert (got["slice_ns"] == ASKED_MS * 1_000_000) is TAKES_SLICES
    assert got["policy"] == (os.SCHED_BATCH if policy == "batch" else os.SCHED_OTHER)
    assert got["nice"] == 5


@pytest.mark.parametrize("slice_ms", [0, 101])
def test_a_slice_out_of_the_kernels_range_leaves_the_kernels_own(slice_ms: int) -> None:
    got = ask(slice_ms)
    assert got["took"] is False
    assert got["slice_ns"] == ask(0)["slice_ns"] < ASKED_MS * 1_000_000


FITTED = """
import json, sys
from modelbay.container import cpu_slice
fitted = cpu_slice.FittedSlice(int(sys.argv[1]))
seen = [cpu_slice.current_ns()]
for cpu_s in (0.010, 0.0):  # a window of long requests, then one of short ones
    for _ in range(fitted.WINDOW):
        fitted.observe(cpu_s)
    seen.append(cpu_slice.current_ns())
print(json.dumps(seen))
"""


def test_a_worker_has_a_long_slice_while_its_requests_are_long_and_the_kernels_after() -> None:
    done = subprocess.run([sys.executable, "-c", FITTED, str(ASKED_MS)], capture_output=True, text=True, check=True)
    kernels, long, short = json.loads(done.stdout)
    if TAKES_SLICES:
        assert (long, short) == (ASKED_MS * 1_000_000, kernels) and kernels < ASKED_MS * 1_000_000
    else:
        assert (kernels, long, short) == (None, None, None)
