"""Helpers the tests share: waiting for conditions and starting real servers on free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


# Framework environments take a minute to build, so every test server shares one cache (kept between runs).
SHARED_ENVIRONMENTS = Path(__file__).resolve().parent.parent / ".cache" / "environments"


class ServerProcess:
    """A real `modelbay server` subprocess on a free loopback port with its own data dir."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.env = {"MODELBAY_ENVIRONMENTS_DIR": str(SHARED_ENVIRONMENTS), **os.environ, **(env or {})}
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

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def modelbay_server(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    server = ServerProcess(data_dir, env)
    server.start()
    try:
        yield server
    finally:
        server.stop()
