"""The direct data plane (MODELBAY_DATA_PLANE=direct): the front door hands a caller's kept-alive connection to the
model server of the endpoint it invokes, which answers it from then on, with no proxy between them.

After one invocation through the front door, each connection is the model server's: its processes hold it, the front
door's none. Every invocation the model server answers is counted as the front door counts its own. A call the lease
does not cover (another variant targeted) comes back to the front door on the same connection, and the model's error
is sagemaker-runtime's ModelError. Once a change of the endpoint's table is acknowledged (a second instance, then
another variant), the next invocation on every handed connection is routed by the new table: the connections come
back to the front door, which hands them over again only to an endpoint's sole instance.
"""

from __future__ import annotations

import contextlib
import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from modelbay.sdk import Session
from tests.conftest import client
from tests.helpers import ServerProcess, signed_headers, wait_until
from tests.integration.models import echo_model
from tests.integration.test_endpoints import IN_SERVICE
from tests.integration.test_front_door_workers import invocations, scraped

CONNECTIONS = 8
CALLS = 5  # on each connection


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = ServerProcess(tmp_path_factory.mktemp("direct"), {"MODELBAY_DATA_PLANE": "direct",
                                                                "MODELBAY_AUTH": "open", "MODELBAY_WORKERS": "2"})
    started.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def model(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    return echo_model(Session(url=server.url), tmp_path_factory.mktemp("echo")).create()


def serve(sagemaker: Any, endpoint: str, model: str, variant: str) -> None:
    """The endpoint (created, or updated) served by one instance of `variant`; returns once InService."""
    config = f"{endpoint}-{variant}"
    sagemaker.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[
        {"VariantName": variant, "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    if sagemaker.list_endpoints(NameContains=endpoint)["Endpoints"]:
        sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    else:
        sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=endpoint, WaiterConfig=IN_SERVICE)


def call(conn: http.client.HTTPConnection, url: str, endpoint: str, body: bytes = b"x",
         **headers: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    """An invocation sent on `conn` (kept open): its status, headers and body."""
    target = f"{url}/endpoints/{endpoint}/invocations"
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    conn.request("POST", urlsplit(target).path, body=body, headers=signed_headers(
        "POST", target, "sagemaker", {"Content-Type": "text/plain", **named}, body))
    response = conn.getresponse()
    return response.status, response.headers, response.read()


def holders(server: ServerProcess, connections: list[http.client.HTTPConnection]) -> dict[int, int]:
    """Of the server's processes (the front door's and its instances'), each one holding the server's end of some
    of these connections, and how many."""
    assert server.proc is not None
    ours = {conn.sock.getsockname() for conn in connections if conn.sock is not None}
    main = psutil.Process(server.proc.pid)
    found: dict[int, int] = {}
    for process in (main, *main.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):  # an instance that ended meanwhile
            held = sum(1 for c in process.net_connections("tcp")
                       if c.status == psutil.CONN_ESTABLISHED and c.raddr and (c.raddr.ip, c.raddr.port) in ours)
            if held:
                found[process.pid] = held
    return found


def model_servers(server: ServerProcess) -> set[int]:
    """The pids of the server's instances' model server workers (their listening ports are in their own networks,
    where the host's view of its sockets does not reach)."""
    assert server.proc is not None
    found = set()
    for process in psutil.Process(server.proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if "modelbay.container.worker" in process.cmdline():
                found.add(process.pid)
    return found


def front_door(server: ServerProcess) -> set[int]:
    """The pids of the front door's processes: the server's own and its workers."""
    assert server.proc is not None
    main = psutil.Process(server.proc.pid)
    return {main.pid, *(p.pid for p in main.children() if any("multiprocessing" in arg for arg in p.cmdline()))}


@pytest.fixture
def connections(server: ServerProcess) -> Iterator[list[http.client.HTTPConnection]]:
    host = urlsplit(server.url)
    opened = [http.client.HTTPConnection(host.hostname or "", host.port, timeout=30) for _ in range(CONNECTIONS)]
    yield opened
    for conn in opened:
        conn.close()


def test_connections_are_the_model_servers_after_one_invocation_and_each_is_counted(
        server: ServerProcess, model: str, unique: str, connections: list[http.client.HTTPConnection]) -> None:
    sagemaker: Any = client(server.url, "sagemaker")
    serve(sagemaker, unique, model, "a")
    for conn in connections:
        status, headers, body = call(conn, server.url, unique, b"hello")
        assert (status, body, headers["x-Amzn-Invoked-Production-Variant"]) == (200, b"text/plain:HELLO", "a")
    held = holders(server, connections)
    assert set(held) <= model_servers(server) and sum(held.values()) == CONNECTIONS, "the model server holds each"
    for conn in connections:
        for _ in range(CALLS - 1):
            assert call(conn, server.url, unique)[::2] == (200, b"text/plain:X")
    # a call the lease does not cover is the front door's, on the same connection, and the next one too
    status, _, body = call(connections[0], server.url, unique, X_Amzn_SageMaker_Target_Variant="nope")
    assert status == 400 and "does not have a production variant named nope" in json.loads(body)["message"]
    assert call(connections[0], server.url, unique)[0] == 200
    # the model's error, from the model server, in sagemaker-runtime's shape
    status, headers, body = call(connections[1], server.url, unique, b"boom")
    assert (status, headers["x-amzn-ErrorType"], json.loads(body)["OriginalStatusCode"]) == (424, "ModelError", 500)
    assert "boom" in json.loads(body)["OriginalMessage"]
    expected = {"a": CONNECTIONS * CALLS + 2}  # the one refused as a ValidationError is no invocation
    wait_until(lambda: scraped(server.url, unique) == expected, 30, f"Prometheus to count {expected}")
    wait_until(lambda: {v: invocations(server.url, unique, v) for v in expected} == expected, 60,
               f"CloudWatch to count {expected}")


def test_a_change_of_table_takes_the_handed_connections_back_before_it_is_acknowledged(
        server: ServerProcess, model: str, unique: str, connections: list[http.client.HTTPConnection]) -> None:
    sagemaker: Any = client(server.url, "sagemaker")
    serve(sagemaker, unique, model, "a")
    for conn in connections:
        assert call(conn, server.url, unique)[0] == 200
    assert set(holders(server, connections)) <= model_servers(server)
    # a second instance: the instance that holds the connections keeps serving, but no longer alone
    sagemaker.update_endpoint_weights_and_capacities(EndpointName=unique, DesiredWeightsAndCapacities=[
        {"VariantName": "a", "DesiredInstanceCount": 2}])
    wait_until(lambda: sagemaker.describe_endpoint(EndpointName=unique)["EndpointStatus"] == "InService", 120,
               "the update to be acknowledged")
    instances = httpx.get(f"{server.url}/_modelbay/v1/endpoints/{unique}/instances", timeout=10).json()["Instances"]
    assert len(instances) == 2
    for conn in connections:
        status, headers, body = call(conn, server.url, unique)
        assert status == 200, (headers, body)
    assert set(holders(server, connections)) <= front_door(server), "back with the front door, which balances them"
    # another variant in the instances' place: the next invocation on every connection reaches it
    serve(sagemaker, unique, model, "b")
    answered = [call(conn, server.url, unique)[1]["x-Amzn-Invoked-Production-Variant"] for conn in connections]
    assert answered == ["b"] * CONNECTIONS, "routed by a table the update replaced"
    assert set(holders(server, connections)) <= model_servers(server), "handed to the new variant's model server"
