"""free_port: a port below the kernel's ephemeral range, bindable; the kernel's choice when none is free there.
api_env: where a job's program calls the API, when the server has said."""

from __future__ import annotations

import socket

import pytest

from modelbay.config import Settings
from modelbay.controllers import instance_env
from modelbay.controllers.instance_env import api_env, free_port


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


def test_a_jobs_program_is_told_where_the_api_is_and_its_region_only_once_the_server_has_said() -> None:
    assert api_env(Settings(region="eu-west-1")) == {}
    told = api_env(Settings(region="eu-west-1", instance_api_url="http://169.254.170.2:5000"))
    assert (told["AWS_ENDPOINT_URL"], told["AWS_REGION"], told["AWS_DEFAULT_REGION"]) == (
        "http://169.254.170.2:5000", "eu-west-1", "eu-west-1")
    assert told["AWS_ACCESS_KEY_ID"] and told["AWS_SECRET_ACCESS_KEY"]
