"""A server of three front-door processes (MODELBAY_WORKERS=3) answers one port with the same routing tables.

Clients' connections spread over the three processes. An endpoint's traffic is moved between its two variants again
and again (UpdateEndpointWeightsAndCapacities); as soon as DescribeEndpoint says InService (the update is
acknowledged), an invocation on every connection, so through every process, reaches the variant the update named:
none is routed by the table before it. Every invocation is counted once, whichever process answered it, in
CloudWatch's Invocations and in a Prometheus scrape (which one process answers).
"""

from __future__ import annotations

import http.client
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import client
from tests.helpers import ServerProcess, serve_image, serve_program, signed_headers, wait_until
from tests.integration.models import ROLE
from tests.integration.test_endpoints import IN_SERVICE, create_config

WORKERS = 3
CONNECTIONS = 24  # kept open: the kernel spreads them over the processes (SO_REUSEPORT)
ECHO = serve_program(on_post="self.answer(b'ok')")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    started = ServerProcess(tmp_path, {"MODELBAY_WORKERS": str(WORKERS)})
    started.start()
    try:
        yield started
    finally:
        started.stop()


def front_door(server: ServerProcess) -> list[psutil.Process]:
    """The server's processes that listen on its port: its own and its workers."""
    assert server.proc is not None
    port = urlsplit(server.url).port
    main = psutil.Process(server.proc.pid)
    return [p for p in (main, *main.children()) if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
                                                       for c in p.net_connections("tcp"))]


def answering(processes: list[psutil.Process], connections: list[http.client.HTTPConnection]) -> set[int]:
    """The pids of the processes holding the server's end of these connections."""
    ours = {conn.sock.getsockname() for conn in connections if conn.sock is not None}
    return {p.pid for p in processes for c in p.net_connections("tcp")
            if c.status == psutil.CONN_ESTABLISHED and c.raddr and (c.raddr.ip, c.raddr.port) in ours}


def invoke(conn: http.client.HTTPConnection, url: str, endpoint: str) -> str:
    """The variant that answered an invocation sent on `conn` (kept open)."""
    target = f"{url}/endpoints/{endpoint}/invocations"
    headers = signed_headers("POST", target, "sagemaker", {"Content-Type": "text/plain"}, b"x")
    conn.request("POST", urlsplit(target).path, body=b"x", headers=headers)
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    return response.headers["x-Amzn-Invoked-Production-Variant"]


def test_every_worker_routes_by_the_table_an_update_acknowledged(server: ServerProcess, tmp_path: Path,
                                                                 unique: str) -> None:
    processes = front_door(server)
    assert len(processes) == WORKERS
    sagemaker: Any = client(server.url, "sagemaker")
    sagemaker.create_model(ModelName=unique, ExecutionRoleArn=ROLE,
                           PrimaryContainer={"Image": serve_image(tmp_path / "echo", ECHO)})
    config = create_config(sagemaker, unique, [("a", unique, 1, 1.0), ("b", unique, 1, 0.0)])
    sagemaker.create_endpoint(EndpointName=unique, EndpointConfigName=config)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=unique, WaiterConfig=IN_SERVICE)

    host = urlsplit(server.url)
    connections = [http.client.HTTPConnection(host.hostname or "", host.port, timeout=30) for _ in range(CONNECTIONS)]
    try:
        assert {invoke(conn, server.url, unique) for conn in connections} == {"a"}
        assert len(answering(processes, connections)) == WORKERS, "every process holds some of the connections"
        flip_weights(sagemaker, server.url, unique, connections)
    finally:
        for conn in connections:
            conn.close()
    expected = {"a": 4 * CONNECTIONS, "b": 3 * CONNECTIONS}
    wait_until(lambda: scraped(server.url, unique) == expected, 30, f"Prometheus to count {expected}")
    wait_until(lambda: {v: invocations(server.url, unique, v) for v in expected} == expected, 30,
               f"CloudWatch to count {expected}")


def flip_weights(sagemaker: Any, url: str, endpoint: str, connections: list[http.client.HTTPConnection]) -> None:
    """Move the endpoint's traffic between its variants a and b, six times (a gets 4 invocations per connection, b 3,
    the first one included); right after each update is acknowledged, an invocation on every connection reaches the
    variant the update named."""
    for turn in range(6):
        to, away = ("b", "a") if turn % 2 == 0 else ("a", "b")
        sagemaker.update_endpoint_weights_and_capacities(EndpointName=endpoint, DesiredWeightsAndCapacities=[
            {"VariantName": to, "DesiredWeight": 1.0}, {"VariantName": away, "DesiredWeight": 0.0}])
        wait_until(lambda: sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService",
                   60, "the update to be acknowledged")
        answered = [invoke(conn, url, endpoint) for conn in connections]
        assert answered == [to] * len(connections), f"turn {turn}: routed by a table the update replaced"


def scraped(url: str, endpoint: str) -> dict[str, float]:
    """modelbay_endpoint_invocations_total of the endpoint's variants, from one scrape of /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {s.labels["variant"]: s.value for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == "modelbay_endpoint_invocations_total" and s.labels["endpoint"] == endpoint}


def invocations(url: str, endpoint: str, variant: str) -> float:
    """The variant's Invocations in CloudWatch, summed over the last half hour."""
    now = datetime.now(UTC)
    points = client(url, "cloudwatch").get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName="Invocations", Statistics=["Sum"], Period=3600,
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
        StartTime=now - timedelta(minutes=30), EndTime=now + timedelta(minutes=1))["Datapoints"]
    return float(sum(point["Sum"] for point in points))


def test_a_worker_that_dies_is_started_again(server: ServerProcess) -> None:
    workers = [p for p in front_door(server) if p.pid != (server.proc.pid if server.proc else None)]
    workers[0].kill()
    workers[0].wait(10)
    wait_until(lambda: len(front_door(server)) == WORKERS, 60, "the worker to be started again")
    assert workers[0].pid not in {p.pid for p in front_door(server)}


def test_ctrl_c_stops_every_process_quietly(server: ServerProcess) -> None:
    processes = front_door(server)
    for process in processes:  # as a terminal's Ctrl-C reaches its process group
        process.send_signal(signal.SIGINT)
    for process in processes:
        process.wait(30)  # psutil: raises TimeoutExpired if it outlives its server
    assert "Traceback" not in (server.data_dir / "server.log").read_text()
