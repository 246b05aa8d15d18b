"""What `iam` mode costs a call, and what SSE-KMS costs an object, measured side by side in one run.

    .venv/bin/python benchmarks/auth_overhead.py [SECONDS]

1. In process, per request: reading the credential, finding the key's principal (cached after its first call),
   verifying the SigV4 signature, and evaluating the principal's policies against what the call needs, for an
   InvokeEndpoint (1 KiB body) and a DescribeTrainingJob, signed by an IAM user with AmazonSageMakerFullAccess.
   The goal: under 50 us for a cached principal. CPU time (process_time) beside wall time.
2. Through the server: two app servers (build_app on uvicorn, as `modelbay server` runs it), one in `open` mode and
   one in `iam` mode, in front of one trivial model server; a keep-alive client sends the same signed InvokeEndpoint
   and ListEndpoints requests (SigV4 has no nonce: a signed request may be sent again within its 15 minutes) at
   concurrency 1 to each, for SECONDS (default 3) each; the difference of the means is what `iam` adds, and the
   servers' own CPU per request (from /proc) is shown beside it.
3. Object bytes: PutObject and GetObject of a 64 MiB object in the local object store, plain and SSE-KMS
   (AES-256-GCM in 64 KiB segments under a KMS data key), MB/s each.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import socket
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import uvloop
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from invoke_overhead import ENDPOINT, _listening, _load, _mean_us, _serve_model

from modelbay.config import ROOT_KEY_FILE, Settings
from modelbay.platform import Regions
from modelbay.security.authentication import Authenticator
from modelbay.security.authorization import Authorizer
from modelbay.security.principal import Principal
from modelbay.security.root_key import AccessKey, write_root_key
from modelbay.security.signed_request import SignedRequest
from modelbay.security.sigv4 import read_credential, verify
from modelbay.services.base import Context
from modelbay.services.iam import OPERATIONS as IAM
from modelbay.store.objects import ObjectMeta

ROOT = AccessKey("AKIDBENCHROOT", "bench-secret")
FULL_ACCESS = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
MiB = 1024 * 1024


def signed(url: str, path: str, body: bytes, headers: dict[str, str], service: str, key: AccessKey) -> AWSRequest:
    request = AWSRequest("POST", url + path, data=body, headers=headers)
    SigV4Auth(Credentials(*key), service, "us-east-1").add_auth(request)
    return request


def invoke_request(url: str, key: AccessKey) -> AWSRequest:
    return signed(url, f"/endpoints/{ENDPOINT}/invocations", b"x" * 1024, {"Content-Type": "text/csv"},
                  "sagemaker", key)


def control_request(url: str, key: AccessKey, operation: str, body: dict[str, Any]) -> AWSRequest:
    return signed(url, "/", json.dumps(body).encode(), {"X-Amz-Target": f"SageMaker.{operation}",
                                                         "Content-Type": "application/x-amz-json-1.1"},
                  "sagemaker", key)


# -- 1. in process ------------------------------------------------------------------------------------------------

def in_process(seconds: float) -> None:
    data_dir = Path(tempfile.mkdtemp())
    regions = Regions(Settings(data_dir=data_dir, auth="iam"))
    home = regions.home
    user_key = _user_with_full_access(home)
    authenticator, authorizer = Authenticator("iam", home, ROOT), Authorizer(home, "iam")
    cases = {"InvokeEndpoint": (invoke_request("http://127.0.0.1", user_key), "sagemaker-runtime",
                                {"EndpointName": ENDPOINT, "Body": b"x" * 1024}),
             "DescribeTrainingJob": (control_request("http://127.0.0.1", user_key, "DescribeTrainingJob",
                                                     {"TrainingJobName": "job"}), "sagemaker",
                                     {"TrainingJobName": "job"})}
    print("1. in process, per request (credential, cached principal, SigV4 verification, policy evaluation):")
    for operation, (request, service, params) in cases.items():
        check = _checker(request, service, operation, params, authenticator, authorizer, home)
        check()  # the principal's first call: looked up, its policies read and parsed
        wall, cpu = _timed(check, seconds)
        print(f"   {operation:<20} {wall:6.1f} us wall, {cpu:6.1f} us CPU  (goal: under 50 us)")
    regions.close()


def _user_with_full_access(home: Any) -> AccessKey:
    ctx = Context(home, "bench", "us-east-1", Principal(ROOT.access_key_id, home.settings.account_id))
    IAM["CreateUser"](ctx, {"UserName": "bench"})
    IAM["AttachUserPolicy"](ctx, {"UserName": "bench", "PolicyArn": FULL_ACCESS})
    made = IAM["CreateAccessKey"](ctx, {"UserName": "bench"})["AccessKey"]
    return AccessKey(made["AccessKeyId"], made["SecretAccessKey"])


def _checker(request: AWSRequest, service: str, operation: str, params: dict[str, Any], authenticator: Authenticator,
             authorizer: Authorizer, home: Any) -> Callable[[], None]:
    headers = {name.lower(): value for name, value in request.headers.items()} | {"host": "127.0.0.1"}
    path, body = request.url.split("127.0.0.1", 1)[1], request.body  # AWSRequest.body prepares the request anew

    def check() -> None:
        credential = read_credential(headers, {})
        assert credential is not None
        identity = authenticator.identify(credential.access_key_id, None, credential.service)
        assert identity.secret_access_key is not None
        verify(SignedRequest("POST", path, "", headers, body), credential, identity.secret_access_key,
               datetime.now(UTC))
        authorizer.authorize(identity, service, operation, params, home, "127.0.0.1")

    return check


def _timed(work: Callable[[], None], seconds: float) -> tuple[float, float]:
    """Mean wall and CPU microseconds of `work` over about `seconds`."""
    count, wall_start, cpu_start = 0, time.perf_counter(), time.process_time()
    deadline = wall_start + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            work()
        count += 100
    return ((time.perf_counter() - wall_start) / count * 1e6, (time.process_time() - cpu_start) / count * 1e6)


# -- 2. through the server ----------------------------------------------------------------------------------------

def _serve_app(sock: Any, model_url: str, data_dir: Path, auth: str) -> None:
    import uvicorn

    from modelbay.api.app import build_app
    from modelbay.server import uvicorn_config
    from modelbay.serving.router import Backend, VariantRoute

    app = build_app(Settings(data_dir=data_dir, auth=auth))
    app.state.platform.router.publish(ENDPOINT, [VariantRoute("AllTraffic", 1, (Backend("i-1", "z", (model_url,)),))])
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(uvicorn.Server(uvicorn_config(app)).serve(sockets=[sock]))


def through_servers(seconds: float) -> None:
    model_sock, open_sock, iam_sock = _listening(), _listening(), _listening()
    ports = {name: sock.getsockname()[1] for name, sock in (("open", open_sock), ("iam", iam_sock))}
    iam_dir = Path(tempfile.mkdtemp())
    write_root_key(iam_dir / ROOT_KEY_FILE, ROOT)
    context = multiprocessing.get_context("fork")
    model_url = f"http://127.0.0.1:{model_sock.getsockname()[1]}"
    processes = {"model": context.Process(target=_serve_model, args=(model_sock,), daemon=True),
                 "open": context.Process(target=_serve_app, args=(open_sock, model_url, Path(tempfile.mkdtemp()),
                                                                  "open"), daemon=True),
                 "iam": context.Process(target=_serve_app, args=(iam_sock, model_url, iam_dir, "iam"), daemon=True)}
    for process in processes.values():
        process.start()
    try:
        _wait_for(ports["iam"])
        url = f"http://127.0.0.1:{ports['iam']}"
        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id=ROOT.access_key_id,
                           aws_secret_access_key=ROOT.secret_access_key)
        iam.create_user(UserName="bench")
        iam.attach_user_policy(UserName="bench", PolicyArn=FULL_ACCESS)
        made = iam.create_access_key(UserName="bench")["AccessKey"]
        user = AccessKey(made["AccessKeyId"], made["SecretAccessKey"])
        print(f"2. through the server, concurrency 1, {seconds:g} s each (IAM user with AmazonSageMakerFullAccess):")
        for name, make in (("InvokeEndpoint", lambda: invoke_request("http://127.0.0.1", user)),
                           ("ListEndpoints", lambda: control_request("http://127.0.0.1", user, "ListEndpoints", {}))):
            raw = _raw(make())
            figures = {}
            for mode in ("open", "iam"):
                uvloop.run(_load(ports[mode], raw, 1, 0.5))  # warm up: the principal cached, the code paths hot
                cpu_before = _cpu_s(processes[mode].pid)
                latencies = uvloop.run(_load(ports[mode], raw, 1, seconds))
                figures[mode] = (_mean_us(latencies), (_cpu_s(processes[mode].pid) - cpu_before) / len(latencies) * 1e6)
            added = figures["iam"][0] - figures["open"][0]
            print(f"   {name:<15} open {figures['open'][0]:6.0f} us ({figures['open'][1]:5.0f} us CPU), "
                  f"iam {figures['iam'][0]:6.0f} us ({figures['iam'][1]:5.0f} us CPU) -> iam adds {added:5.0f} us "
                  f"({figures['iam'][1] - figures['open'][1]:5.0f} us CPU) per request")
    finally:
        for process in processes.values():
            process.terminate()


def _raw(request: AWSRequest) -> bytes:
    """The request as bytes on a keep-alive connection."""
    path = request.url.split("127.0.0.1", 1)[1]
    body = request.body if isinstance(request.body, bytes) else request.body.encode()
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in request.headers.items() if name.lower() != "host"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)  # a process starting: nothing to wait on but its port
    raise TimeoutError(f"no server on port {port}")


def _cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- 3. object bytes ----------------------------------------------------------------------------------------------

def object_bytes() -> None:
    regions = Regions(Settings(data_dir=Path(tempfile.mkdtemp())))
    home, store = regions.home, regions.home.objects
    key = home.kms.generate_data_key("alias/aws/s3").key_arn
    store.create_bucket("bench", "us-east-1")
    data = os.urandom(64 * MiB)
    print("3. a 64 MiB object in the local object store, MB/s:")
    figures = {}
    for name, headers in (("plain", {}), ("SSE-KMS", {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key})):
        start = time.perf_counter()
        store.put("bench", name, io.BytesIO(data), ObjectMeta(headers=headers))
        written = time.perf_counter() - start
        start = time.perf_counter()
        with store.open("bench", name) as stream:
            assert stream.read() == data
        read = time.perf_counter() - start
        figures[name] = (64 / written, 64 / read)
    for name, (put, get) in figures.items():
        print(f"   {name:<8} PutObject {put:7.0f} MB/s, GetObject {get:7.0f} MB/s")
    plain, sealed = figures["plain"], figures["SSE-KMS"]
    print(f"   SSE-KMS / plain: PutObject {sealed[0] / plain[0]:.2f}x, GetObject {sealed[1] / plain[1]:.2f}x")
    regions.close()


def main(seconds: float) -> None:
    in_process(seconds)
    through_servers(seconds)
    object_bytes()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("seconds", type=float, nargs="?", default=3.0, help="seconds per measurement (default 3)")
    main(parser.parse_args().seconds)
