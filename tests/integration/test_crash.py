"""SIGKILL the server while it writes; on restart nothing half-written shows, nothing committed is lost."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections import defaultdict
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import client
from tests.helpers import ServerProcess, wait_until

OBJECT_SIZE = 256 * 1024
BIG_SIZE = 64 * 1024 * 1024


def body_for(version: int) -> bytes:
    """A body whose every byte depends on the write it came from, so a mix of two writes is caught."""
    seed = hashlib.sha256(str(version).encode()).digest()
    return (seed * (OBJECT_SIZE // len(seed) + 1))[:OBJECT_SIZE]


class Writes:
    """What the writers tried and what the server acknowledged, per key."""

    def __init__(self) -> None:
        self.attempted: dict[str, list[int]] = defaultdict(list)
        self.acknowledged: dict[str, int] = {}
        self.count = 0
        self.lock = threading.Lock()

    def run(self, url: str, worker: int, stop: threading.Event) -> None:
        s3 = client(url, "s3", connect_timeout=2, read_timeout=10)
        for n in range(10_000):
            key, version = f"w{worker}/k{n % 7}", worker * 10_000 + n
            if stop.is_set():
                return
            with self.lock:
                self.attempted[key].append(version)
            try:
                s3.put_object(Bucket="crash", Key=key, Body=body_for(version))
            except (ClientError, BotoCoreError):
                return  # the server died under us: this write may or may not have landed
            with self.lock:
                self.acknowledged[key] = version
                self.count += 1


def test_kill_during_writes_then_restart(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    url = server.start()
    client(url, "s3").create_bucket(Bucket="crash")
    arn = "arn:aws:sagemaker:us-east-1:000000000000:model/crash"
    client(url, "sagemaker").add_tags(ResourceArn=arn, Tags=[{"Key": "kept", "Value": "yes"}])
    writes, stop = Writes(), threading.Event()
    threads = [threading.Thread(target=writes.run, args=(url, w, stop)) for w in range(4)]
    threads.append(threading.Thread(target=_big_upload, args=(url, tmp_path)))
    for thread in threads:
        thread.start()
    wait_until(lambda: writes.count >= 40, 60, "writes to land before the kill")
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=60)

    url = server.start()
    try:
        s3 = client(url, "s3")
        listed = {o["Key"]: o["Size"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="crash")
                  for o in page.get("Contents", [])}
        assert set(writes.acknowledged) <= set(listed)  # nothing committed is lost
        for key in set(listed) - {"big.bin"}:
            data = s3.get_object(Bucket="crash", Key=key)["Body"].read()
            candidates = [v for v in writes.attempted[key] if v >= writes.acknowledged.get(key, -1)]
            assert any(data == body_for(v) for v in candidates), key  # one whole write, not older than acknowledged
        assert listed.get("big.bin", BIG_SIZE) == BIG_SIZE  # the big upload is whole or absent
        assert client(url, "sagemaker").list_tags(ResourceArn=arn)["Tags"] == [{"Key": "kept", "Value": "yes"}]
    finally:
        server.stop()


def _big_upload(url: str, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(BIG_SIZE))
    with contextlib.suppress(ClientError, BotoCoreError):  # killed mid-upload, as intended
        client(url, "s3").upload_file(str(path), "crash", "big.bin")
