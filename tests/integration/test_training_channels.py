"""Training channels through boto3 against a real server, as a bring-your-own program sees them under /opt/ml.

Each program prints what it received; the test reads it back from the CloudWatch Logs API
(group /aws/sagemaker/TrainingJobs, one stream `<job>/algo-<n>-<epoch>` per host), as a user would.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.conftest import client
from tests.helpers import ServerProcess
from tests.integration.test_training_jobs import WAITER, program

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
# Prints `file <path under /opt/ml/input/data> <content>` for every file the host received, in path order.
LIST_FILES = ("cd /opt/ml/input/data\nfind . -type f | sort |\n"
              "while read -r f; do printf 'file %s %s\\n' \"${f#./}\" \"$(cat \"$f\")\"; done\n")
# Prints `<label> <the config file's JSON>` on one line.
PRINT_CONFIG = "printf '{label} %s\\n' \"$(cat /opt/ml/input/config/{file})\"\n"


def s3_channel(name: str, uri: str, data_type: str = "S3Prefix", distribution: str = "FullyReplicated",
               **extra: Any) -> dict[str, Any]:
    return {"ChannelName": name, "DataSource": {"S3DataSource": {
        "S3DataType": data_type, "S3Uri": uri, "S3DataDistributionType": distribution}}, **extra}


def run_job(sagemaker: Any, name: str, image: str, bucket: str, channels: list[dict[str, Any]], count: int = 1,
            **extra: Any) -> dict[str, Any]:
    """Create the job, wait for it to end and return its description, which must say Completed."""
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn="arn:aws:iam::000000000000:role/SageMakerRole",
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        InputDataConfig=channels, OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": count, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600}, **extra)
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=name, WaiterConfig=WAITER)
    job = sagemaker.describe_training_job(TrainingJobName=name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return job


def host_logs(server: ServerProcess, job: str) -> dict[str, list[str]]:
    """Each host's log lines, read from its CloudWatch Logs stream `<job>/algo-<n>-<epoch>`."""
    logs = client(server.url, "logs")
    streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job}/")["logStreams"]
    lines: dict[str, list[str]] = {}
    for stream in streams:
        match = re.fullmatch(rf"{job}/(algo-\d+)-\d+", stream["logStreamName"])
        assert match, stream["logStreamName"]
        events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream["logStreamName"],
                                     startFromHead=True)["events"]
        lines[match[1]] = [event["message"] for event in events]
    return lines


def received(lines: list[str]) -> dict[str, str]:
    """The `file <path> <content>` lines of LIST_FILES as {path: content}."""
    return dict(line.removeprefix("file ").split(" ", 1) for line in lines if line.startswith("file "))


def printed_json(lines: list[str], label: str) -> Any:
    """The JSON a program printed after `<label> ` on one line."""
    [value] = [line.removeprefix(label + " ") for line in lines if line.startswith(label + " ")]
    return json.loads(value)


def test_sharded_channel_splits_objects_between_hosts_and_replicated_channel_is_whole(
        sagemaker: Any, s3: Any, server: ServerProcess, bucket: str, unique: str, scratch: Path) -> None:
    for n in range(4):
        s3.put_object(Bucket=bucket, Key=f"shards/part-{n}.csv", Body=f"shard{n}".encode())
    s3.put_object(Bucket=bucket, Key="whole/a.csv", Body=b"whole-a")
    s3.put_object(Bucket=bucket, Key="whole/sub/b.csv", Body=b"whole-b")
    image = program(scratch / "image",
                    LIST_FILES + PRINT_CONFIG.format(label="resourceconfig", file="resourceconfig.json"))
    run_job(sagemaker, unique, image, bucket, count=2, channels=[
        s3_channel("shards", f"s3://{bucket}/shards/", distribution="ShardedByS3Key"),
        s3_channel("whole", f"s3://{bucket}/whole/")])

    logs = host_logs(server, unique)
    assert sorted(logs) == ["algo-1", "algo-2"]
    files = {host: received(lines) for host, lines in logs.items()}
    shards = {host: {path: body for path, body in got.items() if path.startswith("shards/")}
              for host, got in files.items()}
    assert not shards["algo-1"].keys() & shards["algo-2"].keys()  # disjoint
    assert shards["algo-1"] | shards["algo-2"] == {f"shards/part-{n}.csv": f"shard{n}" for n in range(4)}
    assert [len(shards["algo-1"]), len(shards["algo-2"])] == [2, 2]  # each host about 1/n of the objects
    for host, got in files.items():
        assert {path: body for path, body in got.items() if path.startswith("whole/")} == {
            "whole/a.csv": "whole-a", "whole/sub/b.csv": "whole-b"}, host
        config = printed_json(logs[host], "resourceconfig")
        assert (config["current_host"], config["hosts"]) == (host, ["algo-1", "algo-2"])
        assert config["current_instance_type"] == "ml.m5.large"


def test_manifest_channel_delivers_exactly_the_listed_objects(sagemaker: Any, s3: Any, server: ServerProcess,
                                                              bucket: str, unique: str, scratch: Path) -> None:
    s3.put_object(Bucket=bucket, Key="some/a.csv", Body=b"listed-a")
    s3.put_object(Bucket=bucket, Key="some/sub/b.csv", Body=b"listed-b")
    s3.put_object(Bucket=bucket, Key="some/c.csv", Body=b"not-listed")
    manifest = [{"prefix": f"s3://{bucket}/some/"}, "a.csv", "sub/b.csv"]
    s3.put_object(Bucket=bucket, Key="manifests/train.manifest", Body=json.dumps(manifest).encode())
    run_job(sagemaker, unique, program(scratch / "image", LIST_FILES), bucket, channels=[
        s3_channel("train", f"s3://{bucket}/manifests/train.manifest", data_type="ManifestFile")])
    assert received(host_logs(server, unique)["algo-1"]) == {"train/a.csv": "listed-a", "train/sub/b.csv": "listed-b"}


def test_content_type_and_sdk_encoded_hyperparameters_reach_the_config_files(
        sagemaker: Any, server: ServerProcess, bucket: str, unique: str, scratch: Path) -> None:
    """The SageMaker Python SDK JSON-encodes every hyperparameter value; the program gets them as sent."""
    hyperparameters = {"epochs": "10", "name": '"a b"', "lr": "0.5", "sagemaker_program": '"train.py"',
                       "flags": '["x", "y"]'}
    image = program(scratch / "image", PRINT_CONFIG.format(label="inputdataconfig", file="inputdataconfig.json")
                    + PRINT_CONFIG.format(label="hyperparameters", file="hyperparameters.json"))
    run_job(sagemaker, unique, image, bucket, HyperParameters=hyperparameters, channels=[
        s3_channel("train", f"s3://{bucket}/data/", ContentType="text/csv"),
        s3_channel("validation", f"s3://{bucket}/data/")])
    lines = host_logs(server, unique)["algo-1"]
    assert printed_json(lines, "inputdataconfig") == {
        "train": {"ContentType": "text/csv", "TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                  "RecordWrapperType": "None"},
        "validation": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                       "RecordWrapperType": "None"}}
    assert printed_json(lines, "hyperparameters") == hyperparameters

