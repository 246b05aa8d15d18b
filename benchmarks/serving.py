"""Serving a scikit-learn model: modelbay against self-hosted serving peers (issues 5 and 22).

    make bench-serving            # every peer's venv and nginx installed, then this run
    .venv/bin/python benchmarks/serving.py [--peers a,b,...] [--duration S | --requests N] [--warmup S] [--rounds N]
                                            [--data-plane direct|haproxy|python]
    .venv/bin/python benchmarks/serving.py --operations-cost      # data capture and a shadow variant only
    .venv/bin/python benchmarks/serving.py --recording-cost       # metric recording only

Trains two models on 20 features in the scikit-learn 1.2-1 framework environment's Python: a
light one (LogisticRegression: the serving stack dominates) and a heavy one (RandomForest, 100
trees of depth 10: predict dominates). For each model, measured in one run:
(a) raw predict of one row in process (the model server's own floor), pinned to CPU 0, just before and just
    after modelbay's loads (this VM's speed moves within minutes): the targets hold modelbay to their mean, and
    are not judged when the two differ by more than RAW_DRIFT;
(b) every peer: a directory benchmarks/peers/<name>/ (all of them, or those `--peers` names), its
    `serve.py --port P --model PATH --workers N --run-dir DIR` run by the peer's own venv, .cache/peers/<name>,
    made from its pinned requirements.txt by `make bench-serving` (a venv missing stops the run before it
    starts), pinned to CPU 0. Its docstring says how it is configured for CPU serving as the peer's documentation
    recommends; its peer.json gives the row's label, the package whose version the table prints, the path that
    answers GET with 200 once it serves, and the request: path, Content-Type and body ("{row}" in it replaced by
    the row's CSV). The peer `classic` is the classic SageMaker bring-your-own stack: nginx → unix socket
    → gunicorn sync workers → Flask /invocations reading the CSV with pandas. A peer whose peer.json has a note
    (why it cannot run as asked) is listed with its note instead of figures;
(c) modelbay, pinned to CPU 0 (`taskset -c 0 python -m modelbay server --data-plane direct`, whose instances
    inherit the affinity: the front door hands each connection to the model server, front_door_handoff.py;
    `--data-plane haproxy` measures HAProxy on the port instead, `--data-plane python` its own front door): the
    model uploaded through S3 and deployed with CreateModel, CreateEndpointConfig and CreateEndpoint, invoked at
    `POST /endpoints/<name>/invocations` (InvokeEndpoint's route) with headers SigV4-signed once by botocore; and
    its model server alone (`POST /invocations` on the instance's own port), which splits modelbay's cost between
    the front door and the model server; and a bare HAProxy before that model server (BARE_HAPROXY: no rule, no
    log), the least a front door in a process of its own costs on this machine.
Every server gets the same number of model worker processes (WORKERS) and answers one request first: its answer's
last number must be the class raw predict gives. The load generator is this script in a second process pinned to CPU
1: an asyncio HTTP/1.1 client, one keep-alive connection per concurrent caller, each sending one row and waiting for
the answer, for a warm-up and then a fixed duration (or request count). For each model, modelbay's loads run first
(at concurrency 1 then 16, the front door's, the model server's alone, the bare HAProxy's) and its endpoint is
deleted, then each peer's in turn (in name order, or `--peers`' order): a peer is started alone, measured once its
processes have done starting (idle for a second: some answer their ready path before every worker has loaded the
model), and stopped before the next starts, so that no idle processes take CPU 0 from the one measured. Prints
requests/s and p50/p99 latency, each server's CPU time per request (from the scheduler's counts, so other load on
the machine leaves it be) and resident memory: a row per peer with its package's version, then modelbay's, then
modelbay's ratios to the best peer (for requests/s the peer with the most at that concurrency, for CPU per request
and memory the one with the most at concurrency 16, for p50 and p99 the lowest of every peer). Then the targets,
each met or NOT met with its figures: the light model at concurrency 16 at least LIGHT_GAIN times the best peer's
requests/s; at concurrency 1, on both models, more requests/s and a lower p50 than every peer, and the light model's
p50 at most LIGHT_ADDED_MS above raw predict's; the heavy model at concurrency 16 at HEAVY_SHARE of the
predict-bound ceiling or more; at concurrency 16, on both models, no peer's p99 lower than modelbay's; on both
models, the front door's CPU per request at concurrency 16 (its server's and HAProxy's, counted in the same load,
each apart too; modelbay's less its model server's alone, printed beside it, compares two loads, which a VM whose
speed moves between them makes noise of; the bare HAProxy's, in its load, printed beside it) at most FRONT_DOOR_US.
A modelbay load that fails (the endpoint replaced its instance meanwhile) is reported and measured again; a peer's
that fails stops the run.
Beside them, the cost of metric recording per invocation (issue 15: the CloudWatch and Prometheus figures every
InvokeEndpoint records): `Publisher.invoked` timed in process against the same loop with recording off, and its
share of modelbay's p50 at concurrency 1; `--recording-cost` measures it alone (no servers).
Then what data capture and a shadow variant cost per invocation (issue 16), on the same server, alone with
`--operations-cost` (no peers): the light model as three endpoints, (1) plain, (2) with a
DataCaptureConfig capturing 100 % of Input and Output into a bucket of the same server, (3) with a shadow variant
(the same model on an instance of its own) copied 100 %; their loads interleaved (plain, capture, shadow at each
concurrency, `--rounds` rounds, each figure the median), the CPU per request counted after the capture writer's
flush (SETTLE_S), and for the shadow with its own model server's. It prints what each adds against plain (µs at
p50, CPU µs per request, the ratios), the share of the invocations the shadow answered a copy of at each
concurrency (the router drops a copy past its bound of copies in flight), and checks on the server that every
invocation of the capture endpoint is a record in S3 and that the shadow's Invocations and ShadowCopiesDropped add
up to its endpoint's invocations. Beside it, in process, `DataCapture.sample` and `offer` at 100 % on the
invocation path, and the writer thread's cost per record.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from modelbay.monitoring.metrics import MetricStore
    from modelbay.serving.haproxy import RuntimeApi

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS_DIR = HERE / "peers"
PEER_VENVS = ROOT / ".cache" / "peers"
PEER_READY_TIMEOUT_S = 180.0  # a peer's start: some (Ray Serve) start a cluster first
# A peer has done starting: the same processes over the window, using less of a CPU than this between them (a worker
# loading its model uses all of one; Ray's dozen idle processes poll each other, about a tenth of one)
SETTLE_WINDOW_S, SETTLED_CPU_SHARE = 1.0, 0.3
SERVER_CPU, CLIENT_CPU = "0", "1"
LOOPBACK = "127.0.0.1"
WORKERS = 2
CONCURRENCIES = (1, 16)
IMAGE, FRAMEWORK, FRAMEWORK_VERSION = "modelbay/sklearn:1.2-1", "sklearn", "1.2-1"
BUCKET = "bench"
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
INSTANCE_TYPE = "ml.m5.large"
RAW_SECONDS = 2.0
RECORDING_CALLS = 100_000
CAPTURE_CALLS = 50_000
ROUNDS = 3  # of the operations' interleaved loads
# After each operations load, before its CPU is read: the capture writer writes what it has queued every second.
SETTLE_S = 1.5
DELIVERY_TIMEOUT_S = 30.0
CAPTURE_PREFIX, SHADOW = "capture", "Shadow"
CAPTURE = {"EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": f"s3://{BUCKET}/{CAPTURE_PREFIX}",
           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
           "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]}}
LIGHT_GAIN, LIGHT_ADDED_MS, HEAVY_SHARE = 1.5, 0.3, 0.9  # the targets (the module's docstring says what they are)
# A target held against raw predict is judged only if raw predict's CPU moved less than this across modelbay's loads.
RAW_DRIFT = 0.1
FRONT_DOOR_US = 100.0  # the front door's CPU per request at concurrency 16 (its server's and HAProxy's)
# an answer's last number is the predicted class (a V2 answer names the output's shape, [1, 1], before its data)
NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")

MODELBAY_LABELS = {  # modelbay's targets, in the order their loads run (after every peer's)
    "modelbay": "(c) modelbay: front door+model server",
    "model server": "    its model server alone (direct)",
    "bare proxy": "    a bare HAProxy before its model server",
}
# The bare proxy: HAProxy as modelbay runs it (its Debian package, one thread, SCHED_BATCH) with no rule at all, its
# one server pointed at the model server's instance through its admin socket: the least a front door in a process of
# its own costs on this machine, to set the front door's CPU per request beside.
BARE_HAPROXY = """global
    nbthread 1
    stats socket {admin} mode 600 level admin
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    http-reuse always
frontend bare
    bind {host}:{port}
    default_backend model
