"""Containers: what podman costs next to the process runtime, and the registry's push and pull throughput.

    make bench-containers        # installs Debian's docker-registry (the reference registry), then runs this
    .venv/bin/python benchmarks/containers.py [--runs N] [--size-mb MB]

Starts two private servers, one per runtime (`MODELBAY_RUNTIME=process`, the default, and `podman`), and
measures them side by side in one run, their repetitions interleaved so both see the same load:
1. cold start of a serving instance: CreateEndpoint to the first successful InvokeEndpoint (polled every
   20 ms), one ml.m5.large instance of the same trivial bring-your-own model server (a Python http.server
   answering /ping and echoing /invocations): a directory image for the process runtime, and the same program
   in an image built from a Dockerfile (`FROM python:3.11-slim`) with `modelbay images build` and pushed to
   the podman server's registry. One untimed endpoint per runtime comes first; the podman one loads the
   pushed image into podman's store, and its time is shown apart;
2. an empty training job (`train` exits 0) of the same images: CreateTrainingJob to Completed
   (DescribeTrainingJob polled every 20 ms), after one untimed job per runtime;
3. push and pull of an image holding a layer of SIZE_MB of random data over the Debian base image, with
   `podman push` and `podman pull` over HTTP, against modelbay's registry (through ECR's authorization token)
   and against Debian's docker-registry (the CNCF distribution registry 2.8, on a filesystem in a temporary
   directory) when it is installed. The base layer is pushed first, untimed, so the figures are the random
   layer's: podman compresses it with gzip on push and decompresses it on pull, on the same CPUs.
Prints median and spread (min-max) per runtime and the ratios, then MB/s each way (1 MB = 10^6 bytes).
Everything made is removed at the end: the servers (with their instances), the reference registry, and every
image in podman's store whose name holds this run's prefix; a container or network a server left behind is
reported and removed. The base images (Debian's, python:3.11-slim) stay: they are built once per machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from modelbay.base_images import debian_image
from modelbay.cli.image_builds import Registry
from modelbay.config import Settings
from modelbay.podman_engine import podman, podman_available
from modelbay.runtime.cgroups import runtime_key
from modelbay.runtime.podman import OWNER
from modelbay.sdk.local_server import LocalServer, local_server

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
INSTANCE_TYPE = "ml.m5.large"
BUCKET = "bench"
POLL_S = 0.02
START_TIMEOUT_S = 300.0
TRANSFER_TIMEOUT_S = 1800.0
RUNTIMES = ("process", "podman")

SERVE = """#!/usr/bin/env python3
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.answer(b"")
    def do_POST(self):
        self.answer(self.rfile.read(int(self.headers["Content-Length"])))
