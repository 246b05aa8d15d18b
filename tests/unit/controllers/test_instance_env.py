"""free_port: a port below the kernel's ephemeral range, bindable; the kernel's choice when none is free there.
api_env: where a job's program calls the API, when the server has said, and with which credentials."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelbay.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_EXECUTION_ROLE, DEFAULT_SECRET_ACCESS_KEY, Settings
from modelbay.controllers import instance_env
from modelbay.controllers.instance_env import api_env, free_port
from modelbay.platform import Platform, open_platform
from modelbay.security.principal import ASSUMED_ROLE, Principal
from modelbay.services.base import Context
from modelbay.services.iam.roles import ensure_default_role

URL = "http://169.254.170.2:5000"
ROLE = f"arn:aws:iam::000000000000:role/{DEFAULT_EXECUTION_ROLE}"


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


def test_a_jobs_program_is_told_where_the_api_is_and_its_region_only_once_the_server_has_said(
        tmp_path: Path) -> None:
    with opened(Settings(region="eu-west-1", data_dir=tmp_path)) as platform:
        assert api_env(platform, ROLE, "job", 600) == {}
    with opened(Settings(region="eu-west-1", data_dir=tmp_path, instance_api_url=URL)) as platform:
        told = api_env(platform, ROLE, "job", 600)
    assert (told["AWS_ENDPOINT_URL"], told["AWS_REGION"], told["AWS_DEFAULT_REGION"]) == (URL, "eu-west-1", "eu-west-1")
    assert (told["AWS_ACCESS_KEY_ID"], told["AWS_SECRET_ACCESS_KEY"]) == (
        DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY)  # open mode: the key any client gets


def test_in_iam_mode_a_jobs_program_gets_a_session_of_its_execution_role(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, instance_api_url=URL, auth="iam")
    with opened(settings) as platform:
        ensure_default_role(Context(platform, "test", platform.settings.region, Principal(None, "000000000000")))
        told = api_env(platform, ROLE, "SageMaker-job", 600)
        session = platform.metadata.sessions.find(told["AWS_ACCESS_KEY_ID"])
        assert session is not None and (session.kind, session.name, session.session_name) == (
            ASSUMED_ROLE, DEFAULT_EXECUTION_ROLE, "SageMaker-job")
        assert 590 < (session.expires_at - datetime.now(UTC)).total_seconds() <= 600
        assert platform.master_key.unseal(session.sealed_secret, told["AWS_ACCESS_KEY_ID"].encode()) == (
            told["AWS_SECRET_ACCESS_KEY"].encode())
        assert hashlib.sha256(told["AWS_SESSION_TOKEN"].encode()).hexdigest() == session.token_sha256
        unknown = api_env(platform, "arn:aws:iam::000000000000:role/Nobody", "job", 600)
    assert "AWS_ACCESS_KEY_ID" not in unknown and unknown["AWS_ENDPOINT_URL"] == URL


@contextmanager
def opened(settings: Settings) -> Iterator[Platform]:
    platform = open_platform(settings)
    try:
        yield platform
    finally:
        platform.metadata.close()