backend model
    server model 127.0.0.1:1
"""
OPERATIONS = {  # the light model's endpoints whose loads are interleaved, in that order
    "plain": "plain: no capture, no shadow",
    "capture": "DataCaptureConfig 100 %, In and Out",
    "shadow": "shadow variant, 100 % copied",
}
MODELS = {  # name → (what it is, the scikit-learn expression that makes it)
    "light": ("LogisticRegression", "LogisticRegression(max_iter=1000)"),
    "heavy": ("RandomForest, 100 trees, depth 10",
              "RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0)"),
}

TRAIN = """
import sys, tarfile
from pathlib import Path
import joblib
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
out, models = Path(sys.argv[1]), dict(arg.split("=", 1) for arg in sys.argv[2:])
X, y = make_classification(n_samples=5000, n_features=20, n_informative=10, random_state=0)
for name, expression in models.items():
    (out / name).mkdir(parents=True)
    joblib.dump(eval(expression).fit(X, y), out / name / "model.joblib")
    with tarfile.open(out / name / "model.tar.gz", "w:gz") as archive:
        archive.add(out / name / "model.joblib", arcname="model.joblib")
print(",".join(f"{v:.6f}" for v in X[0]))
"""

RAW_PREDICT = """
import json, statistics, sys, time
import joblib, numpy as np
model = joblib.load(sys.argv[1])
row = np.array([[float(v) for v in sys.argv[2].split(",")]])
for _ in range(20):
    model.predict(row)
times, end, cpu = [], time.perf_counter() + float(sys.argv[3]), time.process_time()
while time.perf_counter() < end:
    started = time.perf_counter()
    model.predict(row)
    times.append(time.perf_counter() - started)
print(json.dumps({"p50_s": statistics.median(times), "cpu_s": (time.process_time() - cpu) / len(times),
                  "prediction": str(model.predict(row)[0])}))
"""


@dataclass(frozen=True)
class Raw:
    p50_s: float  # median wall time of one predict
    cpu_s: float  # CPU time per predict (what bounds throughput; unlike wall time, other load leaves it be)
    prediction: str
    drift: float = 0.0  # how far CPU per predict moved between the two measurements bracketing modelbay's loads

    @staticmethod
    def bracketing(before: Raw, after: Raw) -> Raw:
        """The mean of raw predict measured just before and just after modelbay's loads: this VM's speed moves by
        a fifth within minutes, so the floor modelbay is held to is measured on both sides of it."""
        cpu_s = (before.cpu_s + after.cpu_s) / 2
        return Raw((before.p50_s + after.p50_s) / 2, cpu_s, before.prediction, abs(before.cpu_s - after.cpu_s) / cpu_s)


@dataclass(frozen=True)
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    answered: int  # every answer, warm-up included
    seconds: float  # the whole load, warm-up included
    cpu_us: float = 0.0  # the stack's CPU time (all its processes) per answer
    cpu_share: float = 0.0  # of the server CPU's time during the load: the rest went to other processes
    front_cpu_us: float = 0.0  # of cpu_us, its front door's processes' (where it has some apart from its model server)
    proxy_cpu_us: float = 0.0  # of front_cpu_us, HAProxy's


@dataclass(frozen=True)
class Target:
    """One stack as the load generator sees it."""

    host: str
    port: int
    request: bytes
    pids: list[int]  # its processes, whose CPU time and memory are counted
    front_pids: tuple[int, ...] = ()  # of them, its front door's (modelbay's server and HAProxy), counted apart too
    proxy_pids: tuple[int, ...] = ()  # of those, HAProxy's, counted apart too


@dataclass
class Figures:
    """One stack serving one model."""

    loads: dict[int, Load]  # by concurrency
    rss_mb: float
    pss_mb: float
    processes: int


@dataclass(frozen=True)
class Peer:
    """A serving peer, as its directory benchmarks/peers/<name>/ and its venv describe it (issue 22's contract)."""

    name: str
    python: Path  # its venv's
    version: str  # of `package`, as installed in its venv
    label: str
    package: str
    ready_path: str  # GET answers 200 once the model serves
    invoke_path: str  # POST one prediction
    content_type: str
    body: str  # "{row}" in it is replaced by the row's comma-separated floats
    note: str | None  # why it cannot run as asked: listed, not measured

    def request(self, port: int, row: bytes) -> bytes:
        return http_request(self.invoke_path, LOOPBACK, port, self.body.replace("{row}", row.decode()).encode(), {},
                            self.content_type)


def peer_names() -> list[str]:
    """Every peer: each directory under PEERS_DIR."""
    return sorted(path.name for path in PEERS_DIR.iterdir() if path.is_dir() and not path.name.startswith(("_", ".")))


def load_peers(names: list[str]) -> list[Peer]:
    """The named peers from their peer.json and venvs; exits naming `make bench-serving` if a venv is missing."""
    missing = [name for name in names if not (PEER_VENVS / name / "bin" / "python").exists()]
    if missing:
        sys.exit(f"missing the venv of peer(s) {', '.join(missing)} under {PEER_VENVS}: `make bench-serving` makes "
                 "every peer's")
    return [load_peer(name) for name in names]


def load_peer(name: str) -> Peer:
    described = json.loads((PEERS_DIR / name / "peer.json").read_text())
    python = PEER_VENVS / name / "bin" / "python"
    version = subprocess.run([str(python), "-c", "import importlib.metadata, sys; "
                              "print(importlib.metadata.version(sys.argv[1]))", described["package"]],
                             capture_output=True, text=True, check=True).stdout.strip()
    return Peer(name=name, python=python, version=version, **described)


# -- the load generator (runs in its own process, pinned to CLIENT_CPU) -----------------------------


@dataclass
class _Window:
    warm_until: float
    stop_at: float
    budget: int | None  # measured requests to send (None: until stop_at)
    latencies: list[float]
    last_end: float = 0.0
    answered: int = 0

    def wants_more(self, now: float) -> bool:
        if self.budget is None:
            return now < self.stop_at
        return now < self.warm_until or self.budget > 0


async def _read_answer(reader: asyncio.StreamReader) -> tuple[bytes, bool]:
    """Read one 200 answer: its body, and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    if head[9:12] != b"200":
        raise RuntimeError(f"answer was not 200: {head[:200]!r}")
    lines = head.lower().split(b"\r\n")
    length = next((int(line[15:]) for line in lines if line.startswith(b"content-length:")), None)
    if length is None:
        raise RuntimeError(f"answer without Content-Length: {head[:300]!r}")
    return await reader.readexactly(length), b"connection: close" not in lines


async def _caller(host: str, port: int, request: bytes, window: _Window) -> None:
    """One keep-alive connection (opened again when the server closes it, as nginx does every 1000 requests)."""
    reader, writer = await asyncio.open_connection(host, port)
    while window.wants_more(started := time.perf_counter()):
        measured = started >= window.warm_until
        if measured and window.budget is not None:
            window.budget -= 1
        if writer.is_closing():
            reader, writer = await asyncio.open_connection(host, port)
        writer.write(request)
        if not (await _read_answer(reader))[1]:
            writer.close()
        ended = time.perf_counter()
        window.answered += 1
        if measured and (window.budget is not None or ended <= window.stop_at):
            window.latencies.append(ended - started)
            window.last_end = max(window.last_end, ended)
    writer.close()


async def _generate(host: str, port: int, request: bytes, concurrency: int, args: argparse.Namespace) -> Load:
    began = time.perf_counter()
    warm_until = began + args.warmup
    window = _Window(warm_until, warm_until + args.duration, args.requests, [])
    await asyncio.gather(*(_caller(host, port, request, window) for _ in range(concurrency)))
    latencies = sorted(window.latencies)
    elapsed = args.duration if args.requests is None else window.last_end - warm_until
    return Load(len(latencies) / elapsed, latencies[len(latencies) // 2] * 1e3,
                latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3,
                window.answered, time.perf_counter() - began)


def run_client(args: argparse.Namespace) -> None:
    """The load generator's process: the request on stdin, its figures as JSON on stdout."""
    request = sys.stdin.buffer.read()
    try:
        import uvloop
        load = uvloop.run(_generate(args.host, args.port, request, args.concurrency, args))
    except ImportError:
        load = asyncio.run(_generate(args.host, args.port, request, args.concurrency, args))
    print(json.dumps(load.__dict__))


def measure(target: Target, concurrency: int, args: argparse.Namespace, settle_s: float = 0.0) -> Load:
    """Load on the target from a client process pinned to CLIENT_CPU, and the CPU time its processes spent, until
    `settle_s` after the load (work the load leaves behind, as the capture writer's last flush, is its cost)."""
    command = ["taskset", "-c", CLIENT_CPU, sys.executable, __file__, "--client", "--host", target.host,
               "--port", str(target.port), "--concurrency", str(concurrency), "--duration", str(args.duration),
               "--warmup", str(args.warmup)]
    if args.requests is not None:
        command += ["--requests", str(args.requests)]
    counted = (target.pids, list(target.front_pids), list(target.proxy_pids))
    before = [cpu_seconds(pids) for pids in counted]
    done = subprocess.run(command, input=target.request, capture_output=True, check=False)
    time.sleep(settle_s)
    cpu, front, proxy = (cpu_seconds(pids) - then for pids, then in zip(counted, before, strict=True))
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr.decode()[-3000:]}")
    load = Load(**json.loads(done.stdout))
    return replace(load, cpu_us=cpu / load.answered * 1e6, cpu_share=cpu / load.seconds,
                   front_cpu_us=front / load.answered * 1e6, proxy_cpu_us=proxy / load.answered * 1e6)


