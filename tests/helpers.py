"""Helpers the tests share: a test clock, waiting for conditions, bring-your-own model servers, starting real
servers on free ports and reading their audit trail."""

from __future__ import annotations

import hashlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from modelbay.config import ROOT_KEY_FILE, Settings
from modelbay.runtime.backends import open_runtime
from modelbay.runtime.base import stop_all
from modelbay.sdk.signing import SignedCalls
from modelbay.security.root_key import AccessKey, write_root_key

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)  # when a test's Clock starts
Now = TypeVar("Now")  # what a clock tells: a datetime, or epoch seconds


class Clock:
    """A clock that moves `step` (one second, unless a test sets another) each time it is read, from T0."""

    def __init__(self) -> None:
        self.now, self.step = T0, timedelta(seconds=1)

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


class SetClock(Generic[Now]):
    """A clock the test sets; it does not move by itself."""

    def __init__(self, now: Now) -> None:
        self.now = now

    def __call__(self) -> Now:
        return self.now


def wait_until(check: Callable[[], object], timeout_s: float, what: str, every_s: float = 0.05) -> object:
    """Poll `check` until it returns something truthy; return that, or raise TimeoutError."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(every_s)


def is_running(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its parent counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def error_response(call: Callable[..., object], **params: object) -> dict[str, Any]:
    """The whole response of a boto3 call that must fail (ClientError)."""
    with pytest.raises(ClientError) as caught:
        call(**params)
    return dict(caught.value.response)


def bad_request(call: Callable[..., object], **params: object) -> dict[str, str]:
    """The Error (Code, Message) of a boto3 call that must fail with HTTP status 400."""
    response = error_response(call, **params)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return dict(response["Error"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections until the block ends: bound, never listening, so that no other
    process takes it meanwhile (a port found free and let go was, once, taken by another test's server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """moto's S3-compatible server in its own process on a free loopback port; yields its URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _accepts(port) or proc.poll() is not None, 30, "moto server to listen")
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# The skeleton of a bring-your-own model server: SageMaker starts an image as `<image> serve`, which must answer
# GET /ping and POST /invocations on $SAGEMAKER_BIND_TO_PORT. `answer(body, content_type, status)` replies.
_SERVE = """#!{python}
import http.server, json, os, sys, threading
{preamble}
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else the body waits for the head's delayed ACK (40 ms), as real servers avoid
    def log_message(self, *args):
        pass
    def answer(self, body, content_type="text/plain", status=200):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
{on_get}
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
{on_post}
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["SAGEMAKER_BIND_TO_PORT"])), Handler).serve_forever()
"""


def serve_program(on_post: str, preamble: str = "", on_get: str = 'self.answer(b"")') -> str:
    """A tiny bring-your-own `serve` program; `on_post` handles an invocation's `body` (bytes) as do_POST's
    statements, `preamble` runs first (module level), `on_get` answers a ping."""
    return _SERVE.format(python=sys.executable, preamble=textwrap.dedent(preamble).strip(),
                         on_get=textwrap.indent(textwrap.dedent(on_get).strip(), " " * 8),
                         on_post=textwrap.indent(textwrap.dedent(on_post).strip(), " " * 8))


def serve_image(directory: Path, program: str) -> str:
    """A bring-your-own image: `directory` (made if need be) holding `program` as its executable `serve`."""
    directory.mkdir(exist_ok=True)
    (directory / "serve").write_text(program)
    (directory / "serve").chmod(0o755)
    return str(directory)


# Framework environments take a minute to build, so every test server shares one cache (kept between runs).
SHARED_ENVIRONMENTS = Path(__file__).resolve().parent.parent / ".cache" / "environments"


# The account root's key of every test server: servers run in `iam` mode (signatures verified, as on a shared machine)
# with this key given to them before their first start, so the suite's clients sign with real keys.
ROOT_KEY = AccessKey("AKIDTEST", "secret")
# modelbay's own routes (/_modelbay/v1/…) take calls signed with it, as the CLI and SDK sign theirs
ROOT_SIGNED = SignedCalls(boto3.Session(*ROOT_KEY, region_name="us-east-1"))


def signed_headers(method: str, url: str, service: str, headers: dict[str, str] | None = None, body: bytes = b"",
                   region: str = "us-east-1") -> dict[str, str]:
    """`headers` and the SigV4 ones of ROOT_KEY's signature of a hand-made request (its Host is `url`'s), for a
    test that sends what botocore would not (a malformed body, an unknown operation, a Host of its own)."""
    headers = dict(headers or {})
    if service == "s3" and not any(name.lower() == "x-amz-content-sha256" for name in headers):
        headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()  # S3 wants it signed
    request = AWSRequest(method, url, data=body, headers=headers)
    SigV4Auth(Credentials(*ROOT_KEY), service, region).add_auth(request)
    return {name: value for name, value in request.headers.items()}


