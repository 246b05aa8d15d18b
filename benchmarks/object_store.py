"""Object store throughput: a 1 GB file up and down through boto3, modelbay beside moto's S3 server.

    .venv/bin/python benchmarks/object_store.py [--size-mb 1024] [--rounds 1]

Both servers run as their own processes on loopback; each is measured with the same client
settings (boto3's default multipart transfers) and the same file. Peak memory growth is the
server process's highest resident set size during the transfers minus its size before them.
A third server that discards what it is sent (null_s3.py) gives the upload ceiling: how fast
boto3 itself can send on this machine, with client and server sharing its cores.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from modelbay.sdk import local_server

MB = 1024 * 1024


@dataclass
class Figures:
    upload_mb_s: float
    download_mb_s: float
    peak_growth_mb: float


class MemoryWatch:
    """Samples a process's resident set size every few milliseconds while transfers run."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.base = pid, 0, rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return max(0, self.peak - self.base) / MB


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@contextmanager
def moto_server() -> Iterator[tuple[str, int]]:
    with served([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p"]) as (url, pid):
        yield url, pid


@contextmanager
def served(command: list[str]) -> Iterator[tuple[str, int]]:
    """Run a server whose command ends with its port; yield its URL and process id once it listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([*command, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("moto server did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def s3_client(url: str) -> Any:
    return boto3.client("s3", endpoint_url=url, aws_access_key_id="bench", aws_secret_access_key="bench",
                        region_name="us-east-1", config=Config(max_pool_connections=16))


def upload_ceiling(source: Path) -> float:
    """MB/s of boto3's upload_file into a server that discards the bytes."""
    null_s3 = Path(__file__).with_name("null_s3.py")
    with served([sys.executable, str(null_s3)]) as (url, _):
        seconds = timed(lambda: s3_client(url).upload_file(str(source), "bench", "big.bin", Config=TransferConfig()))
    return source.stat().st_size / MB / seconds


def measure(url: str, pid: int, source: Path, digest: str) -> Figures:
    s3 = s3_client(url)
    s3.create_bucket(Bucket="bench")
    size_mb = source.stat().st_size / MB
    config = TransferConfig()  # boto3's defaults: 8 MB parts, 10 threads
    target = source.with_suffix(".back")
    with MemoryWatch(pid) as memory:
        upload_s = timed(lambda: s3.upload_file(str(source), "bench", "big.bin", Config=config))
        download_s = timed(lambda: s3.download_file("bench", "big.bin", str(target), Config=config))
    if md5_of(target) != digest:
        raise RuntimeError(f"downloaded bytes differ from the upload ({url})")
    target.unlink()
    return Figures(size_mb / upload_s, size_mb / download_s, memory.growth_mb)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as data:
        while piece := data.read(8 * MB):
            digest.update(piece)
    return digest.hexdigest()


def make_file(path: Path, size: int) -> str:
    digest = hashlib.md5()
    with path.open("wb") as out:
        for _ in range(size // (8 * MB)):
            piece = os.urandom(8 * MB)
            digest.update(piece)
            out.write(piece)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelbay-bench-") as scratch:
        source = Path(scratch) / "big.bin"
        digest = make_file(source, args.size_mb * MB)
        with local_server(Path(scratch) / "data") as server:
            ours = measure(server.url, server.pid, source, digest)
        with moto_server() as (url, pid):
            theirs = measure(url, pid, source, digest)
        ceiling = upload_ceiling(source)
    print(f"object store benchmark: {args.size_mb} MB file, boto3 upload_file/download_file, loopback")
    print(f"{'server':<10}{'upload MB/s':>14}{'download MB/s':>16}{'peak memory growth MB':>24}")
    for name, figures in (("modelbay", ours), ("moto", theirs)):
        print(f"{name:<10}{figures.upload_mb_s:>14.1f}{figures.download_mb_s:>16.1f}{figures.peak_growth_mb:>24.1f}")
    up, down = ours.upload_mb_s / theirs.upload_mb_s, ours.download_mb_s / theirs.download_mb_s
    print(f"{'ratio':<10}{up:>13.1f}x{down:>15.1f}x")
    print(f"upload ceiling on this machine (boto3 into a server that discards the bytes): {ceiling:.1f} MB/s; "
          f"modelbay reaches {ours.upload_mb_s / ceiling:.0%} of it, moto {theirs.upload_mb_s / ceiling:.0%}")


if __name__ == "__main__":
    main()