def http_request(path: str, host: str, port: int, body: bytes, extra: dict[str, str],
                 content_type: str = "text/csv") -> bytes:
    headers = {"Host": f"{host}:{port}", "Content-Type": content_type, "Accept": content_type,
               "Content-Length": str(len(body))} | extra
    return (f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            + "\r\n").encode() + body


def signed_headers(url: str, body: bytes) -> dict[str, str]:
    """SigV4 headers for InvokeEndpoint at `url`, made once by botocore as boto3 would (sagemaker-runtime
    signs as `sagemaker`); the benchmark reuses them for every request."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from modelbay.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY

    request = AWSRequest("POST", url, data=body, headers={"Content-Type": "text/csv", "Accept": "text/csv"})
    SigV4Auth(Credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY), "sagemaker", "us-east-1").add_auth(request)
    return {k: v for k, v in request.headers.items() if k.lower().startswith(("authorization", "x-amz-"))}


def answer(host: str, port: int, request: bytes) -> str:
    """One request's answer body (a check that both stacks predict the same)."""
    async def once() -> str:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request)
        body, _ = await _read_answer(reader)
        writer.close()
        return body.decode()
    return asyncio.run(once())


# -- processes and their memory -------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    return [p for child in children(pid) for p in (child, *descendants(child))]


def instance_processes(server_pid: int, instance_ids: set[str]) -> list[int]:
    """The processes of those instances of the server (the process runtime's): each one's supervisor, a child of
    the server whose command line names the instance's exit file (`<id>.exit`), and all it runs."""
    found, seen = [], set()
    for child in children(server_pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:  # ended meanwhile
            continue
        for instance in instance_ids:
            if any(arg.endswith(f"/{instance}.exit".encode()) for arg in argv):
                found += [child, *descendants(child)]
                seen.add(instance)
    if seen != instance_ids:
        raise RuntimeError(f"no processes found for instances {sorted(instance_ids - seen)} of server {server_pid}")
    return found


def cpu_seconds(pids: list[int]) -> float:
    """The CPU time the threads of `pids` have had (the scheduler's count, in ns, of time on a CPU)."""
    total = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except OSError:  # ended meanwhile
                continue
    return total / 1e9


def memory(pids: list[int]) -> tuple[float, float]:
    """Resident and proportional set size of `pids`, summed, in MB."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith(("Rss:", "Pss:")):
                    value = int(line.split()[1]) * 1024
                    rss, pss = (rss + value, pss) if line.startswith("Rss:") else (rss, pss + value)
        except OSError:  # ended meanwhile
            continue
    return rss / 1e6, pss / 1e6


def pinned_to_server_cpu(pids: list[int]) -> bool:
    return all(os.sched_getaffinity(pid) == {int(SERVER_CPU)} for pid in pids)


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the model and raw predict --------------------------------------------------------------------


def sklearn_python() -> Path:
    """The scikit-learn 1.2-1 framework environment's Python (built first if it is not yet)."""
    from modelbay.runtime.environments import FrameworkEnvironments
    from modelbay.runtime.frameworks import choose

    root = Path(os.environ["MODELBAY_ENVIRONMENTS_DIR"])
    return FrameworkEnvironments(root).ensure(choose(FRAMEWORK, FRAMEWORK_VERSION).recipe, print) / "bin" / "python"


def train(python: Path, out: Path) -> bytes:
    """Both models as out/<name>/model.joblib and model.tar.gz; returns one row of the data as CSV."""
    expressions = [f"{name}={expression}" for name, (_, expression) in MODELS.items()]
    done = subprocess.run([str(python), "-c", TRAIN, str(out), *expressions], capture_output=True, text=True,
                          check=True)
    return done.stdout.strip().encode()


def raw_predict(python: Path, model: Path, row: bytes, seconds: float) -> Raw:
    done = subprocess.run(["taskset", "-c", SERVER_CPU, str(python), "-c", RAW_PREDICT, str(model), row.decode(),
                           str(seconds)], capture_output=True, text=True, check=True)
    return Raw(**json.loads(done.stdout))


# -- the peers ------------------------------------------------------------------------------------


@contextmanager
def peer_stack(peer: Peer, model: Path, row: bytes, scratch: Path) -> Iterator[Target]:
    """The peer serving `model` with WORKERS workers, pinned to SERVER_CPU, until it answers its ready path; its
    processes are the descendants of its serve.py (which only waits for them)."""
    port, run_dir = free_port(), scratch / f"{peer.name}-{model.parent.name}"
    run_dir.mkdir()
    command = ["taskset", "-c", SERVER_CPU, str(peer.python), str(PEERS_DIR / peer.name / "serve.py"),
               "--port", str(port), "--model", str(model), "--workers", str(WORKERS), "--run-dir", str(run_dir)]
    environment = os.environ | {"PYTHONPATH": str(PEERS_DIR)}  # for contract.py, the command line every peer takes
    with (open(run_dir / "serve.log", "wb") as log,
          subprocess.Popen(command, stdout=log, stderr=log, env=environment) as proc):
        try:
            wait_until(lambda: proc.poll() is not None or _is_ready(port, peer.ready_path), PEER_READY_TIMEOUT_S,
                       f"peer {peer.name}")
            if proc.poll() is not None:
                raise RuntimeError(f"peer {peer.name} exited: {(run_dir / 'serve.log').read_text()[-3000:]}")
            yield Target(LOOPBACK, port, peer.request(port, row), settled(proc.pid, peer.name))
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def settled(pid: int, name: str) -> list[int]:
    """The processes under `pid` once they have done starting (a server may answer its ready path while its other
    workers still load the model): the same processes, using under SETTLED_CPU_SHARE of a CPU, over a window."""
    deadline = time.monotonic() + PEER_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        before = descendants(pid)
        cpu = cpu_seconds(before)
        time.sleep(SETTLE_WINDOW_S)
        if descendants(pid) == before and cpu_seconds(before) - cpu < SETTLED_CPU_SHARE * SETTLE_WINDOW_S:
            return before
    raise TimeoutError(f"peer {name} did not settle within {PEER_READY_TIMEOUT_S} s: its processes used "
                       f"{(cpu_seconds(before) - cpu) / SETTLE_WINDOW_S:.0%} of a CPU in the last second")


def _is_ready(port: int, path: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}{path}", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


# -- modelbay -------------------------------------------------------------------------------------


@contextmanager
def modelbay_server(scratch: Path, cpus: str = SERVER_CPU, workers: int = 1,
                    data_plane: str = "python") -> Iterator[tuple[str, int]]:
    """`modelbay server` of `workers` front-door processes pinned to `cpus` on a free port, plain invocations answered
    by `data_plane`; yields (url, pid)."""
    address = scratch / "address"
    command = ["taskset", "-c", cpus, sys.executable, "-m", "modelbay", "server", "--host", "127.0.0.1",
               "--port", "0", "--data-dir", str(scratch / "data"), "--address-file", str(address), "--quiet",
               "--workers", str(workers), "--data-plane", data_plane]
    with open(scratch / "modelbay.log", "wb") as log, subprocess.Popen(command, stdout=log, stderr=log) as proc:
        try:
            wait_until(lambda: address.exists() or proc.poll() is not None, 60, "modelbay server")
            if proc.poll() is not None:
                raise RuntimeError(f"modelbay server exited: {(scratch / 'modelbay.log').read_text()[-3000:]}")
            yield address.read_text().strip(), proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _variant(name: str, model: str) -> dict[str, Any]:
    return {"VariantName": name, "ModelName": model, "InstanceType": INSTANCE_TYPE, "InitialInstanceCount": 1}


@contextmanager
def endpoint(url: str, name: str, tarball: Path, config: Mapping[str, Any] | None = None) -> Iterator[None]:
    """The model in `tarball` deployed through the API as endpoint `name`, its endpoint config one variant and
    `config`'s members; deleted afterwards."""
    from modelbay.sdk.clients import client

    sagemaker, s3 = client("sagemaker", url), client("s3", url)
    s3.upload_file(str(tarball), BUCKET, f"{name}/model.tar.gz")
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{name}/model.tar.gz",
        "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": str(WORKERS)}})
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[_variant("AllTraffic", name)],
                                     **(config or {}))
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_until(lambda: _in_service(sagemaker, name), 300, f"endpoint {name} to be InService")
    try:
        yield
    finally:
        sagemaker.delete_endpoint(EndpointName=name)
        wait_until(lambda: not sagemaker.list_endpoints(NameContains=name)["Endpoints"], 60, f"{name} deleted")