port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
print(f"serving on port {port}", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
"""
TRAIN = "#!/bin/sh\necho an empty job\n"
PROGRAM_DOCKERFILE = "FROM python:3.11-slim\nCOPY serve train /opt/program/\nENV PATH=/opt/program:$PATH\n"
PAYLOAD_DOCKERFILE = "FROM {base}\nRUN head -c {size} /dev/urandom > /payload\n"


# -- servers and what they leave -------------------------------------------------------------------


@contextlib.contextmanager
def server(runtime: str) -> Iterator[LocalServer]:
    """A private server running its instances with `runtime`; once it has stopped, anything it left in podman
    (containers, networks: none is expected) is reported and removed."""
    with tempfile.TemporaryDirectory(prefix="modelbay-bench-") as scratch:
        data_dir = Path(scratch) / "data"
        try:
            with contextlib.ExitStack() as stack:
                with mock.patch.dict(os.environ, {"MODELBAY_RUNTIME": runtime, "MODELBAY_KEEP_INSTANCES": "0"}):
                    started = stack.enter_context(local_server(data_dir))  # the server reads them at start-up
                yield started
        finally:
            if runtime == "podman":
                remove_leftovers(data_dir)


def remove_leftovers(data_dir: Path) -> None:
    for state_dir in (data_dir / "runtime", *data_dir.glob("regions/*/runtime")):
        mine = f"label={OWNER}={runtime_key(state_dir)}"
        for kind, listing, removal in (("container", ["ps", "-a"], ["rm", "--force"]),
                                       ("network", ["network", "ls"], ["network", "rm", "--force"])):
            for name in podman([*listing, "--filter", mine, "--format", "{{.Name}}"], config_dir()).split():
                print(f"warning: the podman server left {kind} {name} behind; removing it", file=sys.stderr)
                podman([*removal, name], config_dir())


def config_dir() -> Path:
    return Settings.from_env().podman_dir


def remove_images(prefix: str) -> None:
    """Remove every image in podman's store whose name holds `prefix` (this run's), and what only they used."""
    listing = podman(["images", "--format", "{{.ID}} {{.Repository}}"], config_dir())
    ids = {line.split()[0] for line in listing.splitlines() if prefix in line}
    if ids:
        podman(["rmi", "--force", *sorted(ids)], config_dir())


# -- the bring-your-own program ------------------------------------------------------------------


def program_directory(directory: Path) -> Path:
    """A directory image holding `serve` and `train`, and the Dockerfile that makes the same image."""
    directory.mkdir()
    for name, text in (("serve", SERVE), ("train", TRAIN), ("Dockerfile", PROGRAM_DOCKERFILE)):
        (directory / name).write_text(text)
    for name in ("serve", "train"):
        (directory / name).chmod(0o755)
    return directory


def build_and_push(url: str, repository: str, context: Path) -> str:
    """`modelbay images build` of `context` pushed to the server at `url`: answer the image's URI."""
    done = subprocess.run([sys.executable, "-m", "modelbay", "images", "build", "--url", url, "-t",
                           f"{repository}:v1", str(context)], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"modelbay images build failed: {done.stderr[-3000:]}")
    return done.stdout.strip()


# -- cold start and training jobs ------------------------------------------------------------------


def cold_start(target: LocalServer, image: str, name: str) -> float:
    """Seconds from CreateEndpoint to the first successful InvokeEndpoint; the endpoint is deleted after."""
    sagemaker, runtime = target.sagemaker, target.client("sagemaker-runtime")
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": image})
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": INSTANCE_TYPE}])
    started = time.monotonic()
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    while not answers(runtime, name):
        status = sagemaker.describe_endpoint(EndpointName=name)
        if status["EndpointStatus"] == "Failed" or time.monotonic() - started > START_TIMEOUT_S:
            raise RuntimeError(f"endpoint {name} did not answer: {status.get('FailureReason', 'timed out')}")
        time.sleep(POLL_S)
    elapsed = time.monotonic() - started
    sagemaker.delete_endpoint(EndpointName=name)
    sagemaker.delete_endpoint_config(EndpointConfigName=name)
    sagemaker.delete_model(ModelName=name)
    wait_until_gone(lambda: sagemaker.describe_endpoint(EndpointName=name))
    return elapsed


def answers(runtime: Any, endpoint: str) -> bool:
    try:
        answer = runtime.invoke_endpoint(EndpointName=endpoint, Body=b"1,2", ContentType="text/csv")
    except ClientError:
        return False
    if answer["Body"].read() != b"1,2":
        raise RuntimeError(f"endpoint {endpoint} answered something else than the echo it serves")
    return True


