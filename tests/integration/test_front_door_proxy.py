"""HAProxy as the data plane (MODELBAY_DATA_PLANE=haproxy): it answers plain invocations itself, by the tables the
controllers acknowledged, and every invocation it answers is counted as the front door counts its own.

An endpoint's traffic is moved between its two variants again and again; as soon as DescribeEndpoint says InService,
an invocation on each of many keep-alive connections reaches the variant the update named. HAProxy, not the front
door behind it, called the model: only HAProxy holds connections to the model servers. Each of HAProxy's threads
runs as a batch task. An endpoint HAProxy cannot serve alone (data capture) is answered by the front door, on the
same port. An HAProxy that dies is started again, and routes every endpoint again. Ctrl-C stops the server and its
HAProxy, quietly.
"""

from __future__ import annotations

import http.client
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from tests.conftest import client
from tests.helpers import ServerProcess, serve_image, serve_program, wait_until
from tests.integration.models import ROLE
from tests.integration.test_endpoints import IN_SERVICE, create_config
from tests.integration.test_front_door_workers import flip_weights, invocations, invoke, scraped

CONNECTIONS = 24
ECHO = serve_program(on_post="self.answer(b'ok')")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    started = ServerProcess(tmp_path, {"MODELBAY_DATA_PLANE": "haproxy", "MODELBAY_AUTH": "open",
                                       "MODELBAY_WORKERS": "2"})
    started.start()
    try:
        yield started
    finally:
        started.stop()


def processes(server: ServerProcess) -> tuple[list[psutil.Process], psutil.Process]:
    """The front door's processes (the server's own and its workers) and its HAProxy."""
    assert server.proc is not None
    main = psutil.Process(server.proc.pid)
    workers = [p for p in main.children() if any("multiprocessing" in arg for arg in p.cmdline())]
    return [main, *workers], next(p for p in main.children()
                                  if p.name() == "haproxy" and p.status() != psutil.STATUS_ZOMBIE)


def model_ports(url: str, endpoint: str) -> set[int]:
    instances = httpx.get(f"{url}/_modelbay/v1/endpoints/{endpoint}/instances", timeout=10).json()["Instances"]
    return {urlsplit(u).port or 80 for instance in instances for u in instance["urls"]}


def connected_to(processes: list[psutil.Process], ports: set[int]) -> bool:
    return any(c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr.port in ports
               for process in processes for c in process.net_connections("tcp"))


def deploy(server: ServerProcess, tmp_path: Path, name: str, **config: Any) -> Any:
    sagemaker: Any = client(server.url, "sagemaker")
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE,
                           PrimaryContainer={"Image": serve_image(tmp_path / "echo", ECHO)})
    create_config(sagemaker, name, [("a", name, 1, 1.0), ("b", name, 1, 0.0)])
    if config:
        sagemaker.delete_endpoint_config(EndpointConfigName=name)
        sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
            {"VariantName": v, "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1,
             "InitialVariantWeight": w} for v, w in (("a", 1.0), ("b", 0.0))], **config)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=IN_SERVICE)
    return sagemaker


def test_haproxy_routes_by_the_table_an_update_acknowledged(server: ServerProcess, tmp_path: Path,
                                                           unique: str) -> None:
    sagemaker = deploy(server, tmp_path, unique)
    host = urlsplit(server.url)
    connections = [http.client.HTTPConnection(host.hostname or "", host.port, timeout=30) for _ in range(CONNECTIONS)]
    try:
        assert {invoke(conn, server.url, unique) for conn in connections} == {"a"}
        flip_weights(sagemaker, server.url, unique, connections)
    finally:
        for conn in connections:
            conn.close()
    front_door, proxy = processes(server)
    ports = model_ports(server.url, unique)
    assert connected_to([proxy], ports), "HAProxy keeps its connections to the models it called"
    # it does not preempt a model server's worker to forward each answer (front_door_proxy.BATCH_SCHEDULED)
    assert {os.sched_getscheduler(thread.id) for thread in proxy.threads()} == {os.SCHED_BATCH}
    # the front door's would be kept too; a health check's /ping, on a connection of its own, may be under way
    wait_until(lambda: not connected_to(front_door, ports), 10, "the front door to hold no connection to the models")
    expected = {"a": 4 * CONNECTIONS, "b": 3 * CONNECTIONS}
    wait_until(lambda: scraped(server.url, unique) == expected, 30, f"Prometheus to count {expected}")
    wait_until(lambda: {v: invocations(server.url, unique, v) for v in expected} == expected, 30,
               f"CloudWatch to count {expected}")


def test_an_endpoint_haproxy_cannot_serve_alone_is_answered_by_the_front_door(server: ServerProcess, tmp_path: Path,
                                                                               unique: str) -> None:
    client(server.url, "s3").create_bucket(Bucket=unique)
    deploy(server, tmp_path, unique, DataCaptureConfig={
        "EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": f"s3://{unique}/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]})
    runtime: Any = client(server.url, "sagemaker-runtime")
    answer = runtime.invoke_endpoint(EndpointName=unique, Body=b"x", ContentType="text/plain")
    assert (answer["Body"].read(), answer["InvokedProductionVariant"]) == (b"ok", "a")
    front_door, proxy = processes(server)
    ports = model_ports(server.url, unique)
    assert connected_to(front_door, ports) and not connected_to([proxy], ports)
    wait_until(lambda: client(server.url, "s3").list_objects_v2(Bucket=unique).get("KeyCount", 0) > 0, 30,
               "the invocation to be captured")


def test_haproxy_that_dies_is_started_again_with_every_route(server: ServerProcess, tmp_path: Path,
                                                            unique: str) -> None:
    deploy(server, tmp_path, unique)
    runtime: Any = client(server.url, "sagemaker-runtime")
    _, proxy = processes(server)
    proxy.kill()
    assert server.proc is not None
    main = psutil.Process(server.proc.pid)
    wait_until(lambda: any(p.name() == "haproxy" and p.pid != proxy.pid and p.status() != psutil.STATUS_ZOMBIE
                           for p in main.children()), 30, "HAProxy to be started again")
    _, again = processes(server)
    ports = model_ports(server.url, unique)

    def answered_by_haproxy() -> bool:
        answer = runtime.invoke_endpoint(EndpointName=unique, Body=b"x", ContentType="text/plain", TargetVariant="b")
        assert (answer["Body"].read(), answer["InvokedProductionVariant"]) == (b"ok", "b")
        return connected_to([again], ports)

    # until the new HAProxy has applied the tables, the front door behind it answers
    wait_until(answered_by_haproxy, 30, "the new HAProxy to route the endpoint")


def test_ctrl_c_stops_the_server_and_its_haproxy_quietly(server: ServerProcess, tmp_path: Path, unique: str) -> None:
    deploy(server, tmp_path, unique)
    front_door, proxy = processes(server)
    for process in front_door:  # as a terminal's Ctrl-C reaches its process group (HAProxy has a session of its own)
        process.send_signal(signal.SIGINT)
    for process in (*front_door, proxy):
        process.wait(30)  # psutil: raises TimeoutExpired if it outlives its server
    assert "Traceback" not in (server.data_dir / "server.log").read_text()