def _in_service(sagemaker: Any, name: str) -> bool:
    described = sagemaker.describe_endpoint(EndpointName=name)
    if described["EndpointStatus"] == "Failed":
        raise RuntimeError(f"endpoint {name} failed: {described.get('FailureReason')}")
    return bool(described["EndpointStatus"] == "InService")


# -- one model, every server ---------------------------------------------------------------------


@dataclass(frozen=True)
class BareProxy:
    """A bare HAProxy (BARE_HAPROXY) listening on `port`, its runtime API `admin`."""

    pid: int
    port: int
    admin: RuntimeApi

    def point(self, host: str, port: int) -> None:
        """Send what it is sent to the model server at host:port."""
        said = self.admin.run(f"set server model/model addr {host} port {port}")
        if "changed" not in said and "no need to change" not in said:
            raise RuntimeError(f"the bare HAProxy refused the model server's address: {said}")


@contextmanager
def bare_proxy(scratch: Path, name: str) -> Iterator[BareProxy]:
    """BARE_HAPROXY pinned to SERVER_CPU, scheduled as modelbay schedules its HAProxy, until the block ends (its
    files named after the model `name`)."""
    from modelbay.front_door_proxy import BATCH_SCHEDULED
    from modelbay.serving.haproxy import RuntimeApi
    port, config, admin = free_port(), scratch / f"bare-haproxy-{name}.cfg", scratch / f"bare-haproxy-{name}.sock"
    config.write_text(BARE_HAPROXY.format(admin=admin, host=LOOPBACK, port=port))
    command = ["taskset", "-c", SERVER_CPU, *BATCH_SCHEDULED, "haproxy", "-db", "-q", "-f", str(config)]
    with subprocess.Popen(command) as proc:
        try:
            wait_until(lambda: proc.poll() is not None or admin.exists(), 10, "the bare HAProxy")
            if proc.poll() is not None:
                raise RuntimeError(f"the bare HAProxy exited ({proc.returncode})")
            yield BareProxy(proc.pid, port, RuntimeApi(admin))
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def modelbay_targets(name: str, row: bytes, server: tuple[str, int], bare: BareProxy) -> dict[str, Target]:
    """modelbay's front door and its model server for endpoint `name`: the front door's CPU counted in the server,
    HAProxy and the instance, and apart in the server and HAProxy; the model server's in the instance; and the bare
    proxy before that model server, its CPU counted in it and the instance, and apart in it. The model server is
    looked up each time: an instance the endpoint has replaced runs in other processes, at another address (its own
    network's, where it has one)."""
    url, server_pid = server
    placement = placements(url, name)[0]
    instance = instance_processes(server_pid, {placement["instance_id"]})
    front = (server_pid, *(pid for pid in descendants(server_pid) if pid not in instance))
    proxy = tuple(pid for pid in front if is_haproxy(pid))
    model = urlsplit(placement["urls"][0])
    model_host, model_port = model.hostname or LOOPBACK, model.port or 80
    bare.point(model_host, model_port)
    return {"modelbay": replace(front_door(url, name, row, [*front, *instance]), front_pids=front, proxy_pids=proxy),
            "model server": Target(model_host, model_port,
                                   http_request("/invocations", model_host, model_port, row, {}), instance),
            "bare proxy": Target(LOOPBACK, bare.port, http_request("/invocations", LOOPBACK, bare.port, row, {}),
                                 [bare.pid, *instance], front_pids=(bare.pid,), proxy_pids=(bare.pid,))}


