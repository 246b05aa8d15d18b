"""What modelbay adds to a processing job: CreateProcessingJob to the script's first line, and to Completed.

    .venv/bin/python benchmarks/processing_overhead.py [JOBS]

Starts a private server, uploads a script that prints one line, and runs JOBS (default 20)
processing jobs on `modelbay/sklearn:1.2-1` (`python3 /opt/ml/processing/input/code/process.py`,
the script given as an input, as the SDK's ScriptProcessor sends it) one after another through
boto3, after one untimed job that makes sure the framework environment is built. Measured as
training_overhead.py measures training jobs, whose report it shares: the first line's CloudWatch
Logs timestamp and the program's own clock against the client's at CreateProcessingJob, and the
whole job's wall time (DescribeProcessingJob polled every 50 ms until Completed).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from training_overhead import FIRST_LINE_TARGET_S, POLL_S, TRAIN_PY, WHOLE_JOB_TARGET_S, Run, report

from modelbay.sdk.local_server import local_server

BUCKET = "bench"
CODE_KEY = "code/process.py"
LOG_GROUP = "/aws/sagemaker/ProcessingJobs"


def run_job(sagemaker: Any, logs: Any, name: str) -> Run:
    created_at, started = time.time(), time.monotonic()
    sagemaker.create_processing_job(
        ProcessingJobName=name, RoleArn="arn:aws:iam::000000000000:role/SageMakerRole",
        AppSpecification={"ImageUri": "modelbay/sklearn:1.2-1",
                          "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/process.py"]},
        ProcessingInputs=[{"InputName": "code", "S3Input": {
            "S3Uri": f"s3://{BUCKET}/{CODE_KEY}", "LocalPath": "/opt/ml/processing/input/code",
            "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
        ProcessingResources={"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                               "VolumeSizeInGB": 1}},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    while (job := sagemaker.describe_processing_job(ProcessingJobName=name))["ProcessingJobStatus"] == "InProgress":
        time.sleep(POLL_S)
    whole = time.monotonic() - started
    if job["ProcessingJobStatus"] != "Completed":
        raise RuntimeError(f"{name} ended {job['ProcessingJobStatus']}: {job.get('FailureReason')}")
    stream = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/algo-1-")
    events = logs.get_log_events(logGroupName=LOG_GROUP, startFromHead=True,
                                 logStreamName=stream["logStreams"][0]["logStreamName"])["events"]
    first = next(e for e in events if e["message"].startswith("first line "))
    printed_at = float(first["message"].removeprefix("first line "))
    return Run(first["timestamp"] / 1000 - created_at, printed_at - created_at, whole)


def main(jobs: int) -> None:
    with local_server() as server:
        server.s3.create_bucket(Bucket=BUCKET)
        server.s3.put_object(Bucket=BUCKET, Key=CODE_KEY, Body=TRAIN_PY)
        logs = server.client("logs")
        run_job(server.sagemaker, logs, "overhead-warm-up")
        runs = [run_job(server.sagemaker, logs, f"overhead-{n}") for n in range(jobs)]
    print(f"{jobs} processing jobs on modelbay/sklearn:1.2-1, one after another, ml.m5.large, 1 instance")
    report("create -> first line (CloudWatch timestamp)", [r.first_line_logged_s for r in runs], FIRST_LINE_TARGET_S)
    report("create -> first line (program's own clock)", [r.first_line_printed_s for r in runs], None)
    report("create -> Completed (whole empty job)", [r.whole_job_s for r in runs], WHOLE_JOB_TARGET_S)
    print("targets are judged on p90; SageMaker itself takes minutes to start a job")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("jobs", type=int, nargs="?", default=20, help="timed jobs (default 20)")
    main(parser.parse_args().jobs)
