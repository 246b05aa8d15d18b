"""modelbay's end-to-end demo on the embedded defaults (SQLite metadata, local-folder objects, local processes).

Talks to the server MODELBAY_URL names (`eval "$(modelbay env)"` sets it), else starts a private one for its
own length (as `make demo` does), and speaks to it only as AWS tools do, through boto3:
1. uploads a synthetic dataset and a scikit-learn script to S3 and runs a SageMaker training job
   in script mode on the scikit-learn 1.2-1 image, printing its status transitions, its log, its
   metrics and where its model artifact landed; then trains a second model (other hyperparameters);
2. deploys both as production variants of one endpoint, weighted 80/20, sends traffic and prints
   per-variant counts and latency; shifts the weights to 0/100 live and shows traffic followed;
3. deletes the endpoint. The jobs, models and endpoint config stay, for `modelbay jobs list` and the like.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from modelbay.sdk import local_server
from modelbay.sdk.clients import client

console = Console(markup=False, soft_wrap=True)  # answers hold [brackets] that are not markup
SCRIPT = Path(__file__).parent / "scripts" / "sklearn_regression.py"
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
RUN = time.strftime("%Y%m%d-%H%M%S")
SOURCE = "s3://demo/code/sourcedir.tar.gz"
ENDPOINT = f"demo-{RUN}"


def synthetic_dataset(rows: int = 500) -> bytes:
    """A small regression set: y = 3a - 2b + noise (label first, as SageMaker's algorithms read CSV)."""
    rng = random.Random(7)
    out = io.StringIO()
    writer = csv.writer(out)
    for _ in range(rows):
        a, b = rng.uniform(-1, 1), rng.uniform(-1, 1)
        writer.writerow([round(3 * a - 2 * b + rng.gauss(0, 0.1), 4), round(a, 4), round(b, 4)])
    return out.getvalue().encode()


def source_archive() -> bytes:
    """The script packed as the SageMaker Python SDK packs a source dir."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(SCRIPT, arcname=SCRIPT.name)
    return buffer.getvalue()


def start_job(sagemaker: Any, job: str, alpha: float) -> None:
    """The CreateTrainingJob request the SageMaker Python SDK sends for SKLearn(...).fit(...)."""
    hyperparameters = {"alpha": alpha, "sagemaker_program": SCRIPT.name, "sagemaker_submit_directory": SOURCE,
                       "sagemaker_region": "us-east-1"}
    sagemaker.create_training_job(
        TrainingJobName=job, RoleArn=ROLE,
        HyperParameters={name: json.dumps(value) for name, value in hyperparameters.items()},
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File", "MetricDefinitions": [
            {"Name": "validation:mse", "Regex": r"validation:mse=([0-9.]+)"},
            {"Name": "validation:r2", "Regex": r"validation:r2=([0-9.]+)"}]},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv",
                          "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://demo/train/"}}}],
        OutputDataConfig={"S3OutputPath": "s3://demo/models"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})


def follow(sagemaker: Any, name: str) -> dict[str, Any]:
    """Print each status transition as it happens; return the ended job's description."""
    shown = 0
    while True:
        job: dict[str, Any] = sagemaker.describe_training_job(TrainingJobName=name)
        for transition in job.get("SecondaryStatusTransitions", [])[shown:]:
            console.print(f"  {transition['StartTime']:%H:%M:%S}  {transition['Status']:<12} "
                          f"{transition.get('StatusMessage', '')}")
        shown = len(job.get("SecondaryStatusTransitions", []))
        if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return job
        time.sleep(0.5)


def print_log(logs: Any, job: str) -> None:
    group = "/aws/sagemaker/TrainingJobs"
    for stream in logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=job)["logStreams"]:
        console.print(f"CloudWatch Logs {group} {stream['logStreamName']}:")
        events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True)
        for event in events["events"]:
            console.print("  " + event["message"])


