"""Connections handed to a model server: answered under their lease, handed back otherwise (container/handoff.py).

The lease's rules are checked in this process; the handoff itself against a real model server of the scikit-learn
framework layer, whose front door is the test: it accepts the caller's connection and hands it over, and listens on
the return and metrics sockets.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from modelbay.container import handoff
from modelbay.container.http_server import Response, parse_head
from tests.unit.container.serving import ModelServer, control_server_env, model_server, read_response

ENDPOINT, VARIANT, REGION = "iris", "AllTraffic", "us-east-1"
SIGNED = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261208/us-east-1/{service}/aws4_request, "
          "SignedHeaders=host;x-amz-date, Signature=0123")


def lease(**changes: Any) -> dict[str, Any]:
    """A lease as the front door grants one, for ENDPOINT's VARIANT at epoch 1."""
    return {"region": REGION, "endpoint": ENDPOINT, "variant": VARIANT, "epoch": 1, "max_body": 6 * 1024 * 1024,
            "signing_scope": "/sagemaker/aws4_request",
            "rules": [["content-type", 1024, True], ["accept", 1024, True],
                      ["x-amzn-sagemaker-custom-attributes", 1024, True],
                      ["x-amzn-sagemaker-target-variant", 63, True], ["x-amzn-sagemaker-inference-id", None, False]],
            "forwarded": ["host", "content-length", "content-type", "accept", "x-amzn-sagemaker-custom-attributes"],
            "answered": ["x-amzn-sagemaker-custom-attributes"], "see": "See the endpoint's log.",
            "log_stream": f"arn:aws:logs:{REGION}:000000000000:log-group:/aws/sagemaker/Endpoints/{ENDPOINT}",
            "max_message": 2048, **changes}


def invocation(body: bytes = b"pid", path: str = f"/endpoints/{ENDPOINT}/invocations", **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: model", "Content-Type: text/plain", f"Content-Length: {len(body)}",
             *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())]
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + body


NOT_COVERED = {
    "another endpoint": invocation(path="/endpoints/other/invocations"),
    "a query": invocation(path=f"/endpoints/{ENDPOINT}/invocations?x=1"),
    "another variant targeted": invocation(X_Amzn_SageMaker_Target_Variant="Canary"),
    "signed for another service": invocation(Authorization=SIGNED.format(service="s3")),
    "a header a plain call has not": invocation(X_Amzn_SageMaker_Inference_Id="one"),
    "a header over its length": invocation(Accept="a" * 1025),
    "a header not ASCII": invocation(X_Amzn_SageMaker_Custom_Attributes="caf\u00e9"),
    "Expect": invocation(Expect="100-continue"),
    "a ping": b"GET /ping HTTP/1.1\r\nHost: model\r\n\r\n",
    "a chunked body": (f"POST /endpoints/{ENDPOINT}/invocations HTTP/1.1\r\nHost: model\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n3\r\npid\r\n0\r\n\r\n").encode(),
}


# -- the lease, in this process ---------------------------------------------------------------------------------------

def covers(request: bytes, **changes: Any) -> bool:
    head = parse_head(request.partition(b"\r\n\r\n")[0].decode("latin-1"))
    return handoff.Lease.read(lease(**changes)).covers(head)


@pytest.mark.parametrize("request_bytes", [invocation(), invocation(X_Amzn_SageMaker_Target_Variant=VARIANT),
                                           invocation(Authorization=SIGNED.format(service="sagemaker")),
                                           invocation(X_Amzn_SageMaker_Custom_Attributes="a=1", Accept="text/csv")],
                         ids=["plain", "its variant targeted", "signed for sagemaker", "plain headers"])
def test_a_lease_covers_plain_invocations_of_its_variant(request_bytes: bytes) -> None:
    assert covers(request_bytes)


@pytest.mark.parametrize("request_bytes", [r for name, r in NOT_COVERED.items() if name != "a chunked body"],
                         ids=[name for name in NOT_COVERED if name != "a chunked body"])
def test_a_lease_covers_nothing_else(request_bytes: bytes) -> None:
    assert not covers(request_bytes)


def test_a_lease_covers_no_body_over_its_limit() -> None:
    assert covers(invocation(b"x" * 10), max_body=10)
    assert not covers(invocation(b"x" * 11), max_body=10)


