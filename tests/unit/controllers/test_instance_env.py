"""free_port: a port below the kernel's ephemeral range, bindable; the kernel's choice when none is free there."""

from __future__ import annotations

import socket

import pytest

from modelbay.controllers import instance_env
from modelbay.controllers.instance_env import free_port


def test_a_free_port_lies_below_the_ephemeral_range_and_can_be_bound() -> None:
    low, _ = instance_env._ephemeral_ports()
    for _ in range(20):
        port = free_port()
        assert 10_000 <= port < low
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_with_every_choice_taken_the_kernel_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        only = taken.getsockname()[1]
        monkeypatch.setattr(instance_env, "_LOWEST_CHOSEN", only)
        monkeypatch.setattr(instance_env, "_ephemeral_ports", lambda: (only + 1, only + 1))
        port = free_port()
    assert port != only
