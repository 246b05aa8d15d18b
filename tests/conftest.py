"""Fixtures shared by the whole suite: real servers on free loopback ports; the check for leftover processes; fresh
SQLite metadata stores copied from one migrated once a session.

MODELBAY_TEST_RUNTIME=ray runs the shared `server` on a Ray cluster of this machine (a node per zone) with its
objects in moto's S3, as `make test` runs the training and hosting suites once more.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from sqlalchemy import Engine

import modelbay.store.metadata.store as metadata_store
from modelbay.store.metadata.engine import create_metadata_engine
from tests.helpers import ROOT_KEY, SHARED_ENVIRONMENTS, ServerProcess, modelbay_server, moto_s3_server
from tests.ray_cluster import NodeSpec, RayCluster, ray_cluster

pytest_plugins = ("tests.leftovers",)  # the run fails if a process it started is still running at its end

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CREDENTIALS = {"aws_access_key_id": ROOT_KEY.access_key_id, "aws_secret_access_key": ROOT_KEY.secret_access_key,
               "region_name": "us-east-1"}
ON_RAY = os.environ.get("MODELBAY_TEST_RUNTIME") == "ray"  # the shared server runs its instances on a Ray cluster
RAY_ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
# A node holds two of the suites' 2-vCPU, 8 GiB instances (Ray's counts to place by: the nodes share this machine), so
# an endpoint's old and new fleets fit side by side during an update.
RAY_NODE = {"cpus": 4, "memory": 20 * 1024**3}


def pytest_configure(config: pytest.Config) -> None:
    """Framework environments go to the suite's shared cache (as `make test` sets it), never the user's own; the
    suite's own calls (the SDK's and the CLI's, in this process and its children) sign with the test servers' root
    key, as a user's do once `modelbay env` has set theirs."""
    os.environ.setdefault("MODELBAY_ENVIRONMENTS_DIR", str(SHARED_ENVIRONMENTS))
    os.environ |= {"AWS_ACCESS_KEY_ID": ROOT_KEY.access_key_id, "AWS_SECRET_ACCESS_KEY": ROOT_KEY.secret_access_key}


@pytest.fixture(scope="session", autouse=True)
def migrated_once(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A fresh SQLite metadata database opened in this process starts as a copy of one the migrations brought to head
    once a session: running every migration takes about 0.2 s of CPU, and most unit tests open a store of their own
    (64 % of the controllers' and services' tests' CPU went to it). The copy is the migrations' own result; a database
    that exists (an older revision, one opened twice) is migrated as ever, and the migrations' tests call them."""
    template = tmp_path_factory.mktemp("migrated") / "metadata.db"
    upgrade = metadata_store.upgrade_to_head
    engine = create_metadata_engine(f"sqlite:///{template}")
    upgrade(engine, None)
    engine.dispose()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metadata_store, "upgrade_to_head", _from_template(template, upgrade))
        yield


def _from_template(template: Path, upgrade: Callable[[Engine, str | None], None]) -> Callable[..., None]:
    def upgrade_to_head(engine: Engine, schema: str | None = None) -> None:
        path = engine.url.database
        if engine.dialect.name == "sqlite" and path not in (None, "", ":memory:") and not Path(path).exists():
            copy = Path(f"{path}.{uuid.uuid4().hex}")
            shutil.copyfile(template, copy)
            with contextlib.suppress(FileExistsError):  # another thread made it first: it is migrated as ever
                os.link(copy, path)  # made whole or not at all: no connection sees a half-copied file
            copy.unlink()
        upgrade(engine, schema)  # at head already: one look at its revision
    return upgrade_to_head


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests (marked anyio) run on asyncio, as the server does."""
    return "asyncio"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's S3 server, for the S3-compatible object-store backend and comparisons."""
    with moto_s3_server() as url:
        yield url


@contextlib.contextmanager
def ray_backends(root: Path, nodes: Sequence[NodeSpec],
                 environ: dict[str, str] | None = None) -> Iterator[tuple[dict[str, str], RayCluster]]:
    """A Ray cluster of `nodes` (the first its head; `environ` theirs, else this process's) and moto's S3; yields
    the environment of a server running its instances there, with the cluster."""
    with moto_s3_server() as s3_url, ray_cluster(root, nodes, environ) as cluster:
        env = {"MODELBAY_RUNTIME": "ray", "MODELBAY_RAY_ADDRESS": cluster.address, "MODELBAY_S3_ENDPOINT_URL": s3_url,
               "MODELBAY_S3_ACCESS_KEY_ID": "testing", "MODELBAY_S3_SECRET_ACCESS_KEY": "testing",
               "MODELBAY_ZONES": ",".join(sorted({node.zone for node in nodes}))}
        yield env, cluster


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real `modelbay server` shared by a test session, in `iam` mode; tests use unique resource names. With
    MODELBAY_TEST_RUNTIME=ray, on a cluster of a node per zone (stopped after the server)."""
    with contextlib.ExitStack() as backends:
        env: dict[str, str] = {}
        if ON_RAY:
            env, _ = backends.enter_context(ray_backends(tmp_path_factory.mktemp("ray"),
                                                         [NodeSpec(zone, **RAY_NODE) for zone in RAY_ZONES]))
        with modelbay_server(tmp_path_factory.mktemp("server"), env) as proc:
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