def wait_until_gone(describe: Callable[[], object]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            describe()
        except ClientError:
            return
        time.sleep(POLL_S)
    raise RuntimeError(f"a deleted endpoint was still there after {START_TIMEOUT_S:.0f} s")


def training_job(target: LocalServer, image: str, name: str) -> float:
    """Seconds from CreateTrainingJob to Completed of a job whose program exits at once."""
    sagemaker = target.sagemaker
    started = time.monotonic()
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/out"},
        ResourceConfig={"InstanceType": INSTANCE_TYPE, "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    while (job := sagemaker.describe_training_job(TrainingJobName=name))["TrainingJobStatus"] == "InProgress":
        time.sleep(POLL_S)
    if job["TrainingJobStatus"] != "Completed":
        raise RuntimeError(f"{name} ended {job['TrainingJobStatus']}: {job.get('FailureReason')}")
    return time.monotonic() - started


def side_by_side(measure: Callable[[LocalServer, str, str], float], servers: dict[str, LocalServer],
                 images: dict[str, str], label: str, runs: int) -> dict[str, list[float]]:
    """`runs` timed measurements per runtime, interleaved, after one untimed one each (printed)."""
    for runtime in RUNTIMES:
        first = measure(servers[runtime], images[runtime], f"{label}-{runtime}-first")
        print(f"  untimed first {label} with {runtime}: {first:.2f} s", flush=True)
    timed: dict[str, list[float]] = {runtime: [] for runtime in RUNTIMES}
    for run in range(runs):
        for runtime in RUNTIMES:
            timed[runtime].append(measure(servers[runtime], images[runtime], f"{label}-{runtime}-{run}"))
    return timed


def print_times(title: str, timed: dict[str, list[float]]) -> None:
    print(f"\n{title} ({len(timed['process'])} each, interleaved)")
    for runtime, values in timed.items():
        print(f"  {runtime:<8} median {statistics.median(values):6.2f} s   "
              f"spread {min(values):.2f}-{max(values):.2f} s")
    ratio = statistics.median(timed["podman"]) / statistics.median(timed["process"])
    print(f"  podman / process: {ratio:.1f}x")


# -- push and pull -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def reference_registry() -> Iterator[str | None]:
    """Debian's docker-registry on a free loopback port with its storage in a temporary directory: its
    host:port, or None where it is not installed."""
    binary = shutil.which("docker-registry")
    if binary is None:
        print("docker-registry is not installed (apt-get install docker-registry): modelbay's registry only")
        yield None
        return
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="modelbay-bench-registry-") as scratch:
        config = Path(scratch) / "config.yml"
        config.write_text(json.dumps({  # YAML is a superset of JSON
            "version": 0.1, "log": {"level": "error"}, "http": {"addr": f"127.0.0.1:{port}"},
            "storage": {"filesystem": {"rootdirectory": f"{scratch}/data"}, "delete": {"enabled": True}}}))
        with subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) as process:
            try:
                wait_for_registry(f"127.0.0.1:{port}", process)
                yield f"127.0.0.1:{port}"
            finally:
                process.terminate()
                process.wait(timeout=30)


def wait_for_registry(host: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"http://{host}/v2/", timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"docker-registry did not answer on {host} (exit code {process.poll()})")


def timed_podman(args: list[str]) -> float:
    started = time.monotonic()
    podman(args, config_dir(), timeout_s=TRANSFER_TIMEOUT_S)
    return time.monotonic() - started


def push_and_pull(destinations: dict[str, str], auth: Path, prefix: str,
                  size_mb: int) -> dict[str, tuple[float, float]]:
    """Build the payload image, push it to every destination, then pull it back from each: seconds each way."""
    base, payload = debian_image(config_dir()), f"localhost/{prefix}/payload:v1"
    with tempfile.TemporaryDirectory(prefix="modelbay-bench-payload-") as context:
        (Path(context) / "Containerfile").write_text(PAYLOAD_DOCKERFILE.format(base=base, size=size_mb * 10**6))
        podman(["build", "--layers=false", "--tag", payload, context], config_dir(), timeout_s=TRANSFER_TIMEOUT_S)
    common = ["--tls-verify=false", "--authfile", str(auth)]
    pushed: dict[str, float] = {}
    for name, location in destinations.items():
        podman(["push", *common, base, f"docker://{location}:base"], config_dir(), timeout_s=TRANSFER_TIMEOUT_S)
        pushed[name] = timed_podman(["push", *common, payload, f"docker://{location}:v1"])
        print(f"  pushed to {name}: {pushed[name]:.1f} s", flush=True)
    pulled: dict[str, float] = {}
    for name, location in destinations.items():
        remove_images(f"/{prefix}/payload")  # so the pull fetches the random layer (the base layer stays)
        pulled[name] = timed_podman(["pull", "--quiet", *common, f"{location}:v1"])
        print(f"  pulled from {name}: {pulled[name]:.1f} s", flush=True)
    return {name: (pushed[name], pulled[name]) for name in destinations}


