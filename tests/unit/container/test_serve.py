"""`python -m modelbay.container.serve` as a subprocess of the scikit-learn framework layer, on a free port."""

from __future__ import annotations

import ast
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import tarfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelbay.container.cpu_slice import FittedSlice
from modelbay.container.serve import prepare_code
from modelbay.container.serving_env import SLICE_MS, ServingEnv
from modelbay.runtime.sandbox import relocation_env
from tests.helpers import wait_until
from tests.unit.container.serving import (
    CONTROL_SCRIPT,
    TAKES_SLICES,
    ModelServer,
    control_server_env,
    model_server,
    read_response,
    slice_ns,
)

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]  # a setosa (class 0) and a virginica (class 2)
TRAIN = textwrap.dedent("""
    import sys, joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    joblib.dump(LogisticRegression(max_iter=1000).fit(*load_iris(return_X_y=True)), sys.argv[1])
""")
# A user's entry point with every handler; each takes the optional context argument but one.
HANDLERS_SCRIPT = textwrap.dedent("""
    import json, os
    def model_fn(model_dir, context):
        return {"scale": float(open(os.path.join(model_dir, "scale.txt")).read())}
    def input_fn(request_body, request_content_type):
        assert isinstance(request_body, str), type(request_body)
        return [float(v) for v in json.loads(request_body)["values"]]
    def predict_fn(input_data, model, context):
        return {"scaled": [v * model["scale"] for v in input_data], "attributes": context.custom_attributes}
    def output_fn(prediction, accept, context):
        context.set_response_header(0, "X-Amzn-SageMaker-Custom-Attributes", "seen=1")
        return json.dumps({**prediction, "accept": accept}), "application/vnd.scaled+json"
""")


