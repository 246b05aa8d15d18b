from __future__ import annotations

import logging
from pathlib import Path

import pytest

from modelbay.controllers.instance_env import host_env
from modelbay.instance_types import InstanceType, instance_type
from modelbay.runtime import machine
from modelbay.runtime.machine import gpu_notice, gpus_for, machine_gpus, memory_label, memory_limit


def test_a_type_within_the_machine_keeps_its_memory() -> None:
    kind = InstanceType("ml.test.tiny", 1, 256)
    assert (memory_limit(kind), memory_label(kind)) == (256 * 1024**2, "256 MiB")


def test_a_type_larger_than_the_machine_is_capped_at_it_and_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    huge = InstanceType("ml.test.huge", 1, 1 << 40)  # 1 Ti MiB: more than any machine
    with caplog.at_level(logging.WARNING, logger="modelbay.runtime.machine"):
        assert memory_limit(huge) == memory_limit(huge) == machine.machine_memory_bytes()
    [warning] = caplog.messages
    assert warning.startswith("ml.test.huge has 1073741824 GiB of memory, more than this machine's ")
    assert memory_label(huge).endswith(" GiB (this machine's)")


def test_the_machines_gpus_are_its_nvidia_devices(tmp_path: Path) -> None:
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "null"):
        (tmp_path / name).touch()
    assert machine_gpus(tmp_path) == 2
    assert machine_gpus(tmp_path / "absent") == 0


def test_a_gpu_type_gets_the_gpus_the_machine_has_and_its_log_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "machine_gpus", lambda: 0)
    g5 = instance_type("ml.g5.12xlarge")
    assert gpus_for(g5) == 0 and host_env(g5)["MODELBAY_NUM_GPUS"] == "0"
    assert gpu_notice(g5) == ("modelbay: ml.g5.12xlarge has 4 × NVIDIA A10G (24 GiB) but this machine has no GPU; "
                              "the program runs with SM_NUM_GPUS=0")
    monkeypatch.setattr(machine, "machine_gpus", lambda: 2)
    assert host_env(g5)["MODELBAY_NUM_GPUS"] == "2"
    assert gpu_notice(g5) == ("modelbay: ml.g5.12xlarge has 4 × NVIDIA A10G (24 GiB) but this machine has 2 GPUs; "
                              "the program runs with SM_NUM_GPUS=2")
    monkeypatch.setattr(machine, "machine_gpus", lambda: 8)
    assert (gpus_for(g5), gpu_notice(g5)) == (4, None)


def test_types_without_gpus_get_no_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "machine_gpus", lambda: 0)
    for name in ("ml.m5.large", "ml.inf2.xlarge", "ml.trn1.2xlarge"):
        assert (gpus_for(instance_type(name)), gpu_notice(instance_type(name))) == (0, None)


def test_an_instance_gets_its_vcpus_worth_of_the_least_used_cpus() -> None:
    two = InstanceType("ml.test.two", 2, 256)
    assert machine.choose_cpus(two, [0, 1, 2, 3], in_use=[[0, 1], [0]]) == [2, 3]
    assert machine.choose_cpus(two, [0, 1, 2, 3], in_use=[[0, 1, 2, 3], [2]]) == [0, 1]  # ties: lowest first
    assert machine.choose_cpus(InstanceType("ml.test.big", 8, 256), [0, 1], in_use=[]) == [0, 1]  # capped


def test_the_pids_limit_grows_with_the_vcpus_from_a_floor() -> None:
    assert machine.pids_limit(instance_type("ml.m5.large")) == 512  # 2 vCPUs: the floor
    assert machine.pids_limit(instance_type("ml.m5.4xlarge")) == 16 * 256


@pytest.mark.parametrize(("cpus", "text"), [([], ""), ([3], "3"), ([0, 1, 2, 5, 7, 8], "0-2,5,7-8")])
def test_cpu_lists_in_the_kernels_format(cpus: list[int], text: str) -> None:
    assert machine.format_cpu_list(cpus) == text
    assert machine.parse_cpu_list(text + "\n") == cpus
