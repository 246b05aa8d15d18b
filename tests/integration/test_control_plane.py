"""Two `modelbay server` processes on one PostgreSQL database and one S3-compatible store serve the API together.

One leads (runs the controllers); an endpoint created through the follower comes up, and answers through both, and
its instances' logs, shipped by the leader, read through the follower.
The leader is SIGKILLed while a client invokes through the other server and another creates models through both
(retrying a failed call on the other server, as a client behind a load balancer would): the survivor takes the
lead within seconds, answers every invocation meanwhile (the dead leader's instances keep serving until its own
replace them: its runtime state is its own data directory's, so it starts new ones), its controllers bring up a new
endpoint, and every model answered exists once. The killed server, started again, follows, and stops its old
instances once no table routes to them.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from modelbay.config import Settings
from modelbay.runtime.backends import open_runtime
from modelbay.store.metadata import MetadataStore, open_metadata_store
from tests.conftest import client
from tests.helpers import ServerProcess, serve_image, serve_program, wait_until
from tests.integration.models import ROLE
from tests.integration.test_endpoints import IN_SERVICE, create_config
from tests.unit.store.metadata.conftest import fresh_postgres_database

pytestmark = pytest.mark.postgresql

# A model server that answers with a token of its own process, to tell which instance answered; it logs it first.
WHO = serve_program(preamble="TOKEN = os.urandom(8).hex().encode(); print('serving', TOKEN.decode(), flush=True)",
                    on_post="self.answer(TOKEN)")


@pytest.fixture
def database() -> Iterator[MetadataStore]:
    """A fresh PostgreSQL database, and the test's own view of it (to read the leader record)."""
    with fresh_postgres_database() as url:
        store = open_metadata_store(url)
        try:
            yield store
        finally:
            store.close()


