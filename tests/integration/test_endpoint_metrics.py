"""The invocation metrics SageMaker publishes, through boto3: InvokeEndpoint (whole and streamed) against the
front door of an in-process server whose metric buffer is flushed by the server's own loop; read back with
GetMetricStatistics and GetMetricData, and scraped from /metrics with prometheus-client's parser.

As in test_invoke_endpoint.py, routes are published to the app's router by the test, to fake model servers on
the server's event loop: the model's statuses and latency are the test's to choose.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from modelbay.api.app import build_app
from modelbay.config import Settings
from modelbay.controllers.loops import FLUSH_INTERVAL_S, every
from modelbay.platform import Platform
from modelbay.server import bind
from modelbay.serving.router import Backend, VariantRoute
from tests.conftest import client
from tests.helpers import wait_until
from tests.unit.serving.model_servers import FakeModel, Reply, Seen, echo, failing

VARIANT = "AllTraffic"


@contextlib.asynccontextmanager
async def flushing(platform: Platform) -> AsyncIterator[None]:
    """The server's metric flush loop alone (no controllers: the test publishes the routes)."""
    stopping = asyncio.Event()
    task = asyncio.create_task(every(FLUSH_INTERVAL_S, platform.publisher.flush, stopping))
    yield
    stopping.set()
    await task


class Stack:
    def __init__(self, url: str, platform: Platform, loop: asyncio.AbstractEventLoop) -> None:
        self.url, self.platform, self.loop = url, platform, loop
        self.models: list[FakeModel] = []

    def serve(self, endpoint: str, answer: Any) -> None:
        model = asyncio.run_coroutine_threadsafe(FakeModel(endpoint, answer).start(), self.loop).result(10)
        self.models.append(model)
        self.platform.router.publish(endpoint, [VariantRoute(VARIANT, 1.0, (Backend(f"{endpoint}-1", "us-east-1a",
                                                                                     (model.url,)),))])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    app = build_app(Settings(data_dir=tmp_path_factory.mktemp("metrics")), background=flushing)
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, http="httptools", lifespan="on", log_level="warning"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(sockets=[sock]),))
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), 30, "the in-process server to listen")
        stack = Stack(f"http://127.0.0.1:{sock.getsockname()[1]}", app.state.platform, loop)
        yield stack
        for model in stack.models:
            asyncio.run_coroutine_threadsafe(model.stop(), loop).result(10)
    finally:
        server.should_exit = True
        thread.join()
        loop.close()


def statistics(cloudwatch: Any, endpoint: str, name: str, stats: list[str]) -> dict[str, float]:
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName=name, Statistics=stats, Period=3600,
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": VARIANT}],
        StartTime=now - timedelta(minutes=30), EndTime=now + timedelta(minutes=1))["Datapoints"]
    return points[0] if points else {}


async def slow_echo(model: FakeModel, seen: Seen) -> Reply:
    await asyncio.sleep(0.05)  # the model's own time, which ModelLatency must show
    return await echo(model, seen)