@pytest.fixture(scope="module")
def iris_model(python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.joblib: a LogisticRegression trained on iris in the framework's environment."""
    path = tmp_path_factory.mktemp("iris") / "model.joblib"
    subprocess.run([str(python), "-c", TRAIN, str(path)], check=True, timeout=120)
    return path


@pytest.fixture
def sklearn_server(python: Path, root: Path, iris_model: Path) -> Iterator[ModelServer]:
    (root / "model" / "model.joblib").write_bytes(iris_model.read_bytes())
    with model_server(python, root, {"MODELBAY_FRAMEWORK": "sklearn",
                                     "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}) as server:
        yield server


def npy(rows: list[list[float]]) -> bytes:
    """A float64 array in numpy's .npy format (version 1.0), written by hand: the tests run without numpy."""
    header = repr({"descr": "<f8", "fortran_order": False, "shape": (len(rows), len(rows[0]))}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    data = struct.pack(f"<{len(rows) * len(rows[0])}d", *(v for row in rows for v in row))
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def from_npy(data: bytes) -> list[int]:
    """The values of a 1-D integer .npy array."""
    assert data.startswith(b"\x93NUMPY")
    header_length = struct.unpack("<H", data[8:10])[0]
    header = ast.literal_eval(data[10:10 + header_length].decode())
    assert header["descr"][1:] == "i8" and len(header["shape"]) == 1, header
    return list(struct.unpack(f"<{header['shape'][0]}q", data[10 + header_length:]))


def test_ping_answers_503_while_the_model_loads_then_200(python: Path, root: Path) -> None:
    (root / "model" / "hold").touch()
    with model_server(python, root, control_server_env(root), ready=False) as server:
        wait_until(lambda: server.ping() == 503, 30, "the server to answer 503 while loading")
        assert server.invoke(b"pid", "text/plain")[0] == 503
        (root / "model" / "hold").unlink()
        server.wait_ready()
        assert server.invoke(b"pid", "text/plain")[0] == 200


@pytest.mark.parametrize(("body", "content_type"), [
    (b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n", "text/csv"),
    (json.dumps(IRIS_ROWS).encode(), "application/json"),
    (json.dumps({"instances": IRIS_ROWS}).encode(), "application/json; charset=utf-8"),
    (npy(IRIS_ROWS), "application/x-npy"),
])
def test_default_sklearn_handlers_decode_each_content_type(sklearn_server: ModelServer, body: bytes,
                                                           content_type: str) -> None:
    status, headers, answer = sklearn_server.invoke(body, content_type, accept="application/json")
    assert (status, headers["content-type"], json.loads(answer)) == (200, "application/json", [0, 2])


@pytest.mark.parametrize(("accept", "content_type", "decode"), [
    ("application/json", "application/json", json.loads),
    ("text/csv", "text/csv", lambda body: body.decode().splitlines()),
    ("application/x-npy", "application/x-npy", from_npy),
    (None, "text/csv", lambda body: body.decode().splitlines()),  # SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT
    ("*/*", "text/csv", lambda body: body.decode().splitlines()),
    ("text/html, application/json;q=0.5, text/csv;q=0.9", "text/csv", lambda body: body.decode().splitlines()),
])
def test_accept_chooses_the_answers_content_type(sklearn_server: ModelServer, accept: str | None, content_type: str,
                                                 decode: Callable[[bytes], object]) -> None:
    status, headers, answer = sklearn_server.invoke(b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3", "text/csv", accept)
    assert (status, headers["content-type"]) == (200, content_type)
    assert decode(answer) in ([0, 2], ["0", "2"])


@pytest.mark.parametrize(("content_type", "accept", "named"), [
    ("text/plain", "application/json", "'text/plain'"),
    ("text/csv", "text/html", "'text/html'"),
])
def test_unsupported_content_types_answer_415_naming_them(sklearn_server: ModelServer, content_type: str, accept: str,
                                                          named: str) -> None:
    status, _, answer = sklearn_server.invoke(b"5.1,3.5,1.4,0.2", content_type, accept)
    assert status == 415 and named in answer.decode()


def test_routes_and_methods(sklearn_server: ModelServer) -> None:
    assert sklearn_server.request("GET", "/invocations")[0] == 405
    assert sklearn_server.request("GET", "/models")[0] == 404


def test_user_handlers_with_context_and_custom_attributes(python: Path, root: Path) -> None:
    (root / "model" / "scale.txt").write_text("10")
    (root / "code" / "inference.py").write_text(HANDLERS_SCRIPT)
    env = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": str(root / "code")}
    with model_server(python, root, env) as server:
        status, headers, answer = server.invoke(b'{"values": [1, 2.5]}', "application/json", "application/json",
                                                headers={"X-Amzn-SageMaker-Custom-Attributes": "trace=abc"})
    assert (status, headers["content-type"]) == (200, "application/vnd.scaled+json")
    assert json.loads(answer) == {"scaled": [10.0, 25.0], "attributes": "trace=abc", "accept": "application/json"}
    assert headers["x-amzn-sagemaker-custom-attributes"] == "seen=1"


def test_transform_fn_and_entry_point_packed_in_the_model(python: Path, root: Path) -> None:
    """SageMaker's SDK packs the entry point into model.tar.gz under code/; no submit directory then."""
    (root / "model" / "code").mkdir()
    (root / "model" / "code" / "control.py").write_text(CONTROL_SCRIPT)
    with model_server(python, root, {"SAGEMAKER_PROGRAM": "control.py"}) as server:
        status, headers, answer = server.invoke(b"pid", "application/octet-stream")
        assert (status, headers["content-type"]) == (200, "text/plain")
        assert int(answer) != server.proc.pid  # a worker answered


def test_entry_point_from_a_source_tarball(python: Path, root: Path) -> None:
    script = root / "control.py"
    script.write_text(CONTROL_SCRIPT)
    with tarfile.open(root / "sourcedir.tar.gz", "w:gz") as archive:
        archive.add(script, arcname="control.py")
    env = {"SAGEMAKER_PROGRAM": "control.py", "SAGEMAKER_SUBMIT_DIRECTORY": str(root / "sourcedir.tar.gz")}
    with model_server(python, root, env) as server:
        assert server.invoke(b"pid", "text/plain")[0] == 200
    assert (root / "code" / "control.py").is_file()


def test_a_source_dir_in_s3_is_the_copy_the_platform_unpacked_into_the_code_dir(root: Path) -> None:
    (root / "code" / "control.py").write_text(CONTROL_SCRIPT)
    environ = {"SAGEMAKER_PROGRAM": "control.py", "SAGEMAKER_SUBMIT_DIRECTORY": "s3://bucket/m/sourcedir.tar.gz",
               **relocation_env(root)}
    assert prepare_code(ServingEnv.from_environ(environ), environ) == root / "code"


def test_an_exception_in_user_code_answers_500_with_its_message(python: Path, root: Path) -> None:
    with model_server(python, root, control_server_env(root)) as server:
        status, _, answer = server.invoke(b"fail", "text/plain")
        assert (status, answer.decode()) == (500, "ValueError: cannot predict on 'fail'")
        assert server.invoke(b"pid", "text/plain")[0] == 200


@pytest.mark.parametrize(("framework", "setup", "reason"), [
    ("sklearn", lambda root: None, "the model could not be loaded: FileNotFoundError: no model.joblib in"),
    ("pytorch", lambda root: None, "the model could not be loaded: ModelFnRequired: the PyTorch model server"),
    ("python", lambda root: (root / "model" / "broken").touch() or control_server_env(root),
     "the model could not be loaded: RuntimeError: weights are corrupt"),
    ("python", lambda root: {"SAGEMAKER_PROGRAM": "missing.py", "SAGEMAKER_SUBMIT_DIRECTORY": str(root / "code")},
     "the model could not be loaded: entry point missing.py not found in"),
])
def test_a_model_that_cannot_load_exits_non_zero_with_the_reason_last(python: Path, root: Path, framework: str,
                                                                      setup: Callable[[Path], dict[str, str] | None],
                                                                      reason: str) -> None:
    env = {"MODELBAY_FRAMEWORK": framework, "SAGEMAKER_MODEL_SERVER_WORKERS": "2", **(setup(root) or {})}
    server = ModelServer(python, root, env)
    assert server.proc.wait(timeout=60) == 1
    last_line = server.output().strip().splitlines()[-1]
    assert last_line.startswith(f"modelbay model server: {reason}"), server.output()


def test_workers_share_the_requests(python: Path, root: Path) -> None:
    """A worker busy in a request leaves new connections to the others."""
    with model_server(python, root, control_server_env(root, workers=2)) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as slow:
            slow.sendall(post(b"block"))
            started = wait_until(lambda: list((root / "model").glob("started-*")), 30, "the slow request")
            busy = int(started[0].name.removeprefix("started-"))  # type: ignore[index]
            others = {int(server.invoke(b"pid", "text/plain")[2]) for _ in range(5)}
            (root / "model" / "release").touch()
            assert read_response(slow)[::2] == (200, str(busy).encode())
        assert len(others) == 1 and busy not in others


def test_a_worker_runs_with_a_long_slice_while_its_requests_are_long(python: Path, root: Path) -> None:
    """Two workers busy on one CPU do not cut each other's long predicts every 1.4 ms; a worker of short requests
    keeps the kernel's slice, so that no request waits long for another worker's (cpu_slice.py)."""
    with model_server(python, root, control_server_env(root)) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        slices = []
        for command in (b"pid", b"spin", b"pid"):
            for _ in range(FittedSlice.WINDOW):
                connection.request("POST", "/invocations", command, {"Content-Type": "text/plain"})
                worker = int(connection.getresponse().read())
            slices.append(slice_ns(Path(f"/proc/{worker}/sched").read_text()))
        connection.close()
    kernels, long, short = slices
    if TAKES_SLICES:  # three spins of 4 ms, within the longest
        assert kernels < 3 * 4_000_000 <= long <= SLICE_MS * 1_000_000
    else:
        assert long == kernels
    assert short == kernels


def test_keep_alive_serves_many_requests_on_one_connection(sklearn_server: ModelServer) -> None:
    with socket.create_connection(("127.0.0.1", sklearn_server.port)) as conn:
        for _ in range(50):
            conn.sendall(post(b"5.1,3.5,1.4,0.2", "text/csv"))
            assert read_response(conn)[::2] == (200, b"0\n")


def test_pipelined_requests_are_answered_in_order(sklearn_server: ModelServer) -> None:
    rows = [b"5.1,3.5,1.4,0.2", b"6.7,3.0,5.2,2.3", b"5.1,3.5,1.4,0.2"]
    with socket.create_connection(("127.0.0.1", sklearn_server.port)) as conn:
        conn.sendall(b"".join(post(row, "text/csv") for row in rows) + b"GET /ping HTTP/1.1\r\n\r\n")
        assert [read_response(conn)[::2] for _ in range(4)] == [(200, b"0\n"), (200, b"2\n"), (200, b"0\n"), (200, b"")]


def test_a_killed_worker_is_replaced(python: Path, root: Path) -> None:
    with model_server(python, root, control_server_env(root)) as server:
        first = int(server.invoke(b"pid", "text/plain")[2])
        os.kill(first, signal.SIGKILL)
        replacement = wait_until(lambda: answer_pid(server), 60, "a replacement worker")
        assert replacement != first
        assert server.stop() == 0


def test_a_request_over_the_timeout_kills_its_worker(python: Path, root: Path) -> None:
    with model_server(python, root, control_server_env(root, SAGEMAKER_MODEL_SERVER_TIMEOUT="1")) as server:
        first = int(server.invoke(b"pid", "text/plain")[2])
        with pytest.raises(OSError):  # the connection dies with the worker
            server.invoke(b"forever", "text/plain")
        assert wait_until(lambda: answer_pid(server), 60, "a replacement worker") != first


def test_sigterm_lets_the_request_in_progress_finish(python: Path, root: Path) -> None:
    with model_server(python, root, control_server_env(root)) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as slow:
            slow.sendall(post(b"block"))
            wait_until(lambda: list((root / "model").glob("started-*")), 30, "the slow request")
            server.proc.send_signal(signal.SIGTERM)
            (root / "model" / "release").touch()
            status, _, _ = read_response(slow)
        assert status == 200
        assert server.proc.wait(timeout=30) == 0


def post(body: bytes, content_type: str = "text/plain") -> bytes:
    return (f"POST /invocations HTTP/1.1\r\nHost: model\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def answer_pid(server: ModelServer) -> int | None:
    try:
        status, _, answer = server.invoke(b"pid", "text/plain")
    except OSError:
        return None
    return int(answer) if status == 200 else None
