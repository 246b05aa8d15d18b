"""Processing jobs through boto3 against a real server: inputs staged at their LocalPath on every host (sharded
or not), outputs uploaded from theirs, SageMaker's config files, a failing program, Stop, List and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.conftest import client
from tests.helpers import ServerProcess, wait_until
from tests.integration.models import ROLE

ENDED = ("Completed", "Failed", "Stopped")
# Copies every input file to the output with the host's name before it, and records the host's config files.
COPY = """
import json, os, pathlib, sys
config = json.load(open("/opt/ml/config/resourceconfig.json"))
job = json.load(open("/opt/ml/config/processingjobconfig.json"))
out = pathlib.Path("/opt/ml/processing/output")
for path in sorted(pathlib.Path("/opt/ml/processing/data").rglob("*")):
    if path.is_file():
        (out / f"{config['current_host']}-{path.name}").write_bytes(path.read_bytes())
seen = {"hosts": config["hosts"], "job": job["ProcessingJobName"], "argv": sys.argv[1:], "env": os.environ["GREETING"]}
(out / f"{config['current_host']}.json").write_text(json.dumps(seen))
print("copied", flush=True)
"""


def run_job(sagemaker: Any, s3: Any, bucket: str, name: str, code: str, *, wait: bool = True,
            **request: Any) -> dict[str, Any]:
    """Create a processing job running `code` with the python image, given as an input as the SDK gives it; return
    DescribeProcessingJob (at its end when `wait`)."""
    s3.put_object(Bucket=bucket, Key=f"code/{name}.py", Body=code.encode())
    code_input = {"InputName": "code", "S3Input": {
        "S3Uri": f"s3://{bucket}/code/{name}.py", "LocalPath": "/opt/ml/processing/input/code",
        "S3DataType": "S3Prefix", "S3InputMode": "File"}}
    sagemaker.create_processing_job(
        ProcessingJobName=name, RoleArn=ROLE,
        AppSpecification={"ImageUri": "modelbay/python",
                          "ContainerEntrypoint": ["python3", f"/opt/ml/processing/input/code/{name}.py"]}
        | request.pop("AppSpecification", {}),
        ProcessingInputs=[code_input, *request.pop("ProcessingInputs", [])],
        ProcessingResources={"ClusterConfig": {"InstanceCount": request.pop("InstanceCount", 1),
                                               "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}}, **request)
    if wait:
        wait_until(lambda: status(sagemaker, name) in ENDED, timeout_s=120, what=f"{name} to end")
    return sagemaker.describe_processing_job(ProcessingJobName=name)


def status(sagemaker: Any, name: str) -> str:
    return str(sagemaker.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"])


def test_inputs_are_sharded_across_hosts_and_outputs_uploaded(sagemaker: Any, s3: Any, bucket: str,
                                                             unique: str) -> None:
    for n in range(4):
        s3.put_object(Bucket=bucket, Key=f"parts/part-{n}.csv", Body=f"{n}\n".encode())
    s3.put_object(Bucket=bucket, Key="shared/all.txt", Body=b"everyone")
    inputs = [{"InputName": "parts", "S3Input": {
                   "S3Uri": f"s3://{bucket}/parts", "LocalPath": "/opt/ml/processing/data/parts",
                   "S3DataType": "S3Prefix", "S3InputMode": "File", "S3DataDistributionType": "ShardedByS3Key"}},
              {"InputName": "shared", "S3Input": {
                  "S3Uri": f"s3://{bucket}/shared/", "LocalPath": "/opt/ml/processing/data/shared",
                  "S3DataType": "S3Prefix", "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated"}}]
    outputs = {"Outputs": [{"OutputName": "out", "S3Output": {
        "S3Uri": f"s3://{bucket}/out", "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]}
    job = run_job(sagemaker, s3, bucket, unique, COPY, InstanceCount=2, ProcessingInputs=inputs,
                  ProcessingOutputConfig=outputs, AppSpecification={"ContainerArguments": ["--flag", "1"]},
                  Environment={"GREETING": "hello"}, StoppingCondition={"MaxRuntimeInSeconds": 600})
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ProcessingInputs"][1:] == inputs and job["Environment"] == {"GREETING": "hello"}
    assert job["ProcessingStartTime"] <= job["ProcessingEndTime"]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="out/")["Contents"])
    assert keys == ["out/algo-1-all.txt", "out/algo-1-part-0.csv", "out/algo-1-part-2.csv", "out/algo-1.json",
                    "out/algo-2-all.txt", "out/algo-2-part-1.csv", "out/algo-2-part-3.csv", "out/algo-2.json"]
    seen = json.loads(s3.get_object(Bucket=bucket, Key="out/algo-2.json")["Body"].read())
    assert seen == {"hosts": ["algo-1", "algo-2"], "job": unique, "argv": ["--flag", "1"], "env": "hello"}


def test_a_failing_program_fails_the_job_with_its_error(sagemaker: Any, s3: Any, bucket: str, server: ServerProcess,
                                                       unique: str) -> None:
    job = run_job(sagemaker, s3, bucket, unique, "print('working'); raise ValueError('column price is missing')")
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: ")
    assert "ValueError: column price is missing" in job["FailureReason"]
    assert "exit code: 1" in job["FailureReason"] and len(job["FailureReason"]) <= 1024
    assert "ValueError: column price is missing" in job["ExitMessage"]
    logs = client(server.url, "logs")
    [stream] = logs.describe_log_streams(logGroupName="/aws/sagemaker/ProcessingJobs",
                                         logStreamNamePrefix=f"{unique}/")["logStreams"]
    assert stream["logStreamName"].startswith(f"{unique}/algo-1-")
    events = logs.get_log_events(logGroupName="/aws/sagemaker/ProcessingJobs",
                                 logStreamName=stream["logStreamName"])["events"]
    assert "working" in [e["message"] for e in events]


def test_stop_ends_a_running_job_stopped(sagemaker: Any, s3: Any, bucket: str, unique: str) -> None:
    run_job(sagemaker, s3, bucket, unique, "import time; print('started', flush=True); time.sleep(600)", wait=False)
    wait_until(lambda: "ProcessingStartTime" in sagemaker.describe_processing_job(ProcessingJobName=unique),
               timeout_s=60, what="the job to start")
    sagemaker.stop_processing_job(ProcessingJobName=unique)
    assert status(sagemaker, unique) in ("Stopping", "Stopped")
    wait_until(lambda: status(sagemaker, unique) == "Stopped", timeout_s=60, what="the job to stop")
    try:
        sagemaker.stop_processing_job(ProcessingJobName=unique)
    except sagemaker.exceptions.ClientError as err:
        assert "is in status Stopped" in str(err)
    else:
        raise AssertionError("stopping a stopped job was accepted")


def test_list_filters_sorts_and_pages_and_the_cli_shows_jobs(sagemaker: Any, s3: Any, bucket: str,
                                                           server: ServerProcess, unique: str) -> None:
    for n in range(3):
        run_job(sagemaker, s3, bucket, f"{unique}-{n}", "print('ok')", wait=n == 2)
    wait_until(lambda: all(status(sagemaker, f"{unique}-{n}") == "Completed" for n in range(3)), timeout_s=120,
               what="the jobs to complete")
    first = sagemaker.list_processing_jobs(NameContains=unique, SortBy="Name", SortOrder="Ascending", MaxResults=2)
    rest = sagemaker.list_processing_jobs(NameContains=unique, SortBy="Name", SortOrder="Ascending", MaxResults=2,
                                          NextToken=first["NextToken"])
    names = [s["ProcessingJobName"] for s in first["ProcessingJobSummaries"] + rest["ProcessingJobSummaries"]]
    assert names == [f"{unique}-0", f"{unique}-1", f"{unique}-2"]
    assert sagemaker.list_processing_jobs(NameContains=unique, StatusEquals="Failed")["ProcessingJobSummaries"] == []
    cli = [sys.executable, "-m", "modelbay", "processing"]
    listed = subprocess.run([*cli, "list", "--url", server.url, "--name-contains", unique, "--json"],
                            capture_output=True, text=True, check=True).stdout
    assert sorted(s["ProcessingJobName"] for s in json.loads(listed)) == names
    described = subprocess.run([*cli, "describe", f"{unique}-1", "--url", server.url], capture_output=True, text=True,
                               check=True).stdout
    assert "Completed" in described and "modelbay/python" in described


def test_create_refuses_what_sagemaker_refuses(sagemaker: Any, s3: Any, bucket: str, unique: str) -> None:
    bad = {"InputName": "in", "S3Input": {"S3Uri": "s3://b/k", "LocalPath": "/tmp/in", "S3DataType": "S3Prefix",
                                          "S3InputMode": "File"}}
    for given, message in ((bad, "must be a normalized path under /opt/ml/processing/"),
                           (bad | {"S3Input": bad["S3Input"] | {"LocalPath": "/opt/ml/processing/in",
                                                                "S3CompressionType": "Gzip"}},
                            "Gzip can only be used when Pipe mode")):
        try:
            run_job(sagemaker, s3, bucket, unique, "print()", wait=False, ProcessingInputs=[given])
        except sagemaker.exceptions.ClientError as err:
            assert message in str(err)
        else:
            raise AssertionError(f"{given} was accepted")
    run_job(sagemaker, s3, bucket, unique, "print()", wait=False)
    try:
        run_job(sagemaker, s3, bucket, unique, "print()", wait=False)
    except sagemaker.exceptions.ResourceInUse as err:
        assert "a processing job with this name already exists" in str(err)
    else:
        raise AssertionError("a second job of the same name was accepted")