def is_haproxy(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "haproxy"
    except OSError:  # ended meanwhile
        return False


def front_door(url: str, name: str, row: bytes, pids: list[int]) -> Target:
    """InvokeEndpoint of endpoint `name` on the server at `url`, its CPU counted in `pids`."""
    port, path = int(url.rsplit(":", 1)[1]), f"/endpoints/{name}/invocations"
    return Target(LOOPBACK, port, http_request(path, LOOPBACK, port, row, signed_headers(url + path, row)), pids)


def placements(url: str, name: str) -> list[dict[str, Any]]:
    """Where the endpoint's instances serve (its production variants', then its shadows'), as the router has them."""
    with urllib.request.urlopen(f"{url}/_modelbay/v1/endpoints/{name}/instances", timeout=10) as answered:
        return list(json.load(answered)["Instances"])


def measure_modelbay(name: str, files: Path, raw: Raw, row: bytes, server: tuple[str, int], scratch: Path,
                     args: argparse.Namespace) -> dict[str, Figures]:
    """modelbay's endpoint up for one model, measured at each concurrency with its model server alone and the bare
    HAProxy before it, then deleted (its idle processes would take a peer's CPU). By MODELBAY_LABELS' keys."""
    with endpoint(server[0], name, files / "model.tar.gz"), bare_proxy(scratch, name) as bare:
        targets = modelbay_targets(name, row, server, bare)
        check_answers(name, {stack: answer(t.host, t.port, t.request) for stack, t in targets.items()}
                      | {"raw": raw.prediction}, {stack: t.pids for stack, t in targets.items()})
        loads: dict[str, dict[int, Load]] = {stack: {} for stack in targets}
        for concurrency in CONCURRENCIES:
            for stack in loads:
                try:
                    loads[stack][concurrency] = measure(targets[stack], concurrency, args)
                except RuntimeError as error:
                    recover(stack, concurrency, error, scratch / "modelbay.log", targets["modelbay"], name)
                    targets = modelbay_targets(name, row, server, bare)
                    loads[stack][concurrency] = measure(targets[stack], concurrency, args)
        return {stack: Figures(loads[stack], *memory(t.pids), len(t.pids)) for stack, t in targets.items()}


def measure_peer(peer: Peer, name: str, files: Path, raw: Raw, row: bytes, scratch: Path,
                 args: argparse.Namespace) -> Figures:
    """One peer serving the model, at each concurrency."""
    with peer_stack(peer, files / "model.joblib", row, scratch) as target:
        check_answers(name, {peer.name: answer(target.host, target.port, target.request), "raw": raw.prediction},
                      {peer.name: target.pids})
        try:
            loads = {concurrency: measure(target, concurrency, args) for concurrency in CONCURRENCIES}
        except RuntimeError as error:
            raise RuntimeError(f"peer {peer.name}'s load on the {name} model failed") from error
        return Figures(loads, *memory(target.pids), len(target.pids))


def recover(stack: str, concurrency: int, error: RuntimeError, log: Path, front: Target, name: str) -> None:
    """Say why a load of modelbay failed (its answer and the server's last warning), and wait until the endpoint
    answers at its front door again: the load is then measured again."""
    answered = str(error).strip().splitlines()[-1]
    warnings = [line for line in log.read_text().splitlines() if line.strip()]
    print(f"  NOTE: the {stack} load at concurrency {concurrency} failed: {answered[:160]}\n"
          f"    modelbay's log: {warnings[-1] if warnings else '(empty)'}\n"
          f"    measured again once the endpoint answers (figures below are from the second try)", flush=True)
    wait_until(partial(_answers, front), 120, f"endpoint {name} to answer again")


def _answers(target: Target) -> bool:
    try:
        answer(target.host, target.port, target.request)
        return True
    except (RuntimeError, OSError):
        return False


def check_answers(name: str, answers: dict[str, str], pids: dict[str, list[int]]) -> None:
    """Every server predicts the same class (each answer's last number); every process of each runs on SERVER_CPU
    only."""
    classes = {float(numbers[-1]) if (numbers := [n.group() for n in NUMBER.finditer(body)]) else None
               for body in answers.values()}
    if len(classes) != 1 or None in classes:
        raise RuntimeError(f"{name}: the servers answered differently: {answers}")
    for stack, processes in pids.items():
        if not pinned_to_server_cpu([p for p in processes if Path(f"/proc/{p}").exists()]):
            raise RuntimeError(f"{name}: not every {stack} process is pinned to CPU {SERVER_CPU}")


# -- data capture and a shadow variant (issue 16) -------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What the operations measured really did, as the server counts it: the figures are honest only if every
    invocation of the capture endpoint is in S3 and every one of the shadow endpoint was copied (or dropped and
    counted)."""

    captured: int  # records in S3 under the capture endpoint's prefix
    capture_invocations: int  # its Invocations (the server's count, probes included)
    copies: int  # the shadow variant's Invocations: copies its model server answered
    dropped: int  # ShadowCopiesDropped: copies not sent, the shadow's bound of copies in flight reached
    shadow_invocations: int  # the shadow endpoint's production Invocations

    def is_complete(self) -> bool:
        return self.captured == self.capture_invocations and self.copies + self.dropped == self.shadow_invocations


@dataclass(frozen=True)
class Operations:
    """The three endpoints' figures, and how much of the work the capture and the shadow did."""

    figures: dict[str, Figures]  # by case, each load the rounds' median
    copied: dict[int, tuple[int, int]]  # by concurrency, over the rounds: copies the shadow answered, invocations
    delivery: Delivery


def operations_config(case: str, model: str) -> dict[str, Any]:
    """What the case's endpoint config has beside its one production variant."""
    members: dict[str, dict[str, Any]] = {"plain": {}, "capture": {"DataCaptureConfig": CAPTURE},
                                          "shadow": {"ShadowProductionVariants": [_variant(SHADOW, model)]}}
    return members[case]


def operations_target(server: tuple[str, int], name: str, row: bytes) -> Target:
    """The endpoint's front door, its CPU counted in the server and every instance of the endpoint (a shadow
    variant's too: its copies are the invocations' cost)."""
    url, server_pid = server
    instances = {placement["instance_id"] for placement in placements(url, name)}
    return front_door(url, name, row, [server_pid, *instance_processes(server_pid, instances)])


def measure_operations(files: Path, row: bytes, server: tuple[str, int], scratch: Path,
                       args: argparse.Namespace) -> Operations:
    """The light model as three endpoints of the same server (OPERATIONS), each load measured in turn, plain,
    capture, shadow, at each concurrency, for `args.rounds` rounds; each figure the rounds' median."""
    names = {case: f"light-{case}" for case in OPERATIONS}
    with ExitStack() as endpoints:
        for case, name in names.items():
            endpoints.enter_context(endpoint(server[0], name, files / "model.tar.gz", operations_config(case, name)))
        targets = {case: operations_target(server, name, row) for case, name in names.items()}
        check_answers("light", {case: answer(t.host, t.port, t.request) for case, t in targets.items()},
                      {case: t.pids for case, t in targets.items()})
        loads: dict[str, dict[int, list[Load]]] = {case: {c: [] for c in CONCURRENCIES} for case in OPERATIONS}
        copied = dict.fromkeys(CONCURRENCIES, (0, 0))
        for _ in range(args.rounds):
            for concurrency in CONCURRENCIES:
                for case, name in names.items():
                    before = invocation_counts(server[0])  # read outside the load's CPU count, as after it
                    try:
                        load = measure(targets[case], concurrency, args, SETTLE_S)
                    except RuntimeError as error:
                        recover(case, concurrency, error, scratch / "modelbay.log", targets[case], name)
                        targets[case] = operations_target(server, name, row)
                        load = measure(targets[case], concurrency, args, SETTLE_S)
                    loads[case][concurrency].append(load)
                    if case == "shadow":
                        copied[concurrency] = _copies_added(copied[concurrency], before,
                                                            invocation_counts(server[0]), name)
        figures = {case: Figures({c: median_load(found) for c, found in loads[case].items()},
                                 *memory(targets[case].pids), len(targets[case].pids)) for case in OPERATIONS}
        return Operations(figures, copied, delivered(server[0], names["capture"], names["shadow"]))


def _copies_added(tally: tuple[int, int], before: dict[tuple[str, str], int], after: dict[tuple[str, str], int],
                  name: str) -> tuple[int, int]:
    """`tally` (copies the shadow answered, invocations) with one load's, from the server's counts around it."""
    def added(variant: str) -> int:
        return after.get((name, variant), 0) - before.get((name, variant), 0)
    return tally[0] + added(SHADOW), tally[1] + added("AllTraffic")


def median_load(loads: list[Load]) -> Load:
    """Each figure's median over the rounds (answers and seconds: their totals)."""
    def median(field: str) -> float:
        return statistics.median(float(getattr(load, field)) for load in loads)
    return Load(median("requests_per_s"), median("p50_ms"), median("p99_ms"), sum(load.answered for load in loads),
                sum(load.seconds for load in loads), median("cpu_us"), median("cpu_share"), median("front_cpu_us"),
                median("proxy_cpu_us"))


def delivered(url: str, capture: str, shadow: str) -> Delivery:
    """The server's counts once they agree (the capture writer and the metric flush run every second), or as they
    are after DELIVERY_TIMEOUT_S."""
    from modelbay.sdk.clients import client

    s3, cloudwatch = client("s3", url), client("cloudwatch", url)
    counted: dict[str, int] = {}

    def now() -> Delivery:
        invocations = invocation_counts(url)
        return Delivery(captured_records(s3, f"{CAPTURE_PREFIX}/{capture}/", counted),
                        invocations[(capture, "AllTraffic")], invocations.get((shadow, SHADOW), 0),
                        dropped_copies(cloudwatch, shadow), invocations[(shadow, "AllTraffic")])

    with suppress(TimeoutError):
        wait_until(lambda: now().is_complete(), DELIVERY_TIMEOUT_S, "the captured records and the shadow's copies")
    return now()


def invocation_counts(url: str) -> dict[tuple[str, str], int]:
    """Invocations per (endpoint, variant) since the server started, from its Prometheus exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answered:
        text = answered.read().decode()
    return {(sample.labels["endpoint"], sample.labels["variant"]): int(sample.value)
            for family in text_string_to_metric_families(text) if family.name == "modelbay_endpoint_invocations"
            for sample in family.samples if sample.name.endswith("_total")}


def captured_records(s3: Any, prefix: str, counted: dict[str, int]) -> int:
    """The records (JSON lines) data capture wrote under `prefix`; `counted` keeps each object's count, as an
    object once written does not change."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"] not in counted:
                counted[item["Key"]] = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().count(b"\n")
    return sum(counted.values())


