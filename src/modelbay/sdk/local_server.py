"""A modelbay server of your own for a `with` block: tests, demos and notebooks."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelbay.sdk.clients import client


@dataclass
class LocalServer:
    """A running server: its URL, data directory, process id and boto3 clients made on first use."""

    url: str
    data_dir: Path
    pid: int
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = client(service, self.url)
        return self._clients[service]

    @property
    def sagemaker(self) -> Any:
        return self.client("sagemaker")

    @property
    def s3(self) -> Any:
        return self.client("s3")


@contextmanager
def local_server(data_dir: str | Path | None = None, timeout_s: float = 60) -> Iterator[LocalServer]:
    """Start `modelbay server` on a free loopback port (in a temporary data directory unless one is
    given), yield it once it answers, and stop it on exit, with its instances (model servers, training
    hosts) unless MODELBAY_KEEP_INSTANCES says otherwise for a data directory of one's own."""
    with tempfile.TemporaryDirectory(prefix="modelbay-") as scratch:
        data = Path(data_dir) if data_dir is not None else Path(scratch) / "data"
        address_file = Path(scratch) / "address"
        command = [sys.executable, "-m", "modelbay", "server", "--host", "127.0.0.1", "--port", "0",
                   "--data-dir", str(data), "--address-file", str(address_file), "--quiet"]
        # instances kept in a temporary data directory would be orphans once it is deleted
        env = os.environ | ({"MODELBAY_KEEP_INSTANCES": "0"} if data_dir is None else {})
        with open(Path(scratch) / "server.log", "wb") as log, \
                subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env) as proc:
            try:
                yield LocalServer(_wait_for_address(proc, address_file, timeout_s, Path(log.name)), data, proc.pid)
            finally:
                proc.terminate()
                proc.wait(timeout=60)  # in-flight requests finish, then instances get a grace period to end


def _wait_for_address(proc: subprocess.Popen[bytes], address_file: Path, timeout_s: float, log: Path) -> str:
    deadline = time.monotonic() + timeout_s
    while not address_file.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"modelbay server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"modelbay server did not start within {timeout_s}s")
        time.sleep(0.05)
    return address_file.read_text().strip()