def test_counts_errors_and_latency_of_invocations(stack: Stack, unique: str) -> None:
    runtime, cloudwatch = client(stack.url, "sagemaker-runtime"), client(stack.url, "cloudwatch")
    ok, bad_request, broken = f"{unique}-ok", f"{unique}-400", f"{unique}-500"
    stack.serve(ok, slow_echo)
    stack.serve(bad_request, failing(400, b"no such feature"))
    stack.serve(broken, failing(503, b"overloaded"))
    for _ in range(3):
        runtime.invoke_endpoint(EndpointName=ok, Body=b"1,2", ContentType="text/csv")
    events = runtime.invoke_endpoint_with_response_stream(EndpointName=ok, Body=b"3,4")["Body"]
    assert b"".join(event["PayloadPart"]["Bytes"] for event in events) == f"3,4|{ok}".encode()
    for endpoint, times in ((bad_request, 2), (broken, 1)):
        for _ in range(times):
            with pytest.raises(ClientError, match="ModelError"):
                runtime.invoke_endpoint(EndpointName=endpoint, Body=b"1,2")

    wait_until(lambda: statistics(cloudwatch, ok, "Invocations", ["Sum"]).get("Sum") == 4, 10,
               "the invocations to be flushed")
    assert statistics(cloudwatch, ok, "Invocation4XXErrors", ["Sum", "SampleCount"]) | {"Timestamp": None} == {
        "Sum": 0, "SampleCount": 4, "Unit": "None", "Timestamp": None}
    latency = statistics(cloudwatch, ok, "ModelLatency", ["Minimum", "Maximum"])
    assert latency["Unit"] == "Microseconds" and 50_000 <= latency["Minimum"] <= latency["Maximum"] < 5_000_000
    overhead = statistics(cloudwatch, ok, "OverheadLatency", ["Maximum"])["Maximum"]
    assert 0 < overhead < latency["Minimum"]  # the front door's own share is well under the model's 50 ms
    wait_until(lambda: statistics(cloudwatch, broken, "Invocations", ["Sum"]).get("Sum") == 1, 10, "the 5XX")
    assert statistics(cloudwatch, bad_request, "Invocation4XXErrors", ["Sum"])["Sum"] == 2
    assert statistics(cloudwatch, bad_request, "Invocation5XXErrors", ["Sum"])["Sum"] == 0
    assert statistics(cloudwatch, broken, "Invocation5XXErrors", ["Sum"])["Sum"] == 1

    now = datetime.now(UTC)
    per_second = cloudwatch.get_metric_data(StartTime=now - timedelta(minutes=10), EndTime=now, MetricDataQueries=[
        {"Id": "calls", "MetricStat": {"Stat": "Sum", "Period": 1, "Metric": {
            "Namespace": "AWS/SageMaker", "MetricName": "Invocations",
            "Dimensions": [{"Name": "EndpointName", "Value": ok}, {"Name": "VariantName", "Value": VARIANT}]}}}],
    )["MetricDataResults"][0]
    assert sum(per_second["Values"]) == 4  # one-second resolution: read back at a 1 s period


def test_prometheus_scrape_counts_the_same_invocations(stack: Stack, unique: str) -> None:
    runtime = client(stack.url, "sagemaker-runtime")
    stack.serve(unique, failing(429, b"slow down"))
    for _ in range(2):
        with pytest.raises(ClientError, match="ModelError"):
            runtime.invoke_endpoint(EndpointName=unique, Body=b"1")
    stack.serve(f"{unique}-ok", echo)
    runtime.invoke_endpoint(EndpointName=f"{unique}-ok", Body=b"1")

    answer = httpx.get(f"{stack.url}/metrics")  # unsigned, as Prometheus scrapes
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {(s.name, s.labels.get("endpoint"), s.labels.get("le")): s.value
               for family in text_string_to_metric_families(answer.text) for s in family.samples
               if s.labels.get("region") == "us-east-1" and s.labels.get("variant") == VARIANT}
    assert samples[("modelbay_endpoint_invocations_total", unique, None)] == 2
    assert samples[("modelbay_endpoint_invocation_4xx_errors_total", unique, None)] == 2
    assert samples[("modelbay_endpoint_invocations_total", f"{unique}-ok", None)] == 1
    assert samples[("modelbay_endpoint_invocation_4xx_errors_total", f"{unique}-ok", None)] == 0
    assert samples[("modelbay_endpoint_model_latency_seconds_bucket", f"{unique}-ok", "+Inf")] == 1


def test_a_signed_get_of_metrics_is_s3s_bucket_named_metrics(stack: Stack) -> None:
    s3 = client(stack.url, "s3")
    s3.create_bucket(Bucket="metrics")
    s3.put_object(Bucket="metrics", Key="k", Body=b"v")
    assert [o["Key"] for o in s3.list_objects(Bucket="metrics")["Contents"]] == ["k"]