def dropped_copies(cloudwatch: Any, endpoint_name: str) -> int:
    """The shadow variant's ShadowCopiesDropped over the last hour."""
    now = datetime.now(UTC)
    found = cloudwatch.get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName="ShadowCopiesDropped", StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=1), Period=60, Statistics=["Sum"],
        Dimensions=[{"Name": "EndpointName", "Value": endpoint_name}, {"Name": "VariantName", "Value": SHADOW}])
    return int(sum(point["Sum"] for point in found["Datapoints"]))


# -- the report -----------------------------------------------------------------------------------


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def verdict_against(raw: Raw, met: bool) -> str:
    """The verdict of a target held against raw predict, unless raw predict moved too far during the loads."""
    if raw.drift > RAW_DRIFT:
        return f"not judged: raw predict's CPU moved {raw.drift:.0%} across modelbay's loads (over {RAW_DRIFT:.0%})"
    return verdict(met)


_LABEL, _CELL = 38, 9
_HEADS = ["req/s", "p50 ms", "p99 ms", "req/s", "p50 ms", "p99 ms", "CPU us/r", "RSS", "PSS"]


def _row(label: str, cells: list[str], width: int = _LABEL) -> None:
    print(f"  {label:<{width}}" + "".join(f"{cell:>{_CELL}}" for cell in cells))


def _heading(width: int = _LABEL) -> None:
    print(f"  {'':<{width}}{'concurrency 1':^{3 * _CELL}}{'concurrency 16':^{4 * _CELL}}{'memory MB':^{2 * _CELL}}")


def _cells(f: Figures) -> list[str]:
    loads = [f.loads[c] for c in CONCURRENCIES]
    return [*(x for load in loads for x in (f"{load.requests_per_s:,.0f}", f"{load.p50_ms:.2f}", f"{load.p99_ms:.2f}")),
            f"{loads[-1].cpu_us:,.0f}", f"{f.rss_mb:.0f}", f"{f.pss_mb:.0f}"]


def best_of(others: Mapping[str, Figures], concurrency: int, field: str) -> tuple[str, float]:
    """Which of `others` is best in `field` of its load at `concurrency` (the most requests/s, the lowest
    latency), and its figure."""
    def figure(name: str) -> float:
        return float(getattr(others[name].loads[concurrency], field))
    best = (max if field == "requests_per_s" else min)(others, key=figure)
    return best, figure(best)


def _ratios(m: Figures, others: Mapping[str, Figures]) -> list[str]:
    """`m`'s figures over the best of `others`: each load's against the best in that figure at that concurrency;
    CPU per request and memory against the one with the most requests/s at the highest concurrency."""
    def ratio(mine: float, theirs: float) -> str:
        return f"{mine / theirs:.2f}x"
    cells = [ratio(getattr(m.loads[n], field), best_of(others, n, field)[1])
             for n in CONCURRENCIES for field in ("requests_per_s", "p50_ms", "p99_ms")]
    c = others[best_of(others, CONCURRENCIES[-1], "requests_per_s")[0]]
    return [*cells, ratio(m.loads[16].cpu_us, c.loads[16].cpu_us), ratio(m.rss_mb, c.rss_mb), ratio(m.pss_mb, c.pss_mb)]


def peer_figures(figures: Mapping[str, Figures]) -> dict[str, Figures]:
    return {stack: found for stack, found in figures.items() if stack not in MODELBAY_LABELS}


def print_model(name: str, raws: tuple[Raw, Raw], figures: dict[str, Figures], peers: list[Peer]) -> None:
    """The model's table: each peer (its figures, or its note), modelbay, modelbay's ratios to the best peer."""
    print(f"\n{name} model: {MODELS[name][0]}")
    for when, raw in zip(("before", "after"), raws, strict=True):
        print(f"  (a) raw predict of one row, in process, {when} modelbay's loads: p50 {raw.p50_s * 1e3:.3f} ms, CPU "
              f"{raw.cpu_s * 1e3:.3f} ms each -> predict-bound ceiling {1 / raw.cpu_s:,.0f} requests/s on the 1 core "
              "the servers use")
    labels = {peer.name: f"{peer.label}, {peer.package} {peer.version}" for peer in peers} | MODELBAY_LABELS
    width = max(_LABEL, *(len(label) + 1 for label in labels.values()))
    _heading(width)
    _row("server", _HEADS, width)
    notes = {peer.name: peer.note for peer in peers}
    for stack, label in labels.items():
        _row(label, _cells(figures[stack]) if stack in figures else [f"  not measured: {notes[stack]}"], width)
    peers_measured = peer_figures(figures)
    _row("(c) / the best peer", _ratios(figures["modelbay"], peers_measured), width)
    best = {field: [best_of(peers_measured, c, field)[0] for c in CONCURRENCIES]
            for field in ("requests_per_s", "p50_ms", "p99_ms")}
    print(f"  the best peer at concurrency {' and '.join(map(str, CONCURRENCIES))}: requests/s "
          f"{', '.join(best['requests_per_s'])}; p50 {', '.join(best['p50_ms'])}; p99 {', '.join(best['p99_ms'])}")
    shares = ", ".join(f"{stack} {found.loads[16].cpu_share:.0%}" for stack, found in figures.items())
    processes = ", ".join(f"{stack} {found.processes}" for stack, found in figures.items())
    print(f"  CPU us/r: the server's CPU time per request at concurrency 16, all its processes ({processes}); "
          f"their share of CPU {SERVER_CPU} then: {shares}")


