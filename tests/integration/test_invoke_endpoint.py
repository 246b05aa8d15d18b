"""InvokeEndpoint through the whole front door, driven by boto3's sagemaker-runtime client.

No controller runs here: the app is served in-process (uvicorn on a free port, in a thread) and
the tests publish routes to its router themselves, pointing at fake model servers on loopback
that run on the server's own event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import uvicorn

from modelbay.api.app import build_app
from modelbay.config import Settings
from modelbay.server import bind
from modelbay.serving.router import Backend, Router, VariantRoute
from tests.conftest import client
from tests.helpers import error_response, wait_until
from tests.unit.serving.model_servers import Answer, FakeModel, Reply, Seen, echo, failing, hold

T = TypeVar("T")
MAX_BODY = 6 * 1024 * 1024


@dataclass
class Stack:
    """The in-process server: its URL, its router, and the event loop it runs on."""

    url: str
    router: Router
    loop: asyncio.AbstractEventLoop
    models: list[FakeModel] = field(default_factory=list)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def model(self, name: str, answer: Answer = echo) -> FakeModel:
        self.models.append(self.run(FakeModel(name, answer).start()))
        return self.models[-1]

    def stop_models(self) -> None:
        for model in self.models:
            self.run(model.stop())

    def publish(self, endpoint: str, *variants: tuple[str, float, list[FakeModel]]) -> None:
        self.router.publish(endpoint, [VariantRoute(name, weight, tuple(
            Backend(m.name, "us-east-1a", (m.url,)) for m in models)) for name, weight, models in variants])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    app = build_app(Settings(data_dir=tmp_path_factory.mktemp("invoke")))
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, http="httptools", lifespan="on", log_level="warning"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(sockets=[sock]),))
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), 30, "the in-process server to listen")
        stack = Stack(f"http://127.0.0.1:{sock.getsockname()[1]}", app.state.platform.router, loop)
        yield stack
        stack.stop_models()
    finally:
        server.should_exit = True
        thread.join()
        loop.close()


@pytest.fixture(scope="module")
def runtime(stack: Stack) -> Any:
    return client(stack.url, "sagemaker-runtime", max_pool_connections=16)


def test_the_model_answer_comes_back_with_its_headers(stack: Stack, runtime: Any, unique: str) -> None:
    model = stack.model("m")
    stack.publish(unique, ("AllTraffic", 1, [model]))
    got = runtime.invoke_endpoint(EndpointName=unique, Body=b"1,2", ContentType="text/csv",
                                  Accept="application/json", CustomAttributes="c=1")
    assert got["Body"].read() == b"1,2|m"
    assert (got["ContentType"], got["InvokedProductionVariant"], got["CustomAttributes"]) == (
        "application/x-m", "AllTraffic", "c=1;m")
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-amzn-invoked-production-variant"] == "AllTraffic"
    seen = model.seen[0].headers
    assert (seen["content-type"], seen["accept"], seen["x-amzn-sagemaker-custom-attributes"]) == (
        "text/csv", "application/json", "c=1")


def test_target_variant_reaches_a_variant_of_weight_zero(stack: Stack, runtime: Any, unique: str) -> None:
    stack.publish(unique, ("A", 1, [stack.model("a")]), ("B", 0, [stack.model("b")]))
    got = runtime.invoke_endpoint(EndpointName=unique, Body=b"x", TargetVariant="B")
    assert (got["Body"].read(), got["InvokedProductionVariant"]) == (b"x|b", "B")
    assert runtime.invoke_endpoint(EndpointName=unique, Body=b"x")["InvokedProductionVariant"] == "A"


def test_unknown_endpoint_and_variant_are_validation_errors(stack: Stack, runtime: Any, unique: str) -> None:
    missing = error_response(runtime.invoke_endpoint, EndpointName=unique, Body=b"x")
    assert missing["Error"] == {"Code": "ValidationError",
                                "Message": f"Endpoint {unique} of account 000000000000 not found."}
    stack.publish(unique, ("A", 1, [stack.model("a")]))
    no_variant = error_response(runtime.invoke_endpoint, EndpointName=unique, Body=b"x", TargetVariant="Nope")
    assert no_variant["Error"]["Code"] == "ValidationError"
    assert "Nope" in no_variant["Error"]["Message"]


def test_a_body_over_6_mb_is_refused_before_the_model_sees_it(stack: Stack, runtime: Any, unique: str) -> None:
    model = stack.model("m")
    stack.publish(unique, ("A", 1, [model]))
    refused = error_response(runtime.invoke_endpoint, EndpointName=unique, Body=b"x" * (MAX_BODY + 1))
    assert refused["Error"]["Code"] == "ValidationError"
    assert "6291456" in refused["Error"]["Message"]
    assert model.seen == []
    got = runtime.invoke_endpoint(EndpointName=unique, Body=b"x" * MAX_BODY)
    assert len(got["Body"].read()) == MAX_BODY + len(b"|m")


def test_a_model_error_is_a_model_error_with_the_original_status(stack: Stack, runtime: Any, unique: str) -> None:
    stack.publish(unique, ("A", 1, [stack.model("m", failing(500, b"boom"))]))
    error = error_response(runtime.invoke_endpoint, EndpointName=unique, Body=b"x")
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["Error"]["Code"] == "ModelError"
    assert error["Error"]["Message"].startswith('Received server error (500) from primary with message "boom". See ')
    assert (error["OriginalStatusCode"], error["OriginalMessage"]) == (500, "boom")
    assert error["LogStreamArn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:/aws/sagemaker/Endpoints/{unique}"


def test_a_long_model_error_keeps_within_the_models_limits(stack: Stack, runtime: Any, unique: str) -> None:
    """Message and OriginalMessage are at most 2,048 characters: the model's first words and its last error stay."""
    trace = "Traceback (most recent call last):\n" + "".join(f"  File model.py, line {n}\n" for n in range(300))
    stack.publish(unique, ("A", 1, [stack.model("m", failing(500, (trace + "KeyError: 'features'").encode()))]))
    error = error_response(runtime.invoke_endpoint, EndpointName=unique, Body=b"x")
    message, original = error["Error"]["Message"], error["OriginalMessage"]
    assert len(message) <= 2048 and len(original) <= 2048
    assert message.startswith('Received server error (500) from primary with message "Traceback (most recent')
    assert message.endswith(f"KeyError: 'features'\". See https://us-east-1.console.aws.amazon.com/cloudwatch/home?"
                            f"region=us-east-1#logEventViewer:group=/aws/sagemaker/Endpoints/{unique} in account "
                            "000000000000 for more information.")
    assert original.startswith("Traceback (most recent call last):\n") and original.endswith("\nKeyError: 'features'")


