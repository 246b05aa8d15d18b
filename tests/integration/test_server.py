"""`modelbay server` as a person runs it: what it says when it starts, and Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ServerProcess


@pytest.mark.parametrize(("keep", "ending"), [
    ("0", "Ctrl-C stops the server and its instances (--keep-instances leaves them running)"),
    ("1", "Ctrl-C stops the server and leaves its instances running for the next server to adopt")])
def test_the_server_says_where_its_data_is_and_how_to_stop_it(tmp_path: Path, keep: str, ending: str) -> None:
    env = os.environ | {"HOME": str(tmp_path), "MODELBAY_KEEP_INSTANCES": keep,
                        "MODELBAY_ENVIRONMENTS_DIR": str(tmp_path / "envs")}
    command = [sys.executable, "-m", "modelbay", "server", "--port", "0", "--data-dir", str(tmp_path / "data")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as server:
        assert server.stdout is not None
        said = [server.stdout.readline() for _ in range(4)]
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    assert said[0].startswith("modelbay listening on http://127.0.0.1:")
    assert said[1:] == ["auth: open (any access key is the account root; loopback only)\n",
                        "data in ~/data, framework environments in ~/envs\n", f"{ending}\n"]


def test_a_head_larger_than_the_limit_is_refused_and_the_server_stays_small(server: ServerProcess) -> None:
    """The server answers 431 once a head passes 64 KiB, without waiting for the rest of it."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 256 * 1024)
        answer = sock.recv(1024)
    assert answer.startswith(b"HTTP/1.1 431 ")