class ServerProcess:
    """A real `modelbay server` subprocess on a free loopback port with its own data dir, in `iam` mode with ROOT_KEY
    as its root key (unless `env` sets MODELBAY_AUTH)."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = {"MODELBAY_ENVIRONMENTS_DIR": str(SHARED_ENVIRONMENTS), "MODELBAY_AUTH": "iam", **os.environ,
                    **(env or {})}
        write_root_key(data_dir / ROOT_KEY_FILE, ROOT_KEY)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout_s: float = 60) -> str:
        address_file = self.data_dir / "address"
        address_file.unlink(missing_ok=True)
        with open(self.data_dir / "server.log", "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "modelbay", "server", "--host", "127.0.0.1", "--port", "0",
                 "--data-dir", str(self.data_dir), "--address-file", str(address_file), "--quiet"],
                env=self.env, stdout=subprocess.DEVNULL, stderr=log)
        proc = self.proc
        wait_until(lambda: address_file.exists() or proc.poll() is not None, timeout_s, "server to listen")
        if proc.poll() is not None:
            raise RuntimeError(f"modelbay server exited with {proc.returncode}: "
                               + (self.data_dir / "server.log").read_text()[-2000:])
        self.url = address_file.read_text().strip()
        return self.url

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run, as in a crash."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def interrupt(self, sig: int = signal.SIGINT, timeout_s: float = 60) -> None:
        """Ctrl-C (or SIGTERM), a graceful stop: in-flight requests finish, the instances stop unless kept; return
        once the server has exited."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=timeout_s)

    def stop(self) -> None:
        """Stop the server gracefully (SIGKILL if it hangs), then the instances it left running, killed or told to
        keep them: a test's server does not start again to adopt them."""
        try:
            self.interrupt(signal.SIGTERM)
        except subprocess.TimeoutExpired:
            self.kill()
        settings = Settings.from_env(self.env)  # the server's runtime: processes, or podman's containers
        if settings.runtime == "ray":  # a test's cluster ends its nodes and what they ran (tests/ray_cluster.py)
            return
        for state_dir in (self.data_dir / "runtime", *self.data_dir.glob("regions/*/runtime")):  # every region's
            if state_dir.is_dir():
                runtime = open_runtime(settings, state_dir)
                try:
                    stop_all(runtime, grace_s=5)  # as the server would: their networks go too
                finally:
                    runtime.close()


def instance_dir(data_dir: Path, job: str, host: str = "algo-1") -> Path:
    """A training job host's instance directory on the host, /opt/ml inside: the one place an instance writes that
    the host sees (its /tmp is its own), so where a test and a job's program exchange files."""
    return data_dir / "training" / job / host


@contextmanager
def modelbay_server(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    server = ServerProcess(data_dir, env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def user_shell(url: str, home: Path) -> dict[str, str]:
    """The environment of a user with no AWS set-up of their own who ran `eval "$(modelbay env --url URL)"`, on the
    machine of a server whose data directory is the user's default one (~/.modelbay), so the server's root key is hers.

    HOME is `home`, so the files `modelbay env` writes (the SageMaker SDK's defaults) stay in the test's folder.
    """
    write_root_key(home / ".modelbay" / ROOT_KEY_FILE, ROOT_KEY)
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("AWS_", "MODELBAY_", "SAGEMAKER_")) and k != "XDG_CONFIG_HOME"}
    clean |= {"HOME": str(home), "AWS_CONFIG_FILE": str(home / "no-aws-config"),
              "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials")}
    exports = subprocess.run([sys.executable, "-m", "modelbay", "env", "--url", url], capture_output=True,
                             text=True, env=clean, check=True).stdout
    for line in exports.splitlines():
        name, value = line.removeprefix("export ").split("=", 1)
        clean[name] = shlex.split(value)[0]
    return clean


def audit_events(url: str, **query: str) -> list[dict[str, Any]]:
    """The server's audit trail, newest first: `GET /_modelbay/v1/audit` with `query` (since, operation, failed)."""
    answer = httpx.get(f"{url}/_modelbay/v1/audit", params={"limit": "1000"} | query, timeout=10, auth=ROOT_SIGNED)
    answer.raise_for_status()
    events: list[dict[str, Any]] = answer.json()["Events"]
    return events
