"""This machine as `modelbay cluster` shows it: its resources, less what its running instances' types take."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay.instance_types import instance_type
from modelbay.runtime import machine
from modelbay.runtime.base import LOOPBACK, InstanceSpec, stop_all
from modelbay.runtime.capacity import free_resources, machine_resources
from modelbay.runtime.process import ProcessRuntime

GIB = 1024**3


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ProcessRuntime]:
    made = ProcessRuntime(tmp_path / "state")
    yield made
    for instance_id in stop_all(made, grace_s=0):
        made.remove(instance_id)


def sleeper(tmp_path: Path, kind: str) -> InstanceSpec:
    return InstanceSpec(argv=(sys.executable, "-c", "import time; time.sleep(60)"), opt_ml=tmp_path / kind,
                        instance_type=instance_type(kind), env={"PATH": os.environ["PATH"]})


def test_an_idle_machine_is_one_node_with_everything_free(runtime: ProcessRuntime) -> None:
    [node] = runtime.nodes()
    assert (node.name, node.address, node.zone, node.alive, node.instances) == (
        socket.gethostname(), LOOPBACK, None, True, ())
    assert node.resources == {"CPU": len(machine.machine_cpus()), "memory": machine.machine_memory_bytes(),
                              "GPU": machine.machine_gpus()}
    assert node.free == node.resources


def test_a_running_instance_takes_its_types_cpus_and_memory(runtime: ProcessRuntime, tmp_path: Path) -> None:
    started = runtime.start(sleeper(tmp_path, "ml.m5.large"), labels={})  # 2 vCPUs, 8 GiB
    [node] = runtime.nodes()
    assert node.instances == (started.id,)
    cpus, memory = node.resources["CPU"], node.resources["memory"]
    assert node.free["CPU"] == cpus - min(2, cpus)
    assert node.free["memory"] == memory - min(8 * GIB, memory)
    assert node.free["GPU"] == node.resources["GPU"]


def test_an_ended_instance_takes_nothing(runtime: ProcessRuntime, tmp_path: Path) -> None:
    started = runtime.start(sleeper(tmp_path, "ml.m5.large"), labels={})
    stop_all(runtime, grace_s=0)
    [node] = runtime.nodes()
    assert node.instances == () and node.free == node.resources
    runtime.remove(started.id)


def test_instances_asking_more_than_the_machine_has_leave_less_than_nothing_free() -> None:
    resources = {"CPU": 4.0, "memory": 16.0 * GIB, "GPU": 0.0}
    free = free_resources(resources, ["ml.m5.xlarge"] * 3)  # 4 vCPUs, 16 GiB each
    assert free["CPU"] == -8.0 and free["GPU"] == 0.0
    assert free["memory"] == resources["memory"] - 3 * min(16 * GIB, machine.machine_memory_bytes())


def test_a_type_the_catalog_does_not_name_takes_nothing() -> None:
    assert free_resources(machine_resources(), ["ml.test.small"]) == machine_resources()