def test_the_models_answer_names_the_variant_and_passes_only_its_attributes() -> None:
    answer = handoff.Lease.read(lease()).answer(
        Response(200, b"1", "text/csv", (("X-Amzn-SageMaker-Custom-Attributes", "seen=1"), ("X-Secret", "no"))), "r1")
    assert (answer.status, answer.body, answer.content_type) == (200, b"1", "text/csv")
    assert dict(answer.headers) == {"x-Amzn-Invoked-Production-Variant": VARIANT, "x-amzn-RequestId": "r1",
                                    "X-Amzn-SageMaker-Custom-Attributes": "seen=1"}


@pytest.mark.parametrize(("status", "kind"), [(500, "server"), (415, "client")])
def test_the_models_error_is_sagemaker_runtimes_model_error(status: int, kind: str) -> None:
    said = "x" * 3000
    answer = handoff.Lease.read(lease()).answer(Response(status, said.encode()), "r1")
    assert answer.status == 424 and answer.content_type == "application/json"
    assert dict(answer.headers) == {"x-amzn-ErrorType": "ModelError", "x-amzn-RequestId": "r1"}
    body = json.loads(answer.body)
    assert body["OriginalStatusCode"] == status and body["OriginalMessage"] == said[:2048]
    assert body["message"] == (f'Received {kind} error ({status}) from primary with message "{said[:1648]}". '
                               "See the endpoint's log.")
    assert body["LogStreamArn"].endswith(f"/aws/sagemaker/Endpoints/{ENDPOINT}")


# -- the handoff, to a real model server ------------------------------------------------------------------------------

class FrontDoor:
    """The test's front door: the API's port, the return and metrics sockets (socket pairs, as the front door's), and
    the epoch file."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.api = socket.create_server(("127.0.0.1", 0))
        self.returns, self.returns_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.metrics, self.metrics_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        for sock in (self.returns, self.metrics):
            sock.settimeout(30)
        self.epoch = os.open(run_dir / "epoch", os.O_RDWR | os.O_CREAT)
        self.set_epoch(1)

    def set_epoch(self, epoch: int) -> None:
        os.pwrite(self.epoch, struct.pack("=Q", epoch), 0)

    def hand(self, server: ModelServer, connection: socket.socket, data: bytes = b"", **changes: Any) -> None:
        fds = [connection.fileno(), self.epoch, self.returns_end.fileno(), self.metrics_end.fileno()]
        handoff.send_to(handoff.socket_path(server.root), fds, lease(**changes), data)

    def handed_connection(self, server: ModelServer, **changes: Any) -> socket.socket:
        """A caller's connection, handed to the server as soon as it is accepted."""
        caller = socket.create_connection(self.api.getsockname(), timeout=30)
        accepted, _ = self.api.accept()
        with accepted:
            self.hand(server, accepted, **changes)
        return caller

    def handed_back(self) -> tuple[socket.socket, dict[str, Any], bytes]:
        fds, header, data = handoff.take(self.returns)
        assert len(fds) == 1, fds
        return socket.socket(fileno=fds[0]), header, data

    def invocation_lines(self, count: int) -> list[list[str]]:
        lines: list[list[str]] = []
        while len(lines) < count:
            lines += [line.split() for line in self.metrics.recv(1 << 16).decode().splitlines()]
        return lines

    def close(self) -> None:
        for sock in (self.api, self.returns, self.returns_end, self.metrics, self.metrics_end):
            sock.close()
        os.close(self.epoch)


@pytest.fixture
def front_door() -> Iterator[FrontDoor]:
    run_dir = Path(tempfile.mkdtemp(prefix="mb-"))  # short: a unix socket's path is at most 107 bytes
    door = FrontDoor(run_dir)
    yield door
    door.close()
    shutil.rmtree(run_dir)


@pytest.fixture
def server(python: Path, root: Path, front_door: FrontDoor) -> Iterator[ModelServer]:
    env = control_server_env(root, **{handoff.HANDOFF_VAR: "1"})
    with model_server(python, root, env) as running:
        yield running