def print_targets(raws: dict[str, Raw], figures: dict[str, dict[str, Figures]]) -> None:
    print("\ntargets")
    light = figures["light"]["modelbay"].loads
    peer, theirs = best_of(peer_figures(figures["light"]), 16, "requests_per_s")
    print(f"  light, concurrency 16: modelbay {light[16].requests_per_s:,.0f} requests/s, "
          f"{light[16].requests_per_s / theirs:.2f}x the best peer's ({peer}, {theirs:,.0f}; target >= {LIGHT_GAIN}x): "
          f"{verdict(light[16].requests_per_s >= LIGHT_GAIN * theirs)}")
    for name, found in figures.items():
        mine = found["modelbay"].loads[1]
        (fastest, most), (quickest, least) = (best_of(peer_figures(found), 1, field)
                                              for field in ("requests_per_s", "p50_ms"))
        print(f"  {name}, concurrency 1: modelbay {mine.requests_per_s:,.0f} requests/s, p50 {mine.p50_ms:.2f} ms; "
              f"the best peers' {most:,.0f} ({fastest}), {least:.2f} ms ({quickest}) (target: ahead of every peer in "
              f"both): {verdict(mine.requests_per_s > most and mine.p50_ms < least)}")
    added = light[1].p50_ms - raws["light"].p50_s * 1e3
    bare_added = figures["light"]["bare proxy"].loads[1].p50_ms - raws["light"].p50_s * 1e3
    met = verdict_against(raws["light"], added <= LIGHT_ADDED_MS)
    print(f"  light, concurrency 1: modelbay p50 {added:.4f} ms above raw predict's (target <= {LIGHT_ADDED_MS} ms): "
          f"{met}; a bare HAProxy's before its model server {bare_added:.4f} ms")
    for name, found in figures.items():
        front_door_us = found["modelbay"].loads[16].front_cpu_us
        difference_us = found["modelbay"].loads[16].cpu_us - found["model server"].loads[16].cpu_us
        proxy_us, bare_us = found["modelbay"].loads[16].proxy_cpu_us, found["bare proxy"].loads[16].front_cpu_us
        met = verdict(front_door_us <= FRONT_DOOR_US)
        print(f"  {name}, concurrency 16: the front door's CPU per request {front_door_us:,.0f} us (HAProxy's "
              f"{proxy_us:,.0f}, the server's {front_door_us - proxy_us:,.0f}, in modelbay's load; target <= "
              f"{FRONT_DOOR_US:.0f} us): {met}; a bare HAProxy's before its model server {bare_us:,.0f} us; modelbay's "
              f"less its model server's alone, two loads apart: {difference_us:,.0f} us")
    heavy = figures["heavy"]["modelbay"].loads[16]
    share, cpu_share = heavy.requests_per_s * raws["heavy"].cpu_s, raws["heavy"].cpu_s * 1e6 / heavy.cpu_us
    met = verdict_against(raws["heavy"], share >= HEAVY_SHARE)
    print(f"  heavy, concurrency 16: modelbay at {share:.1%} of the predict-bound ceiling "
          f"(target >= {HEAVY_SHARE:.0%}): {met}; by CPU time per request (immune to other load on CPU "
          f"{SERVER_CPU}): {cpu_share:.1%}")
    for name, found in figures.items():
        mine_p99 = found["modelbay"].loads[16].p99_ms
        peer, lowest = best_of(peer_figures(found), 16, "p99_ms")
        print(f"  {name}, concurrency 16: modelbay p99 {mine_p99:.2f} ms; the lowest peer's {lowest:.2f} ms ({peer}) "
              f"(target: no peer lower): {verdict(mine_p99 <= lowest)}")


def recording_cost(calls: int = RECORDING_CALLS) -> tuple[float, float]:
    """Microseconds metric recording costs an invocation: on its path, `Publisher.invoked` (its variant's tally of the
    second and the Prometheus totals) less the same calls with recording off; off its path, in the flush loop's
    thread, handing the tallies to the metric store and writing them (`Publisher.flush`), per invocation."""
    from modelbay.monitoring.publishing import InvocationMeter, Publisher

    with scratch_metrics("modelbay-recording-") as (_, metrics):
        publisher = Publisher(metrics, "us-east-1")
        meter = InvocationMeter()
        meter.routed("AllTraffic", 1)
        meter.model_called()
        meter.model_answered()

        def per_call_us(recording: bool) -> float:
            publisher.is_recording = recording
            started = time.perf_counter()
            for _ in range(calls):
                publisher.invoked("bench", meter, 200)
            return (time.perf_counter() - started) / calls * 1e6

        def flush_us() -> float:
            per_call_us(True)
            started = time.perf_counter()
            publisher.flush()
            return (time.perf_counter() - started) / calls * 1e6

        per_call_us(True)  # warm-up: the variant's metric keys are made once
        on_path = min(per_call_us(True) for _ in range(3)) - min(per_call_us(False) for _ in range(3))
        publisher.flush()
        flushed = [flush_us() for _ in range(3)]
    return on_path, min(flushed)


@contextmanager
def scratch_metrics(prefix: str) -> Iterator[tuple[Path, MetricStore]]:
    """A metric store over a scratch SQLite database, in a scratch folder, both gone afterwards."""
    from modelbay.monitoring.metrics import MetricStore
    from modelbay.store.metadata import open_metadata_store

    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        metadata = open_metadata_store(f"sqlite:///{scratch}/metadata.db")
        try:
            yield Path(scratch), MetricStore(metadata.metrics)
        finally:
            metadata.close()


def print_recording_cost(cost_us: tuple[float, float], light_p50_ms: float | None) -> None:
    on_path, off_path = cost_us
    share = f" ({on_path / (light_p50_ms * 1e3):.2%} of modelbay's p50, light, concurrency 1)" if light_p50_ms else ""
    print(f"\nmetric recording per invocation, in process: {on_path:.2f} µs on the invocation path{share}; "
          f"{off_path:.2f} µs in the flush loop's thread (tallies into the metric store, written once a second)")


def print_operations(operations: Operations, rounds: int) -> None:
    from modelbay.serving.router import SHADOW_COPIES_PER_INSTANCE

    figures, plain = operations.figures, operations.figures["plain"]
    print(f"\nlight model, three endpoints on the same server: what data capture and a shadow variant add "
          f"(loads interleaved, plain, capture, shadow, {rounds} rounds; medians)")
    _heading()
    _row("endpoint", _HEADS)
    for case, label in OPERATIONS.items():
        _row(label, _cells(figures[case]))
    for case in ("capture", "shadow"):
        _row(f"{case} / plain", _ratios(figures[case], {"plain": plain}))
    copied = {c: copies / invoked for c, (copies, invoked) in operations.copied.items()}
    for case in ("capture", "shadow"):
        added = {c: (figures[case].loads[c].p50_ms - plain.loads[c].p50_ms) * 1e3 for c in CONCURRENCIES}
        cpu = {c: figures[case].loads[c].cpu_us - plain.loads[c].cpu_us for c in CONCURRENCIES}
        per_copy = f" (per copy answered: {cpu[1] / copied[1]:+,.0f} µs, {cpu[16] / copied[16]:+,.0f} µs)"
        print(f"  {case} adds per invocation: p50 {added[1]:+,.0f} µs at concurrency 1, {added[16]:+,.0f} µs at 16; "
              f"CPU {cpu[1]:+,.0f} µs at 1, {cpu[16]:+,.0f} µs at 16" + (per_copy if case == "shadow" else ""))
    print(f"  CPU us/r: the server's CPU time per request at concurrency 16, with the endpoint's model server; the "
          f"shadow's counts its shadow instance's model server too ({figures['shadow'].processes} processes, "
          f"{plain.processes} for plain), which answers the copies")
    shares = ", ".join(f"{share:.1%} at {c}" for c, share in copied.items())
    print(f"  copies the shadow answered, of the invocations, at concurrency {shares} (the rest dropped: a shadow "
          f"holds at most twice the endpoint's invocations in flight, at least {SHADOW_COPIES_PER_INSTANCE} "
          "per instance)")
    print_delivery(operations.delivery)


def print_delivery(found: Delivery) -> None:
    print(f"  checked on the server: {found.captured:,} captured records in s3://{BUCKET}/{CAPTURE_PREFIX}/ for "
          f"{found.capture_invocations:,} invocations of the capture endpoint; the shadow variant answered "
          f"{found.copies:,} copies of {found.shadow_invocations:,} invocations ({found.dropped:,} dropped at its "
          f"bound of copies in flight)" + ("" if found.is_complete() else ": NOT every invocation accounted for"))