def registry_destinations(target: LocalServer, reference: str | None, prefix: str, auth: Path) -> dict[str, str]:
    """Where to push the payload: modelbay's registry (its repository made, ECR's token in `auth`), and the
    reference registry if there is one."""
    ecr = target.client("ecr")
    host = urlsplit(target.url).netloc
    repository = f"{prefix}/payload"
    ecr.create_repository(repositoryName=repository)
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    auth.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    destinations = {"modelbay": Registry(host, ecr.meta.region_name, tls_verify=False).location(repository)}
    if reference is not None:
        destinations["docker-registry 2.8"] = f"{reference}/{repository}"
    return destinations


def print_throughput(transfers: dict[str, tuple[float, float]], size_mb: int) -> None:
    print(f"\npush and pull of a {size_mb} MB layer of random data (podman over HTTP)")
    for name, (push_s, pull_s) in transfers.items():
        print(f"  {name:<20} push {size_mb / push_s:6.1f} MB/s ({push_s:5.1f} s)   "
              f"pull {size_mb / pull_s:6.1f} MB/s ({pull_s:5.1f} s)")
    if len(transfers) == 2:
        (push_ours, pull_ours), (push_theirs, pull_theirs) = transfers.values()
        print(f"  modelbay / docker-registry: push {push_theirs / push_ours:.2f}x, pull {pull_theirs / pull_ours:.2f}x")


# -- the run ---------------------------------------------------------------------------------------------


def main(runs: int, size_mb: int) -> None:
    if not podman_available():
        sys.exit("podman (with runc) is not installed: apt-get install podman runc netavark aardvark-dns catatonit")
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    print(f"{os.cpu_count()} CPUs, load average {' '.join(f'{load:.2f}' for load in os.getloadavg())}", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="modelbay-bench-") as scratch, \
                server("process") as process_server, server("podman") as podman_server:
            servers = {"process": process_server, "podman": podman_server}
            for started in servers.values():
                started.s3.create_bucket(Bucket=BUCKET)
            context = program_directory(Path(scratch) / "program")
            pushed = build_and_push(podman_server.url, f"{prefix}/program", context)
            images = {"process": str(context), "podman": pushed}
            print(f"built and pushed {images['podman']}", flush=True)
            cold = side_by_side(cold_start, servers, images, "endpoint", runs)
            jobs = side_by_side(training_job, servers, images, "job", runs)
            with reference_registry() as reference:
                auth = Path(scratch) / "auth.json"
                transfers = push_and_pull(registry_destinations(podman_server, reference, prefix, auth), auth,
                                          prefix, size_mb)
    finally:
        remove_images(prefix)
    print_times("cold start of a serving instance, CreateEndpoint -> first successful InvokeEndpoint", cold)
    print_times("empty training job, CreateTrainingJob -> Completed", jobs)
    print_throughput(transfers, size_mb)
    print("\nthe serving benchmark with instance networks on: benchmarks/serving.py (docs/benchmarks.md)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed endpoints and jobs per runtime (default 5)")
    parser.add_argument("--size-mb", type=int, default=500, help="the random layer's size in MB (default 500)")
    arguments = parser.parse_args()
    main(arguments.runs, arguments.size_mb)