def test_a_handed_connection_is_answered_by_the_model_and_counted(front_door: FrontDoor,
                                                                   server: ModelServer) -> None:
    with front_door.handed_connection(server) as caller:
        answers = []
        for _ in range(3):
            caller.sendall(invocation())
            answers.append(read_response(caller))
    assert [status for status, _, _ in answers] == [200] * 3
    status, headers, body = answers[0]
    assert int(body) != os.getpid()  # the model's process answered, not the test's
    assert headers["x-amzn-invoked-production-variant"] == VARIANT and headers["content-type"] == "text/plain"
    assert len({headers["x-amzn-requestid"] for _, headers, _ in answers}) == 3
    lines = front_door.invocation_lines(3)
    assert [line[:5] for line in lines] == [["invocation", REGION, ENDPOINT, VARIANT, "200"]] * 3
    read, called, answered, ended = map(int, lines[0][5:])
    assert read <= called <= answered <= ended


def test_the_models_error_on_a_handed_connection_is_a_model_error(front_door: FrontDoor, server: ModelServer) -> None:
    with front_door.handed_connection(server) as caller:
        caller.sendall(invocation(b"fail"))
        status, headers, body = read_response(caller)
    assert (status, headers["x-amzn-errortype"]) == (424, "ModelError")
    assert "cannot predict on 'fail'" in json.loads(body)["OriginalMessage"]
    assert front_door.invocation_lines(1)[0][4] == "500"


@pytest.mark.parametrize("request_bytes", NOT_COVERED.values(), ids=NOT_COVERED.keys())
def test_a_request_the_lease_does_not_cover_comes_back_with_its_bytes(front_door: FrontDoor, server: ModelServer,
                                                                      request_bytes: bytes) -> None:
    with front_door.handed_connection(server) as caller:
        caller.sendall(request_bytes)
        returned, header, data = front_door.handed_back()
        assert (header, data) == ({"endpoint": ENDPOINT}, request_bytes)
        with returned:  # the connection is the caller's still: the front door answers on it
            returned.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            assert read_response(caller)[0] == 204


def test_a_lease_lapses_when_the_epoch_moves(front_door: FrontDoor, server: ModelServer) -> None:
    with front_door.handed_connection(server) as caller:
        caller.sendall(invocation())
        assert read_response(caller)[0] == 200
        front_door.set_epoch(2)  # a route table changed
        caller.sendall(invocation())
        returned, _, data = front_door.handed_back()
        returned.close()
    assert data == invocation()


def test_a_connection_handed_with_part_of_a_request_read_is_answered_in_order(front_door: FrontDoor,
                                                                              server: ModelServer) -> None:
    caller = socket.create_connection(front_door.api.getsockname(), timeout=30)
    accepted, _ = front_door.api.accept()
    request = invocation(b"pid")
    with caller, accepted:
        caller.sendall(request)
        read = accepted.recv(len(request) - 3)  # the front door read all but the body's last bytes
        front_door.hand(server, accepted, read)
        status, _, body = read_response(caller)
    assert (status, int(body) != os.getpid()) == (200, True)


def test_a_stopping_model_server_hands_its_idle_connections_back(front_door: FrontDoor, server: ModelServer) -> None:
    with front_door.handed_connection(server) as caller:
        caller.sendall(invocation())
        assert read_response(caller)[0] == 200
        server.proc.send_signal(signal.SIGTERM)
        returned, _, data = front_door.handed_back()
        with returned:
            assert data == b""
            caller.sendall(invocation())  # the model server is gone; the front door has the connection
            assert returned.recv(1 << 16) == invocation()
    assert server.proc.wait(timeout=30) == 0


def test_a_model_server_not_asked_to_takes_no_handoff(python: Path, root: Path) -> None:
    with model_server(python, root, control_server_env(root)) as plain:
        assert plain.ping() == 200
        assert not (root / handoff.SOCKET_NAME).exists()


def test_the_workers_share_the_connections_handed_over(python: Path, root: Path, front_door: FrontDoor) -> None:
    env = control_server_env(root, workers=2, **{handoff.HANDOFF_VAR: "1"})
    with model_server(python, root, env) as running:
        callers = [front_door.handed_connection(running) for _ in range(8)]
        for caller in callers:  # each adopted by the time it is answered
            caller.sendall(invocation())
            assert read_response(caller)[0] == 200
        api_port = front_door.api.getsockname()[1]
        held = sorted(sum(1 for c in worker.net_connections("tcp") if c.laddr and c.laddr.port == api_port)
                      for worker in psutil.Process(running.proc.pid).children())
        for caller in callers:
            caller.close()
    assert held == [4, 4]