def capture_cost(row: bytes, answered: bytes, calls: int = CAPTURE_CALLS) -> tuple[float, float]:
    """Microseconds data capture at 100 % costs an invocation: on its path, `DataCapture.sample` and `offer` (the
    raw record queued) less `sample` of an endpoint that captures nothing (what every invocation pays); off its path,
    in the writer thread, each record's JSON line and its share of the object written (`close` writes the queue)."""
    from modelbay.monitoring.data_capture import DataCapture
    from modelbay.store.objects import LocalObjectStore

    def per_call_us(capture: DataCapture, endpoint_name: str) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            if (chosen := capture.sample(endpoint_name)) is not None:
                capture.offer(chosen, "AllTraffic", inference_id=None, request=row, request_type="text/csv",
                              response=answered, response_type="text/csv")
        return (time.perf_counter() - started) / calls * 1e6

    with scratch_metrics("modelbay-capture-") as (scratch, metrics):
        objects = LocalObjectStore(scratch / "objects")
        objects.create_bucket(BUCKET, "us-east-1")
        captured, uncaptured, written = [], [], []
        for _ in range(3):  # a fresh capture each time, its queue room for every call, written only on close
            capture = DataCapture(objects, metrics, flush_interval_s=3600.0, max_records=calls,
                                  max_queued_bytes=calls * (len(row) + len(answered)))
            capture.publish("bench", CAPTURE)
            uncaptured.append(per_call_us(capture, "other"))
            captured.append(per_call_us(capture, "bench"))
            started = time.perf_counter()
            capture.close()
            written.append((time.perf_counter() - started) / calls * 1e6)
    return min(captured) - min(uncaptured), min(written)


def print_capture_cost(cost_us: tuple[float, float], light_p50_ms: float | None) -> None:
    on_path, off_path = cost_us
    share = f" ({on_path / (light_p50_ms * 1e3):.2%} of plain's p50, concurrency 1)" if light_p50_ms else ""
    print(f"data capture at 100 % per invocation, in process: {on_path:.2f} µs on the invocation path{share}; "
          f"{off_path:.2f} µs in the writer thread (its JSON line and object, written once a second)")


def print_header(args: argparse.Namespace, peers: list[Peer]) -> None:
    amount = f"{args.requests} requests" if args.requests else f"{args.duration:g} s"
    print(f"scikit-learn 1.2.2 ({IMAGE}), 20 features, one row per request; servers pinned to CPU {SERVER_CPU}, "
          f"the load generator (asyncio, keep-alive) to CPU {CLIENT_CPU}")
    workers = "".join(f"{peer.name} ({peer.package} {peer.version}), " for peer in peers)
    print(f"each load: {args.warmup:g} s warm-up, then {amount}; worker processes: {WORKERS} each, "
          f"{workers}modelbay (SAGEMAKER_MODEL_SERVER_WORKERS, + its server process)")
    print(f"modelbay's data plane: {args.data_plane} (--data-plane)")
    print(f"load before the run: {os.getloadavg()[0]:.2f} (1 min average)")


# -- the run --------------------------------------------------------------------------------------


def chosen_peers(names: list[str]) -> list[Peer]:
    """The peers `--peers` names (all by default), at least one of them measurable; exits saying why not."""
    unknown = sorted(set(names) - set(peer_names()))
    if unknown:
        sys.exit(f"no such peer: {', '.join(unknown)} (the peers: {', '.join(peer_names())})")
    peers = load_peers(names)
    if all(peer.note for peer in peers):
        sys.exit("every peer chosen has a note (it cannot run as asked): nothing to compare modelbay with")
    return peers


@dataclass(frozen=True)
class Bench:
    """What every run starts from: the framework environment's Python, the models trained, a server."""

    python: Path
    scratch: Path
    row: bytes  # one row of the data, as CSV
    server: tuple[str, int]  # its URL and pid


@contextmanager
def bench(args: argparse.Namespace, peers: list[Peer]) -> Iterator[Bench]:
    """The models trained and `modelbay server` up, with BUCKET, the header printed."""
    if shutil.which("taskset") is None:
        sys.exit("missing: taskset (util-linux)")
    os.environ.setdefault("MODELBAY_ENVIRONMENTS_DIR", str(ROOT / ".cache" / "environments"))
    python = sklearn_python()
    with tempfile.TemporaryDirectory(prefix="modelbay-serving-") as tmp:
        scratch = Path(tmp)
        row = train(python, scratch / "models")
        print_header(args, peers)
        with modelbay_server(scratch, data_plane=args.data_plane) as server:
            from modelbay.sdk.clients import client
            client("s3", server[0]).create_bucket(Bucket=BUCKET)
            yield Bench(python, scratch, row, server)


def main(args: argparse.Namespace) -> None:
    figures: dict[str, dict[str, Figures]] = {}
    raws: dict[str, Raw] = {}
    peers = chosen_peers(args.peers or peer_names())
    with bench(args, peers) as run:
        for name in MODELS:
            files = run.scratch / "models" / name
            before = raw_predict(run.python, files / "model.joblib", run.row, RAW_SECONDS)
            figures[name] = measure_modelbay(name, files, before, run.row, run.server, run.scratch, args)
            after = raw_predict(run.python, files / "model.joblib", run.row, RAW_SECONDS)
            raws[name] = Raw.bracketing(before, after)
            figures[name] |= {peer.name: measure_peer(peer, name, files, before, run.row, run.scratch, args)
                              for peer in peers if not peer.note}
            print_model(name, (before, after), figures[name], peers)
        operations = measure_operations(run.scratch / "models" / "light", run.row, run.server, run.scratch, args)
        print_operations(operations, args.rounds)
    print_targets(raws, figures)
    print_recording_cost(recording_cost(), figures["light"]["modelbay"].loads[1].p50_ms)
    print_capture_cost(capture_cost(run.row, raws["light"].prediction.encode()),
                       operations.figures["plain"].loads[1].p50_ms)
    print(f"load after the run: {os.getloadavg()[0]:.2f} (1 min average)")


def operations_only(args: argparse.Namespace) -> None:
    """What data capture and a shadow variant cost, without the peers."""
    with bench(args, []) as run:
        operations = measure_operations(run.scratch / "models" / "light", run.row, run.server, run.scratch, args)
        print_operations(operations, args.rounds)
    print_capture_cost(capture_cost(run.row, b"1"), operations.figures["plain"].loads[1].p50_ms)
    print(f"load after the run: {os.getloadavg()[0]:.2f} (1 min average)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=6.0, help="seconds measured per load (default 6)")
    parser.add_argument("--requests", type=int, default=None, help="measure this many requests per load instead")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per load (default 1)")
    parser.add_argument("--recording-cost", action="store_true",
                        help="measure only what metric recording costs per invocation")
    parser.add_argument("--operations-cost", action="store_true",
                        help="measure only what data capture and a shadow variant cost per invocation (no peers)")
    parser.add_argument("--peers", type=lambda names: names.split(","), default=None,
                        help="the peers to measure, comma-separated (default: every directory under "
                             "benchmarks/peers)")
    parser.add_argument("--data-plane", choices=("python", "haproxy", "direct"), default="direct",
                        help="what answers modelbay's plain invocations (default direct: the model server, handed "
                             "the connection; haproxy: HAProxy; python: its front door)")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help=f"rounds of the operations' interleaved loads (default {ROUNDS})")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)  # the load generator's process
    parser.add_argument("--host", default=LOOPBACK, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.recording_cost:
        print_recording_cost(recording_cost(), None)
    elif arguments.operations_cost:
        operations_only(arguments)
    else:
        run_client(arguments) if arguments.client else main(arguments)
