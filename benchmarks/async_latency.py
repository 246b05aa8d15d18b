"""What the asynchronous path adds to an invocation: InvokeEndpointAsync to its answer in S3, next to InvokeEndpoint.

    .venv/bin/python benchmarks/async_latency.py [CALLS]

Starts a private server and one asynchronous endpoint (a Python model that upper-cases its input, one
ml.m5.large instance), and a real-time endpoint of the same model. Then, one after another, CALLS
(default 50) InvokeEndpoint round trips, and CALLS InvokeEndpointAsync calls each timed from the call
to its answer being readable in S3 (HeadObject polled every 5 ms, as a client waiting for it would; the
SageMaker SDK's own waiter polls every 15 s by default). The figures are medians and p90s; the ratio
is what the queue, the worker, the input read and the output write cost on top of the model call.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from modelbay.sdk import Model, Session
from modelbay.sdk.local_server import local_server

BUCKET = "async-bench"
POLL_S = 0.005
MODEL = """
    def model_fn(model_dir):
        return None

    def transform_fn(model, body, content_type, accept):
        return body.upper(), "text/plain"
"""


def endpoint(sagemaker: Any, model: str, name: str, asynchronous: bool) -> None:
    config = {"AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": f"s3://{BUCKET}/out"}}} if asynchronous else {}
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "a", "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}], **config)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})


def time_sync(runtime: Any, calls: int) -> list[float]:
    took = []
    for _ in range(calls):
        started = time.perf_counter()
        runtime.invoke_endpoint(EndpointName="realtime", Body=b"abc", ContentType="text/plain")["Body"].read()
        took.append(time.perf_counter() - started)
    return took


def time_async(runtime: Any, s3: Any, calls: int) -> list[float]:
    s3.put_object(Bucket=BUCKET, Key="in/abc", Body=b"abc", ContentType="text/plain")
    took = []
    for _ in range(calls):
        started = time.perf_counter()
        output = runtime.invoke_endpoint_async(EndpointName="queued", InputLocation=f"s3://{BUCKET}/in/abc")
        key = output["OutputLocation"].removeprefix(f"s3://{BUCKET}/")
        while s3.list_objects_v2(Bucket=BUCKET, Prefix=key)["KeyCount"] == 0:
            time.sleep(POLL_S)
        took.append(time.perf_counter() - started)
    return took


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def main(calls: int) -> None:
    with local_server() as server, tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "model.py").write_text(textwrap.dedent(MODEL))
        model = Model(framework="python", entry_point=str(Path(scratch) / "model.py"),
                      session=Session(url=server.url)).create()
        server.s3.create_bucket(Bucket=BUCKET)
        endpoint(server.sagemaker, model, "realtime", asynchronous=False)
        endpoint(server.sagemaker, model, "queued", asynchronous=True)
        runtime = server.client("sagemaker-runtime")
        time_sync(runtime, 5), time_async(runtime, server.s3, 5)  # warm connections and workers
        sync, queued = time_sync(runtime, calls), time_async(runtime, server.s3, calls)
    print(f"{calls} calls each, one after another, one ml.m5.large instance (milliseconds)")
    print(f"{'':36} {'median':>8} {'p90':>8}")
    for label, took in (("InvokeEndpoint round trip", sync), ("InvokeEndpointAsync to answer in S3", queued)):
        print(f"{label:36} {statistics.median(took) * 1000:8.1f} {p90(took) * 1000:8.1f}")
    print(f"ratio async/sync (median): {statistics.median(queued) / statistics.median(sync):.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("calls", type=int, nargs="?", default=50, help="timed calls of each kind (default 50)")
    main(parser.parse_args().calls)