def train(server: Any, job: str, alpha: float) -> str:
    """Run one training job to its end, showing its progress; return its model artifact's URI."""
    console.rule(f"CreateTrainingJob {job} on {IMAGE.split('/')[-1]}, alpha={alpha}")
    start_job(server.sagemaker, job, alpha)
    described = follow(server.sagemaker, job)
    print_log(server.client("logs"), job)
    if described["TrainingJobStatus"] != "Completed":
        raise SystemExit(f"the demo job ended {described['TrainingJobStatus']}: {described.get('FailureReason')}")
    for metric in described["FinalMetricDataList"]:
        console.print(f"metric {metric['MetricName']} = {metric['Value']}")
    artifact: str = described["ModelArtifacts"]["S3ModelArtifacts"]
    body = server.s3.get_object(Bucket="demo", Key=artifact.removeprefix("s3://demo/"))["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        console.print(f"model artifact {artifact} ({len(body)} bytes): {archive.getnames()}")
    return artifact


def deploy(sagemaker: Any, artifacts: dict[str, str]) -> None:
    """One model per artifact, one endpoint config with a variant of each weighted 80/20, one endpoint."""
    for variant, artifact in artifacts.items():
        sagemaker.create_model(ModelName=f"{ENDPOINT}-{variant}", ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": IMAGE, "ModelDataUrl": artifact, "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}})
    weights = dict(zip(artifacts, (0.8, 0.2), strict=True))
    sagemaker.create_endpoint_config(EndpointConfigName=ENDPOINT, ProductionVariants=[
        {"VariantName": variant, "ModelName": f"{ENDPOINT}-{variant}", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1, "InitialVariantWeight": weight} for variant, weight in weights.items()])
    console.rule(f"CreateEndpoint {ENDPOINT}: variants {weights}")
    started = time.monotonic()
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=ENDPOINT)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=ENDPOINT, WaiterConfig={"Delay": 1})
    console.print(f"InService after {time.monotonic() - started:.1f} s")


def send_traffic(runtime: Any, requests: int) -> None:
    """Invoke the endpoint `requests` times; print how many answers came from each variant, and how fast."""
    latencies: dict[str, list[float]] = {}
    for n in range(requests):
        row = f"{(n % 20) / 10 - 1:.2f},{(n % 7) / 3.5 - 1:.2f}".encode()
        started = time.perf_counter()
        answer = runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=row, ContentType="text/csv")
        answer["Body"].read()
        latencies.setdefault(answer["InvokedProductionVariant"], []).append(time.perf_counter() - started)
    for variant, seen in sorted(latencies.items()):
        seen.sort()
        console.print(f"  {variant}: {len(seen):4d} answers ({len(seen) / requests:.0%}), latency p50 "
                      f"{seen[len(seen) // 2] * 1000:.1f} ms, p99 {seen[int(len(seen) * 0.99)] * 1000:.1f} ms")


class Server:
    """A server the demo talks to: its URL and boto3 clients for it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.s3, self.sagemaker = self.client("s3"), self.client("sagemaker")

    def client(self, service: str) -> Any:
        return client(service, self.url)


@contextmanager
def demo_server() -> Iterator[Server]:
    """The server MODELBAY_URL names, else a private one in a temporary data directory for the demo's length."""
    if url := os.environ.get("MODELBAY_URL"):
        console.rule(f"modelbay server at {url}")
        yield Server(url)
        return
    with local_server() as private:
        console.rule(f"a private modelbay server at {private.url} (data in {private.data_dir}, removed after)")
        yield Server(private.url)


def main() -> None:
    with demo_server() as server:
        s3, sagemaker = server.s3, server.sagemaker
        console.print("STS GetCallerIdentity:", server.client("sts").get_caller_identity()["Arn"])
        if "demo" not in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}:
            s3.create_bucket(Bucket="demo")
        s3.put_object(Bucket="demo", Key="train/data.csv", Body=synthetic_dataset(), ContentType="text/csv")
        s3.put_object(Bucket="demo", Key=SOURCE.removeprefix("s3://demo/"), Body=source_archive())
        console.print(f"S3 uploaded s3://demo/train/data.csv and {SCRIPT.name} as {SOURCE}")
        artifacts = {"ridge-a": train(server, f"ridge-a-{RUN}", 0.1),
                     "ridge-b": train(server, f"ridge-b-{RUN}", 10.0)}

        deploy(sagemaker, artifacts)
        runtime = server.client("sagemaker-runtime")
        console.rule("500 InvokeEndpoint calls at weights 80/20")
        send_traffic(runtime, 500)
        sagemaker.update_endpoint_weights_and_capacities(EndpointName=ENDPOINT, DesiredWeightsAndCapacities=[
            {"VariantName": "ridge-a", "DesiredWeight": 0.0}, {"VariantName": "ridge-b", "DesiredWeight": 1.0}])
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=ENDPOINT, WaiterConfig={"Delay": 1})
        console.rule("UpdateEndpointWeightsAndCapacities to 0/100, then 200 more calls")
        send_traffic(runtime, 200)
        sagemaker.delete_endpoint(EndpointName=ENDPOINT)
        sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=ENDPOINT, WaiterConfig={"Delay": 1})
        console.rule("endpoint deleted: done")


if __name__ == "__main__":
    main()