def test_a_model_slower_than_the_timeout_is_a_model_error(stack: Stack, runtime: Any, unique: str) -> None:
    slow = stack.model("slow", hold)
    stack.publish(unique, ("A", 1, [slow]))
    stack.router.timeout_s = 0.2
    try:
        error = error_response(runtime.invoke_endpoint, EndpointName=unique, Body=b"x")
    finally:
        stack.router.timeout_s = 60.0
        stack.loop.call_soon_threadsafe(slow.release.set)
    assert error["Error"]["Code"] == "ModelError"
    assert "Your invocation timed out while waiting for a response from container primary" in error["Error"]["Message"]


def test_a_pipeline_flows_through_its_containers(stack: Stack, runtime: Any, unique: str) -> None:
    containers = [stack.model(name) for name in ("one", "two", "three")]
    stack.router.publish(unique, [VariantRoute("A", 1, (Backend("i-1", "z", tuple(m.url for m in containers)),))])
    got = runtime.invoke_endpoint(EndpointName=unique, Body=b"in", ContentType="text/csv")
    assert (got["Body"].read(), got["ContentType"]) == (b"in|one|two|three", "application/x-three")
    assert [m.seen[0].headers["content-type"] for m in containers] == ["text/csv", "application/x-one",
                                                                       "application/x-two"]


def test_an_instance_killed_under_load_fails_no_request(stack: Stack, runtime: Any, unique: str) -> None:
    """16 clients keep invoking while instance `a` dies (between two of its requests, as a crashed
    process that had nothing in flight): every request is answered, by `b` once `a` is gone."""
    def kill_when_idle(model: FakeModel) -> None:
        if stack.router.in_flight("a") == 0:
            model.kill()
        else:
            stack.loop.call_soon(kill_when_idle, model)

    async def dies_after_50(model: FakeModel, seen: Seen) -> Reply:
        if len(model.seen) == 50:
            stack.loop.call_soon(kill_when_idle, model)
        return await echo(model, seen)

    a, b = stack.model("a", dies_after_50), stack.model("b")
    stack.publish(unique, ("A", 1, [a, b]))
    reported: list[str] = []
    stack.router.add_failure_listener(lambda endpoint, instance: reported.append(f"{endpoint}/{instance}"))

    def call(_: int) -> bytes:
        return bytes(runtime.invoke_endpoint(EndpointName=unique, Body=b"x")["Body"].read())

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(call, range(400)))
    assert len(answers) == 400
    assert set(answers) == {b"x|a", b"x|b"}
    assert answers.count(b"x|a") == len(a.seen) >= 50
    assert stack.router.out_of_rotation(unique) == {"a"}
    assert reported == [f"{unique}/a"]
