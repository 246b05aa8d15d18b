"""Target tracking on a SageMaker endpoint variant: from a load step to a new instance serving, and from the end of
the load to the instance removed.

    .venv/bin/python benchmarks/autoscaling.py [ROUNDS]

Starts a private server and deploys a one-instance endpoint whose model is a tiny bring-your-own `serve` program
(answers "ok"; so the figures are autoscaling's, not a model's start-up). Registers the variant as a scalable
target (1 to 2 instances) with a target-tracking policy on SageMakerVariantInvocationsPerInstance (target 60 a
minute, cooldowns 5 s). Each of ROUNDS rounds (default 2): a load step from 3 threads calling without pause until
the second instance is in rotation (the server's instances route says so), then a light load (one call every
2 s) until the variant is back to one instance. Prints, per round: load start → the scaling activity (the alarm
ran the policy), that activity → the new instance in rotation, and load end → the instance removed (DescribeEndpoint
InService with one instance). SageMaker takes minutes for each (three one-minute datapoints before a scale-out,
fifteen before a scale-in, then instance launch); the target here: a new instance serving within 5 s of the alarm.
Failed requests under either load are counted, and must be none.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from modelbay.sdk.local_server import LocalServer, local_server

NAME = "autoscaling-bench"
TARGET = {"ServiceNamespace": "sagemaker", "ResourceId": f"endpoint/{NAME}/variant/AllTraffic",
          "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"}
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
SERVE = f"""#!{sys.executable}
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
        self.rfile.read(int(self.headers["Content-Length"]))
        self.answer(b"ok")
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["SAGEMAKER_BIND_TO_PORT"])), Handler).serve_forever()
"""


class Load:
    """Threads invoking the endpoint, each pausing `pause_s` between calls; counts failures."""

    def __init__(self, server: LocalServer, clients: int, pause_s: float) -> None:
        self.server, self.pause_s, self.failures, self.calls = server, pause_s, 0, 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        runtime = self.server.client("sagemaker-runtime")
        while not self._stop.is_set():
            try:
                runtime.invoke_endpoint(EndpointName=NAME, Body=b"1", ContentType="text/csv")["Body"].read()
                self.calls += 1
            except Exception:  # counted: none is expected
                self.failures += 1
            self._stop.wait(self.pause_s)


def deploy(server: LocalServer, image: Path) -> Any:
    image.mkdir()
    (image / "serve").write_text(SERVE)
    (image / "serve").chmod(0o755)
    sagemaker = server.sagemaker
    sagemaker.create_model(ModelName=NAME, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": str(image)})
    sagemaker.create_endpoint_config(EndpointConfigName=NAME, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": NAME, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sagemaker.create_endpoint(EndpointName=NAME, EndpointConfigName=NAME)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=NAME, WaiterConfig={"Delay": 0.2})
    autoscaling = server.client("application-autoscaling")
    autoscaling.register_scalable_target(**TARGET, MinCapacity=1, MaxCapacity=2)
    autoscaling.put_scaling_policy(**TARGET, PolicyName="invocations", PolicyType="TargetTrackingScaling",
                                   TargetTrackingScalingPolicyConfiguration={
        "TargetValue": 60.0, "ScaleOutCooldown": 5, "ScaleInCooldown": 5,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}})
    return autoscaling


def in_rotation(server: LocalServer) -> int:
    answer = httpx.get(f"{server.url}/_modelbay/v1/endpoints/{NAME}/instances", timeout=10)
    return sum(instance["in_rotation"] for instance in answer.json()["Instances"]) if answer.status_code == 200 else 0


def one_instance(server: LocalServer) -> bool:
    described = server.sagemaker.describe_endpoint(EndpointName=NAME)
    return bool(described["EndpointStatus"] == "InService"
                and described["ProductionVariants"][0].get("CurrentInstanceCount") == 1)


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll every 50 ms; answer the wall-clock time (epoch seconds) the check first held."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return time.time()


def latest_activity_start(autoscaling: Any) -> datetime:
    activities = autoscaling.describe_scaling_activities(ServiceNamespace="sagemaker", ResourceId=TARGET["ResourceId"],
                                                         MaxResults=1)["ScalingActivities"]
    started: datetime = activities[0]["StartTime"]
    return started


def one_round(server: LocalServer, autoscaling: Any) -> tuple[float, float, float, int]:
    """(load start → scaling activity, activity → new instance in rotation, load end → instance removed, failures)"""
    started = time.time()
    with Load(server, clients=3, pause_s=0) as heavy:
        serving = wait_until(lambda: in_rotation(server) == 2, 120, "the second instance in rotation")
    acted = latest_activity_start(autoscaling).timestamp()
    ended = time.time()
    with Load(server, clients=1, pause_s=2) as light:
        removed = wait_until(lambda: one_instance(server), 180, "the instance removed")
    return acted - started, serving - acted, removed - ended, heavy.failures + light.failures


def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as scratch, local_server(Path(scratch) / "data") as server:
        autoscaling = deploy(server, Path(scratch) / "image")
        results = [one_round(server, autoscaling) for _ in range(rounds)]
    print(f"target tracking, SageMakerVariantInvocationsPerInstance at 60/min, 1-2 instances; {rounds} rounds "
          "(seconds)")
    print(f"{'':48} {'median':>8} {'min':>8} {'max':>8}")
    labels = ("load step → scaling activity (alarm ran policy)", "scaling activity → new instance serving",
              "end of load → instance removed")
    for index, label in enumerate(labels):
        took = [result[index] for result in results]
        print(f"{label:48} {statistics.median(took):8.2f} {min(took):8.2f} {max(took):8.2f}")
    to_serving = max(result[1] for result in results)
    print(f"failed requests: {sum(result[3] for result in results)}; target: a new instance serving within 5 s of "
          f"the alarm ({'met' if to_serving < 5 else 'missed'})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rounds", nargs="?", type=int, default=2)
    main(parser.parse_args().rounds)
