"""Fixtures shared by the whole suite: real servers on free loopback ports; the check for leftover processes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.helpers import ROOT_KEY, SHARED_ENVIRONMENTS, ServerProcess, modelbay_server, moto_s3_server

pytest_plugins = ("tests.leftovers",)  # the run fails if a process it started is still running at its end

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CREDENTIALS = {"aws_access_key_id": ROOT_KEY.access_key_id, "aws_secret_access_key": ROOT_KEY.secret_access_key,
               "region_name": "us-east-1"}


def pytest_configure(config: pytest.Config) -> None:
    """Framework environments go to the suite's shared cache (as `make test` sets it), never the user's own; the
    suite's own calls (the SDK's and the CLI's, in this process and its children) sign with the test servers' root
    key, as a user's do once `modelbay env` has set theirs."""
    os.environ.setdefault("MODELBAY_ENVIRONMENTS_DIR", str(SHARED_ENVIRONMENTS))
    os.environ |= {"AWS_ACCESS_KEY_ID": ROOT_KEY.access_key_id, "AWS_SECRET_ACCESS_KEY": ROOT_KEY.secret_access_key}


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests (marked anyio) run on asyncio, as the server does."""
    return "asyncio"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's S3 server, for the S3-compatible object-store backend and comparisons."""
    with moto_s3_server() as url:
        yield url


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real `modelbay server` shared by a test session, in `iam` mode; tests use unique resource names."""
    with modelbay_server(tmp_path_factory.mktemp("server")) as proc:
        yield proc


@pytest.fixture(scope="session")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server in `open` mode (any key, unsigned calls answered), for what only that mode does."""
    with modelbay_server(tmp_path_factory.mktemp("open-server"), env={"MODELBAY_AUTH": "open"}) as proc:
        yield proc


def client(url: str, service: str, **config: Any) -> Any:
    """A boto3 client pointed at a server, as a user would make one."""
    return boto3.client(service, endpoint_url=url, config=Config(retries={"max_attempts": 1}, **config),
                        **CREDENTIALS)


@pytest.fixture(scope="session")
def sagemaker(server: ServerProcess) -> Any:
    return client(server.url, "sagemaker")


@pytest.fixture(scope="session")
def s3(server: ServerProcess) -> Any:
    return client(server.url, "s3")


@pytest.fixture
def unique() -> str:
    """A name no other test uses (lower case, valid for buckets and SageMaker resources)."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    return tmp_path
