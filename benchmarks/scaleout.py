"""Scale-out (issue 21): an instance's start on Ray beside the local process runtime, an endpoint's throughput on 1, 2
and 3 serving nodes, and a control plane's leader fail-over.

    .venv/bin/python benchmarks/scaleout.py [--quick]

Starts a Ray cluster of three nodes on this machine (tests/ray_cluster.py: a `ray start` process each, a zone each)
and moto's S3 server (what the nodes reach instances' directories through), then, in one run:
(a) instance start: a tiny bring-your-own model server started by each runtime's `start`, timed until it answers
    GET /ping: the process runtime on this machine, and RayRuntime (the directory uploaded to S3, the instance's actor
    placed on a node, the directory downloaded there, the program started by the node's launcher); the median of N
    starts each, and their ratio;
(b) throughput: a `modelbay server` on the cluster (MODELBAY_RUNTIME=ray) serving an endpoint of 1, then 2, then 3
    instances, one a node; its model answers one request at a time and takes MODEL_LATENCY_S for each (a model bound
    by its own latency, not by this machine's 2 cores, which every node shares); CLIENTS threads invoke through the
    front door (boto3) for a fixed time; scaling efficiency = throughput(n) / (n x throughput(1));
(c) leader fail-over: two servers on one PostgreSQL database (a database of its own on 127.0.0.1:5432) and the same
    S3; the leader (GET /_modelbay/v1/cluster) is SIGKILLed, and the time until the other answers as the leader is
    taken; the killed server starts again as a follower before the next round. Skipped, with the reason, when no
    PostgreSQL listens.
--quick: 2 starts, 3 s of load a step, 1 fail-over (5, 10 s and 3 otherwise).
"""

from __future__ import annotations

import argparse
import base64
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test suite's Ray cluster and S3 server on this machine

from tests.helpers import moto_s3_server  # noqa: E402
from tests.ray_cluster import NodeSpec, ray_cluster  # noqa: E402

