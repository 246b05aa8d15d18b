"""What modelbay adds to a training job: CreateTrainingJob to the program's first line, and to Completed.

    .venv/bin/python benchmarks/training_overhead.py [JOBS]

Starts a private server, uploads a sourcedir.tar.gz whose train.py prints one line, and runs
JOBS (default 20) script-mode jobs on `modelbay/sklearn:1.2-1` one after another through boto3,
after one untimed job that makes sure the framework environment is built (warm, as the target
says; the per-user cache of framework environments keeps it between runs). For
each it measures, against the client's clock when it called CreateTrainingJob (one machine, one
clock): the first line's CloudWatch Logs event timestamp (what a user streaming logs sees), the
time the program itself printed in that line, and the whole job's wall time (DescribeTrainingJob
polled every 50 ms until Completed). Prints median and p90 and whether the targets are met.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tarfile
import time
from dataclasses import dataclass
from typing import Any

from modelbay.sdk.local_server import local_server

BUCKET = "bench"
SOURCE_KEY = "code/sourcedir.tar.gz"
TRAIN_PY = b"import time\nprint(f'first line {time.time():.6f}', flush=True)\n"
FIRST_LINE_TARGET_S, WHOLE_JOB_TARGET_S = 1.0, 3.0
POLL_S = 0.05
LOG_GROUP = "/aws/sagemaker/TrainingJobs"


@dataclass
class Run:
    first_line_logged_s: float  # CloudWatch Logs event timestamp - client clock at create
    first_line_printed_s: float  # the program's own clock when it printed - client clock at create
    whole_job_s: float  # create -> DescribeTrainingJob says Completed


def sourcedir(script: bytes = TRAIN_PY) -> bytes:
    """A sourcedir.tar.gz holding `script` as train.py, as the SDK packs one."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("train.py")
        info.size = len(script)
        archive.addfile(info, io.BytesIO(script))
    return buffer.getvalue()


def run_job(sagemaker: Any, logs: Any, name: str) -> Run:
    created_at, started = time.time(), time.monotonic()
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn="arn:aws:iam::000000000000:role/SageMakerRole",
        AlgorithmSpecification={"TrainingImage": "modelbay/sklearn:1.2-1", "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": json.dumps("train.py"),  # JSON-encoded, as the SDK sends them
                         "sagemaker_submit_directory": json.dumps(f"s3://{BUCKET}/{SOURCE_KEY}")},
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    while (job := sagemaker.describe_training_job(TrainingJobName=name))["TrainingJobStatus"] == "InProgress":
        time.sleep(POLL_S)
    whole = time.monotonic() - started
    if job["TrainingJobStatus"] != "Completed":
        raise RuntimeError(f"{name} ended {job['TrainingJobStatus']}: {job.get('FailureReason')}")
    stream = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{name}/algo-1-")
    events = logs.get_log_events(logGroupName=LOG_GROUP, startFromHead=True,
                                 logStreamName=stream["logStreams"][0]["logStreamName"])["events"]
    first = next(e for e in events if e["message"].startswith("first line "))
    printed_at = float(first["message"].removeprefix("first line "))
    return Run(first["timestamp"] / 1000 - created_at, printed_at - created_at, whole)


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def report(label: str, values: list[float], target_s: float | None) -> None:
    median, tail = statistics.median(values), p90(values)
    verdict = ""
    if target_s is not None:
        met = "met" if tail < target_s else "met by the median only" if median < target_s else "NOT met"
        verdict = f"  target < {target_s:.0f} s: {met}"
    print(f"{label:<44} median {median:6.3f} s   p90 {tail:6.3f} s{verdict}")


def main(jobs: int) -> None:
    with local_server() as server:
        server.s3.create_bucket(Bucket=BUCKET)
        server.s3.put_object(Bucket=BUCKET, Key=SOURCE_KEY, Body=sourcedir())
        logs = server.client("logs")
        run_job(server.sagemaker, logs, "overhead-warm-up")
        runs = [run_job(server.sagemaker, logs, f"overhead-{n}") for n in range(jobs)]
    print(f"{jobs} script-mode jobs on modelbay/sklearn:1.2-1, one after another, ml.m5.large, 1 instance")
    print("warm environment: built before the timed jobs; each job still gets its own instance layer over it")
    report("create -> first line (CloudWatch timestamp)", [r.first_line_logged_s for r in runs], FIRST_LINE_TARGET_S)
    report("create -> first line (program's own clock)", [r.first_line_printed_s for r in runs], None)
    report("create -> Completed (whole empty job)", [r.whole_job_s for r in runs], WHOLE_JOB_TARGET_S)
    print("targets are judged on p90; SageMaker itself takes minutes to start a job")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("jobs", type=int, nargs="?", default=20, help="timed jobs (default 20)")
    main(parser.parse_args().jobs)
