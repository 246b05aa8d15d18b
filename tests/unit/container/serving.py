"""What the model-server tests share: the scikit-learn framework layer and a server subprocess on a free port."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

from modelbay.runtime.environments import FrameworkEnvironments
from modelbay.runtime.frameworks import choose
from tests.helpers import SHARED_ENVIRONMENTS, free_port, wait_until

# Linux reads a fair task's sched_runtime as its slice from 6.12 on; before, the call succeeds and changes nothing.
TAKES_SLICES = sys.platform == "linux" and tuple(map(int, re.findall(r"\d+", os.uname().release)[:2])) >= (6, 12)

# The server's control knobs, by request body: its pid, block until released, run forever, fail, spin (4 ms of CPU).
CONTROL_SCRIPT = textwrap.dedent("""
    import os, pathlib, time
    def model_fn(model_dir):
        model_dir = pathlib.Path(model_dir)
        while (model_dir / "hold").exists():
            time.sleep(0.01)
        if (model_dir / "broken").exists():
            raise RuntimeError("weights are corrupt")
        return model_dir
    def transform_fn(model, body, content_type, accept):
        command = body.decode()
        if command == "block":
            (model / f"started-{os.getpid()}").touch()
            while not (model / "release").exists():
                time.sleep(0.01)
        while command == "forever":
            time.sleep(0.01)
        if command == "fail":
            raise ValueError("cannot predict on 'fail'")
        end = time.thread_time() + 0.004
        while command == "spin" and time.thread_time() < end:
            pass
        return str(os.getpid()), "text/plain"
""")


def sklearn_layer(target: Path) -> Path:
    """A python that sees scikit-learn and the toolkit, as an instance of the sklearn image gets."""
    environments = FrameworkEnvironments(SHARED_ENVIRONMENTS)
    recipe = choose("sklearn", "1.2-1").recipe
    environments.ensure(recipe)
    return environments.layer(recipe, target)


class ModelServer:
    """`python -m modelbay.container.serve` with its /opt/ml relocated under `root`."""

    def __init__(self, python: Path, root: Path, env: Mapping[str, str]) -> None:
        self.root = root  # its /opt/ml
        self.port = free_port()
        self.log = root / f"serve-{self.port}.log"
        self.env = {"PATH": os.environ["PATH"], "SM_MODEL_DIR": str(root / "model"),
                    "SM_MODULE_DIR": str(root / "code"), "SAGEMAKER_BIND_TO_PORT": str(self.port),
                    "SAGEMAKER_MODEL_SERVER_WORKERS": "1", "PIP_NO_INDEX": "1", **env}
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([str(python), "-m", "modelbay.container.serve"], env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # its group: the server and its workers

    def request(self, method: str, path: str, body: bytes = b"",
                headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request on a new connection: (status, lower-case headers, body)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body, dict(headers or {}))
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def invoke(self, body: bytes, content_type: str, accept: str | None = None,
               headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        extra = {"Content-Type": content_type, **({"Accept": accept} if accept else {}), **(headers or {})}
        return self.request("POST", "/invocations", body, extra)

    def ping(self) -> int | None:
        try:
            return self.request("GET", "/ping")[0]
        except OSError:
            return None

    def wait_ready(self, timeout_s: float = 60) -> None:
        wait_until(lambda: self.ping() == 200 or self.proc.poll() is not None, timeout_s, "the model server")
        assert self.proc.poll() is None, self.output()

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@contextmanager
def model_server(python: Path, root: Path, env: Mapping[str, str], ready: bool = True) -> Iterator[ModelServer]:
    server = ModelServer(python, root, env)
    try:
        if ready:
            server.wait_ready()
        yield server
    finally:
        with suppress(ProcessLookupError):  # whatever of the group is left, workers included
            os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=10)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response: (status, lower-case headers, body); what follows stays unread."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        chunk = sock.recv(1)
        assert chunk, f"connection closed after {head!r}"
        head += chunk
    status_line, *lines = head.decode("latin-1").strip().split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    body, length = b"", int(headers.get("content-length", 0))
    while len(body) < length:
        body += sock.recv(length - len(body))
    return int(status_line.split()[1]), headers, body


def slice_ns(sched: str) -> int:
    """The slice a process runs with, from its /proc/<pid>/sched."""
    fields = dict(map(str.strip, line.split(":", 1)) for line in sched.splitlines() if line.count(":") == 1)
    return int(fields["se.slice"])


def control_server_env(root: Path, workers: int = 1, **env: str) -> dict[str, str]:
    (root / "code" / "control.py").write_text(CONTROL_SCRIPT)
    return {"SAGEMAKER_PROGRAM": "control.py", "SAGEMAKER_SUBMIT_DIRECTORY": str(root / "code"),
            "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers), **env}