from modelbay.config import Settings  # noqa: E402
from modelbay.instance_types import instance_type  # noqa: E402
from modelbay.runtime.base import InstanceSpec, Runtime, stop_all  # noqa: E402
from modelbay.runtime.process import ProcessRuntime  # noqa: E402
from modelbay.sdk.signing import SignedCalls  # noqa: E402

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
NODES = [NodeSpec(zone, cpus=2) for zone in ZONES]
S3_KEYS = {"MODELBAY_S3_ACCESS_KEY_ID": "bench", "MODELBAY_S3_SECRET_ACCESS_KEY": "bench"}
KEYS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
SESSION = boto3.Session(KEYS["AWS_ACCESS_KEY_ID"], KEYS["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
NAME = "scaleout-bench"
MODEL_LATENCY_S = 0.05
CLIENTS = 12
START_TIMEOUT_S = 120.0
# A model server answering one request at a time, each after MODEL_LATENCY_S (its connections are served by threads:
# the front door keeps several open to an instance, as it does to real model servers).
SERVE = f"""#!{sys.executable}
import http.server, os, threading, time
MODEL = threading.Lock()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.answer(b"")
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        with MODEL:
            time.sleep({MODEL_LATENCY_S})
        self.answer(b"ok")
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["SAGEMAKER_BIND_TO_PORT"])), Handler).serve_forever()
"""


@dataclass(frozen=True)
class Effort:
    starts: int
    load_s: float
    failovers: int


FULL, QUICK = Effort(5, 10.0, 3), Effort(2, 3.0, 1)


# -- (a) instance start -------------------------------------------------------------------------------------------
def model_image(directory: Path) -> Path:
    """The model server as a bring-your-own image's `serve`."""
    directory.mkdir(parents=True, exist_ok=True)
    serve = directory / "serve"
    serve.write_text(SERVE)
    serve.chmod(0o755)
    return serve


def time_start(runtime: Runtime, serve: Path, work: Path) -> float:
    """Seconds from `start` to the model server answering /ping (the instance is then stopped and removed)."""
    port = free_port()
    spec = InstanceSpec((str(serve),), work / uuid.uuid4().hex / "opt_ml", instance_type("ml.m5.large"),
                        env={"SAGEMAKER_BIND_TO_PORT": str(port), "PATH": os.environ["PATH"]})
    began = time.perf_counter()
    instance = runtime.start(spec, {"bench": NAME})
    wait_for(lambda: pings(f"http://{instance.address}:{port}/ping"), "the model server to answer /ping")
    took = time.perf_counter() - began
    runtime.stop(instance.id, 0)
    wait_for(lambda: not runtime.inspect(instance.id).is_alive, "the instance to end")
    runtime.remove(instance.id)
    return took


def starts(runtime: Runtime, serve: Path, work: Path, count: int) -> list[float]:
    return [time_start(runtime, serve, work) for _ in range(count)]


# -- (b) throughput ---------------------------------------------------------------------------------------------
def throughput(url: str, endpoint: str, seconds: float) -> tuple[float, int]:
    """Answers a second from CLIENTS threads invoking without pause for `seconds`, and the failed calls."""
    answered, failed = [0] * CLIENTS, [0] * CLIENTS
    deadline = time.monotonic() + seconds

    def invoke(index: int) -> None:
        runtime = SESSION.client("sagemaker-runtime", endpoint_url=url, config=Config(retries={"max_attempts": 1}))
        while time.monotonic() < deadline:
            try:
                runtime.invoke_endpoint(EndpointName=endpoint, Body=b"1", ContentType="text/csv")["Body"].read()
                answered[index] += 1
            except Exception:  # counted, and printed: a failure is a finding
                failed[index] += 1
    threads = [threading.Thread(target=invoke, args=(i,)) for i in range(CLIENTS)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(answered) / (time.monotonic() - began), sum(failed)


def scaled(url: str, serve_dir: Path, seconds: float) -> list[tuple[int, float, int]]:
    """(instances, answers a second, failures) with 1, 2 and 3 instances of one endpoint, one a node."""
    sagemaker = SESSION.client("sagemaker", endpoint_url=url)
    sagemaker.create_model(ModelName=NAME, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": str(serve_dir)})
    sagemaker.create_endpoint_config(EndpointConfigName=NAME, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": NAME, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sagemaker.create_endpoint(EndpointName=NAME, EndpointConfigName=NAME)
    figures = []
    for count in (1, 2, 3):  # the variant scaled out in place, an instance a node, as autoscaling would
        if count > 1:
            sagemaker.update_endpoint_weights_and_capacities(EndpointName=NAME, DesiredWeightsAndCapacities=[
                {"VariantName": "AllTraffic", "DesiredInstanceCount": count}])
        wait_for(lambda: in_service(sagemaker, count), "the endpoint to serve")  # noqa: B023
        figures.append((count, *throughput(url, NAME, seconds)))
    return figures


def in_service(sagemaker: Any, count: int) -> bool:
    described = sagemaker.describe_endpoint(EndpointName=NAME)
    if described["EndpointStatus"] == "Failed":
        raise RuntimeError(f"the endpoint failed: {described.get('FailureReason')}")
    return bool(described["EndpointStatus"] == "InService"
                and described["ProductionVariants"][0]["CurrentInstanceCount"] == count)


# -- (c) leader fail-over ---------------------------------------------------------------------------------------
def postgres_reason() -> str | None:
    """Why the fail-over cannot be measured here; None if it can."""
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        return "no PostgreSQL listens on 127.0.0.1:5432"
    return None


@contextmanager
def database() -> Iterator[str]:
    """A database of its own on the local PostgreSQL; its URL."""
    import sqlalchemy
    name = "modelbay_bench_" + uuid.uuid4().hex[:10]
    admin = sqlalchemy.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


class Server:
    """A `modelbay server` process on a free loopback port, in `open` mode, with its own data directory."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.data_dir, self.env = data_dir, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> Server:
        address = self.data_dir / "address"
        address.unlink(missing_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / "server.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "modelbay", "server", "--host", "127.0.0.1", "--port", "0", "--data-dir",
                 str(self.data_dir), "--address-file", str(address), "--quiet"], env=self.env, stdout=log, stderr=log)
        proc = self.proc
        wait_for(lambda: address.exists() or proc.poll() is not None, "the server to listen")
        if proc.poll() is not None:
            raise RuntimeError(f"modelbay server exited: {(self.data_dir / 'server.log').read_text()[-2000:]}")
        self.url = address.read_text().strip()
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)

    def leader(self) -> str | None:
        """The URL of the leader this server knows of; None while none leads."""
        answer = httpx.get(f"{self.url}/_modelbay/v1/cluster", auth=SignedCalls(SESSION), timeout=10)
        answer.raise_for_status()
        leader = answer.json()["leader"]
        return None if leader is None else str(leader["url"])


def failovers(work: Path, env: dict[str, str], rounds: int) -> list[float]:
    """Seconds from the leader's SIGKILL to the survivor answering as the leader, a round each."""
    with database() as url, ExitStack() as servers:
        shared = env | {"MODELBAY_DATABASE_URL": url, "MODELBAY_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
        pair = [Server(work / f"server-{i}", shared).start() for i in (0, 1)]
        for server in pair:
            servers.callback(server.stop)
        times = []
        for _ in range(rounds):
            leading = wait_for(lambda: next((s for s in pair if pair[0].leader() == s.url), None), "a leader")
            other = next(s for s in pair if s is not leading)
            began = time.perf_counter()
            leading.kill()
            wait_for(lambda: other.leader() == other.url, "the other server to lead")  # noqa: B023
            times.append(time.perf_counter() - began)
            leading.start()  # back, as a follower
        return times


# -- the run ------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pings(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = START_TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return found


def report(process: list[float], ray: list[float], scaling: list[tuple[int, float, int]],
           failover: list[float] | str) -> None:
    local, remote = statistics.median(process), statistics.median(ray)
    print(f"(a) instance start to /ping (median of {len(process)}): process runtime {local * 1000:8.0f} ms, "
          f"Ray {remote * 1000:8.0f} ms: Ray takes {remote / local:.1f}x")
    base = scaling[0][1]
    print(f"(b) endpoint throughput, a model answering one request at a time in {MODEL_LATENCY_S * 1000:.0f} ms, "
          f"{CLIENTS} clients through the front door:")
    for count, rate, failed in scaling:
        print(f"    {count} node{'s' if count > 1 else ' '}: {rate:8.1f} answers/s, scaling efficiency "
              f"{rate / (count * base):5.2f}, failed calls: {failed}")
    if isinstance(failover, str):
        print(f"(c) leader fail-over: skipped: {failover}")
    else:
        print(f"(c) leader fail-over, SIGKILL to the other server leading (median of {len(failover)}): "
              f"{statistics.median(failover) * 1000:.0f} ms (max {max(failover) * 1000:.0f} ms)")
    print("Measured on one 2-core machine: the three Ray nodes, the server, the clients and the models share it.")


def main(quick: bool) -> None:
    effort = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="scaleout-bench-") as scratch, moto_s3_server() as s3_url:
        work = Path(scratch)
        serve = model_image(work / "image")
        with ray_cluster(work / "nodes", NODES) as cluster:
            env = {**os.environ, **KEYS, **S3_KEYS, "MODELBAY_AUTH": "open", "MODELBAY_S3_ENDPOINT_URL": s3_url}
            ray_env = env | {"MODELBAY_RUNTIME": "ray", "MODELBAY_RAY_ADDRESS": cluster.address,
                             "MODELBAY_ZONES": ",".join(ZONES)}
            process = ProcessRuntime(work / "process", networks=False)
            try:
                process_starts = starts(process, serve, work / "instances", effort.starts)
            finally:
                stop_all(process, grace_s=0)
            ray_starts = ray_runtime_starts(ray_env, serve, work, effort.starts)
            server = Server(work / "ray-server", ray_env).start()
            try:
                scaling = scaled(server.url, serve.parent, effort.load_s)
            finally:
                server.stop()
        reason = postgres_reason()
        failover: list[float] | str = reason if reason is not None else failovers(work, env, effort.failovers)
    report(process_starts, ray_starts, scaling, failover)


def ray_runtime_starts(env: dict[str, str], serve: Path, work: Path, count: int) -> list[float]:
    """RayRuntime's starts, in this process (its driver connects to the cluster, and leaves it before the cluster
    stops: a driver whose cluster is gone ends its process)."""
    import ray

    from modelbay.runtime.ray import RayRuntime
    runtime = RayRuntime(Settings.from_env(env), work / "ray-runtime")
    try:
        return starts(runtime, serve, work / "instances", count)
    finally:
        stop_all(runtime, grace_s=0)
        runtime.close()
        ray.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer starts, shorter load, one fail-over (~2 min)")
    main(parser.parse_args().quick)
