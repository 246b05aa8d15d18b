"""A serverless endpoint's cold start, from zero instances to the first answer, beside its warm latency.

    .venv/bin/python benchmarks/serverless.py [ROUNDS]

Starts a private server whose serverless variants scale to zero after 1 s idle, trains benchmarks/serving.py's
LogisticRegression in the scikit-learn 1.2-1 environment, and deploys it serverless (2048 MB, MaxConcurrency 5)
on the scikit-learn image. Each of ROUNDS rounds (default 5) waits until the variant has no instance (none
routed, none running: the last one has stopped and is removed), times one InvokeEndpoint (the cold start: the
request waits while an instance stages the model and its model server starts), then 20 more (warm). SageMaker's
serverless cold starts take seconds; the target here is under 1 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from serving import BUCKET, IMAGE, ROLE, ROOT, sklearn_python, train, wait_until

from modelbay.sdk.local_server import LocalServer, local_server

IDLE_S = 1.0
WARM_CALLS = 20
NAME = "serverless-bench"


def deploy(server: LocalServer, tarball: Path) -> None:
    server.s3.create_bucket(Bucket=BUCKET)
    server.s3.upload_file(str(tarball), BUCKET, "light/model.tar.gz")
    server.sagemaker.create_model(ModelName=NAME, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/light/model.tar.gz"})
    server.sagemaker.create_endpoint_config(EndpointConfigName=NAME, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": NAME,
        "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}])
    server.sagemaker.create_endpoint(EndpointName=NAME, EndpointConfigName=NAME)
    server.sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=NAME, WaiterConfig={"Delay": 0.2})


def has_instances(url: str, data: Path) -> bool:
    """An instance is routed, or still runs (the process runtime keeps a state file per instance until removed)."""
    answer = httpx.get(f"{url}/_modelbay/v1/endpoints/{NAME}/instances", timeout=10)
    return bool(answer.status_code == 200 and answer.json()["Instances"]) or any((data / "runtime").glob("*.json"))


def timed(runtime: Any, row: bytes) -> float:
    started = time.perf_counter()
    runtime.invoke_endpoint(EndpointName=NAME, Body=row, ContentType="text/csv")["Body"].read()
    return time.perf_counter() - started


def main(rounds: int) -> None:
    os.environ.setdefault("MODELBAY_ENVIRONMENTS_DIR", str(ROOT / ".cache" / "environments"))
    os.environ["MODELBAY_SERVERLESS_IDLE_S"] = str(IDLE_S)
    with tempfile.TemporaryDirectory() as scratch:
        row = train(sklearn_python(), Path(scratch))
        with local_server(Path(scratch) / "data") as server:
            deploy(server, Path(scratch) / "light" / "model.tar.gz")
            runtime = server.client("sagemaker-runtime")
            cold, warm = [], []
            for _ in range(rounds):
                wait_until(lambda: not has_instances(server.url, Path(scratch) / "data"), 60, "scaling to zero")
                cold.append(timed(runtime, row))
                warm.extend(timed(runtime, row) for _ in range(WARM_CALLS))
    print(f"serverless scikit-learn LogisticRegression, 2048 MB; {rounds} rounds (milliseconds)")
    print(f"{'':44} {'median':>8} {'min':>8} {'max':>8}")
    for label, took in ((f"cold start: zero instances to first answer ({rounds})", cold),
                        (f"warm InvokeEndpoint ({len(warm)})", warm)):
        print(f"{label:44} {statistics.median(took) * 1000:8.1f} {min(took) * 1000:8.1f} {max(took) * 1000:8.1f}")
    print(f"cold/warm (median): {statistics.median(cold) / statistics.median(warm):.0f}x; "
          f"target: cold under 1000 ms ({'met' if max(cold) < 1 else 'missed'})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rounds", type=int, nargs="?", default=5, help="cold starts timed (default 5)")
    main(parser.parse_args().rounds)
