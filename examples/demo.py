"""modelbay's end-to-end demo on the embedded defaults (SQLite metadata, local-folder objects, local processes).

Starts a server of its own, then talks to it only as AWS tools do, through boto3: uploads a
synthetic dataset and a scikit-learn script to S3, runs a SageMaker training job in script mode
on the scikit-learn 1.2-1 image, and prints its status transitions, its log, its metrics and
where its model artifact landed.
"""

from __future__ import annotations

import csv
import io
import json
import random
import tarfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from modelbay.sdk import local_server

console = Console(markup=False, soft_wrap=True)  # answers hold [brackets] that are not markup
SCRIPT = Path(__file__).parent / "scripts" / "sklearn_regression.py"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
JOB = "demo-sklearn-" + time.strftime("%Y%m%d-%H%M%S")


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


def start_job(sagemaker: Any) -> None:
    """The CreateTrainingJob request the SageMaker Python SDK sends for SKLearn(...).fit(...)."""
    hyperparameters = {"alpha": 0.1, "sagemaker_program": SCRIPT.name,
                       "sagemaker_submit_directory": f"s3://demo/{JOB}/source/sourcedir.tar.gz",
                       "sagemaker_region": "us-east-1"}
    sagemaker.create_training_job(
        TrainingJobName=JOB, RoleArn="arn:aws:iam::000000000000:role/SageMakerRole",
        HyperParameters={name: json.dumps(value) for name, value in hyperparameters.items()},
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File", "MetricDefinitions": [
            {"Name": "validation:mse", "Regex": r"validation:mse=([0-9.]+)"},
            {"Name": "validation:r2", "Regex": r"validation:r2=([0-9.]+)"}]},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv",
                          "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://demo/train/"}}}],
        OutputDataConfig={"S3OutputPath": "s3://demo/models"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})


def follow(sagemaker: Any) -> dict[str, Any]:
    """Print each status transition as it happens; return the ended job's description."""
    shown = 0
    while True:
        job: dict[str, Any] = sagemaker.describe_training_job(TrainingJobName=JOB)
        for transition in job.get("SecondaryStatusTransitions", [])[shown:]:
            console.print(f"  {transition['StartTime']:%H:%M:%S}  {transition['Status']:<12} "
                          f"{transition.get('StatusMessage', '')}")
        shown = len(job.get("SecondaryStatusTransitions", []))
        if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return job
        time.sleep(0.5)


def print_log(logs: Any) -> None:
    group = "/aws/sagemaker/TrainingJobs"
    for stream in logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=JOB)["logStreams"]:
        console.print(f"CloudWatch Logs {group} {stream['logStreamName']}:")
        events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True)
        for event in events["events"]:
            console.print("  " + event["message"])


def main() -> None:
    with local_server() as server:
        console.rule(f"modelbay server at {server.url} (data in {server.data_dir})")
        s3, sagemaker = server.s3, server.sagemaker
        console.print("STS GetCallerIdentity:", server.client("sts").get_caller_identity()["Arn"])
        s3.create_bucket(Bucket="demo")
        s3.put_object(Bucket="demo", Key="train/data.csv", Body=synthetic_dataset(), ContentType="text/csv")
        s3.put_object(Bucket="demo", Key=f"{JOB}/source/sourcedir.tar.gz", Body=source_archive())
        console.print(f"S3 uploaded s3://demo/train/data.csv and {SCRIPT.name} as s3://demo/{JOB}/source/")

        console.rule(f"CreateTrainingJob {JOB} on {IMAGE.split('/')[-1]}")
        start_job(sagemaker)
        job = follow(sagemaker)
        print_log(server.client("logs"))
        console.rule(f"{job['TrainingJobStatus']} in {job.get('TrainingTimeInSeconds', 0)} s")
        if job["TrainingJobStatus"] != "Completed":
            raise SystemExit(f"the demo job ended {job['TrainingJobStatus']}: {job.get('FailureReason')}")
        for metric in job["FinalMetricDataList"]:
            console.print(f"metric {metric['MetricName']} = {metric['Value']}")
        artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
        body = s3.get_object(Bucket="demo", Key=artifact.removeprefix("s3://demo/"))["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body)) as archive:
            console.print(f"model artifact {artifact} ({len(body)} bytes): {archive.getnames()}")


if __name__ == "__main__":
    main()