@pytest.fixture
def servers(tmp_path: Path, database: MetadataStore, moto_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two servers on the database and moto's S3, each with a data directory of its own; the first leads."""
    env = {"MODELBAY_DATABASE_URL": database.db.engine.url.render_as_string(hide_password=False),
           "MODELBAY_S3_ENDPOINT_URL": moto_url, "MODELBAY_S3_ACCESS_KEY_ID": "testing",
           "MODELBAY_S3_SECRET_ACCESS_KEY": "testing", "MODELBAY_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
    started: list[ServerProcess] = []
    try:
        for name in ("first", "second"):
            (tmp_path / name).mkdir()
            started.append(ServerProcess(tmp_path / name, env))
            started[-1].start()
            wait_until(lambda: leader_url(database) == started[0].url, 30, "the first server to lead")
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()  # the killed one's too: its instances, which outlived it


def leader_url(database: MetadataStore) -> str | None:
    leader = database.leadership.leader()
    return None if leader is None else leader.url


def deploy(sagemaker: Any, name: str, model: str) -> None:
    config = create_config(sagemaker, name, [("a", model, 2, 1.0)])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=IN_SERVICE)


def who(runtime: Any, endpoint: str) -> str:
    """The token of the model server that answered an invocation."""
    body: bytes = runtime.invoke_endpoint(EndpointName=endpoint, Body=b"x", ContentType="text/plain")["Body"].read()
    return body.decode()


class Repeatedly(threading.Thread):
    """Calls `call()` again and again until stopped; keeps what it returned and what it raised."""

    def __init__(self, call: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.call, self.stopping = call, threading.Event()
        self.results: list[object] = []
        self.failures: list[Exception] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.results.append(self.call())
            except Exception as error:  # counted, and the test says which
                self.failures.append(error)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=60)


class ModelCreator:
    """Creates models named <prefix>-<n> through the servers in turn; a call that fails to reach its server (or
    breaks off) is sent to the other one. A model is answered when a server says it was created, or that it exists
    (the first server created it, then died before answering)."""

    def __init__(self, urls: list[str], prefix: str, image: str) -> None:
        self.clients = [client(url, "sagemaker") for url in urls]
        self.prefix, self.image = prefix, image
        self.answered: list[str] = []
        self.count = 0

    def create_next(self) -> str:
        name = f"{self.prefix}-{self.count}"
        self.count += 1
        for attempt in range(6):
            sagemaker = self.clients[(self.count + attempt) % len(self.clients)]
            try:
                sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": self.image})
            except BotoCoreError:  # not reached, or cut off: try the other server
                continue
            except ClientError as error:
                if "already existing" not in error.response["Error"]["Message"]:
                    raise
            self.answered.append(name)
            return name
        raise RuntimeError(f"no server answered CreateModel {name}")


def test_the_survivor_takes_the_lead_and_serves_without_a_gap(servers: tuple[ServerProcess, ServerProcess],
                                                              database: MetadataStore, tmp_path: Path,
                                                              unique: str) -> None:
    leader, follower = servers
    sagemaker = client(follower.url, "sagemaker")
    image = serve_image(tmp_path / "who", WHO)
    sagemaker.create_model(ModelName=unique, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": image})
    deploy(sagemaker, unique, unique)  # through the follower: the leader's controller brings it up
    through = {server.url: client(server.url, "sagemaker-runtime") for server in servers}
    wait_until(lambda: all(_answers(runtime, unique) for runtime in through.values()), 10, "both servers to route")
    before = {who(runtime, unique) for runtime in through.values() for _ in range(20)}
    assert len(before) == 2  # both instances, through both servers
    logs = client(follower.url, "logs")  # what the leader's controller shipped, read through the follower
    wait_until(lambda: logged_tokens(logs, unique) == before, 30, "the instances' logs to read through the follower")

    invoking = Repeatedly(lambda: who(through[follower.url], unique))
    creator = ModelCreator([leader.url, follower.url], unique, image)
    creating = Repeatedly(creator.create_next)
    invoking.start()
    creating.start()
    wait_until(lambda: len(creator.answered) >= 10, 30, "models to be created through both servers")
    leader.kill()
    killed = time.monotonic()
    wait_until(lambda: leader_url(database) == follower.url, 20, "the survivor to lead")
    print(f"fail-over: the survivor leads {time.monotonic() - killed:.2f} s after the leader was killed")
    wait_until(lambda: len(creator.answered) >= 30, 60, "models to be created after the fail-over")
    creating.stop()

    # the new leader's controllers: a new endpoint comes up; the endpoint it inherited gets instances of its own
    deploy(sagemaker, unique + "-after", unique)
    wait_until(lambda: not {who(through[follower.url], unique) for _ in range(20)} & before, 60,
               "the new leader's own instances to serve the endpoint")
    invoking.stop()
    assert invoking.failures == [] and len(invoking.results) > 50
    assert who(through[follower.url], unique + "-after")

    assert running_instances(leader, unique)  # they outlived their server
    leader.start()  # on its data directory again, it follows, and stops its instances no table routes to now
    assert leader_url(database) == follower.url
    wait_until(lambda: not running_instances(leader, unique), 30, "the former leader's instances to stop")

    listed = [m["ModelName"] for page in sagemaker.get_paginator("list_models").paginate(NameContains=unique + "-")
              for m in page["Models"]]
    assert sorted(listed) == sorted(set(listed))  # none twice
    assert set(creator.answered) <= set(listed)  # every model answered exists
    assert set(listed) <= {f"{unique}-{n}" for n in range(creator.count)}  # and nothing else
    assert creating.failures == []


def running_instances(server: ServerProcess, endpoint: str) -> list[str]:
    """The endpoint's instances running under the server's runtime state (its data directory)."""
    runtime = open_runtime(Settings.from_env(server.env), server.data_dir / "runtime")
    try:
        return [instance.id for instance in runtime.list({"endpoint": endpoint}) if instance.is_alive]
    finally:
        runtime.close()


def logged_tokens(logs: Any, endpoint: str) -> set[str]:
    """The tokens the endpoint's model servers logged, as CloudWatch Logs answers (nothing before its first log)."""
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    try:
        streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    except ClientError:  # no log group yet
        return set()
    events = (event for stream in streams for event in logs.get_log_events(
        logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True)["events"])
    return {event["message"].removeprefix("serving ") for event in events if event["message"].startswith("serving ")}


def _answers(runtime: Any, endpoint: str) -> bool:
    try:
        return bool(who(runtime, endpoint))
    except ClientError:
        return False
