"""The AWS CLI from PyPI, pointed at modelbay by `eval "$(modelbay env)"` alone."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.helpers import user_shell, wait_until
from tests.integration.models import (
    CLASSIFIER,
    CLASSIFIER_ROWS,
    ROLE,
    SKLEARN,
    TRAINED,
    create_model,
    tar_gz,
    trained_artifact,
)

AWS = str(Path(sys.executable).with_name("aws"))
GROUP = "/aws/sagemaker/TrainingJobs"
# AWS CLI v2 (`make test` unpacks Debian's 2.9.19 there): only v2 has `aws logs tail`. It predates
# AWS_ENDPOINT_URL (2.13), so it is the one CLI here given --endpoint-url.
AWS_V2 = Path(__file__).resolve().parents[2] / ".cache" / "awscli-v2" / "aws"


def aws(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AWS, *args], capture_output=True, text=True, env=env, timeout=120)


def test_aws_s3_and_sagemaker_commands(server: Any, unique: str, tmp_path: Path) -> None:
    env = user_shell(server.url, tmp_path)
    data = tmp_path / "data.csv"
    data.write_text("1,2,3\n")
    assert aws(env, "s3", "mb", f"s3://{unique}").returncode == 0
    copied = aws(env, "s3", "cp", str(data), f"s3://{unique}/train/data.csv")
    assert copied.returncode == 0, copied.stderr
    listed = aws(env, "s3", "ls", f"s3://{unique}/train/")
    assert "data.csv" in listed.stdout
    tags = aws(env, "sagemaker", "list-tags", "--resource-arn",
               f"arn:aws:sagemaker:us-east-1:000000000000:model/{unique}")
    assert tags.returncode == 0, tags.stderr
    assert '"Tags": []' in tags.stdout
    identity = aws(env, "sts", "get-caller-identity")
    assert '"Account": "000000000000"' in identity.stdout


def ok(env: dict[str, str], *args: str) -> str:
    """Run `aws ARGS`, which must succeed; its standard output."""
    done = aws(env, *args)
    assert done.returncode == 0, f"aws {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_s3_cp_sync_and_rm(server: Any, unique: str, tmp_path: Path) -> None:
    env = user_shell(server.url, tmp_path)
    ok(env, "s3", "mb", f"s3://{unique}")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("1,2\n")
    (folder / "sub" / "b.csv").write_text("3,4\n")
    synced = ok(env, "s3", "sync", str(folder), f"s3://{unique}/data")
    assert synced.count("upload:") == 2
    assert ok(env, "s3", "sync", str(folder), f"s3://{unique}/data") == ""  # nothing changed, nothing sent
    (folder / "a.csv").write_text("1,2,changed\n")
    (folder / "sub" / "b.csv").unlink()
    resynced = ok(env, "s3", "sync", str(folder), f"s3://{unique}/data", "--delete")
    assert "upload:" in resynced and f"delete: s3://{unique}/data/sub/b.csv" in resynced
    listing = ok(env, "s3", "ls", f"s3://{unique}/data/", "--recursive")
    assert [line.split()[-1] for line in listing.splitlines()] == ["data/a.csv"]
    ok(env, "s3", "cp", f"s3://{unique}/data/a.csv", str(tmp_path / "back.csv"))
    assert (tmp_path / "back.csv").read_text() == "1,2,changed\n"
    ok(env, "s3", "rm", f"s3://{unique}/data/", "--recursive")
    assert ok(env, "s3", "ls", f"s3://{unique}/", "--recursive") == ""


def test_a_training_job_from_cli_input_json_then_an_endpoint(server: Any, sagemaker: Any, unique: str,
                                                              tmp_path: Path) -> None:
    env = user_shell(server.url, tmp_path)
    ok(env, "s3", "mb", f"s3://{unique}")
    (tmp_path / "rows.csv").write_text(CLASSIFIER_ROWS)
    (tmp_path / "sourcedir.tar.gz").write_bytes(tar_gz("train.py", CLASSIFIER + b'print("trained")\n'))
    ok(env, "s3", "cp", str(tmp_path / "rows.csv"), f"s3://{unique}/train/rows.csv")
    ok(env, "s3", "cp", str(tmp_path / "sourcedir.tar.gz"), f"s3://{unique}/code/sourcedir.tar.gz")
    (tmp_path / "job.json").write_text(json.dumps({
        "TrainingJobName": unique, "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": SKLEARN, "TrainingInputMode": "File"},
        "HyperParameters": {"sagemaker_program": '"train.py"',
                            "sagemaker_submit_directory": f'"s3://{unique}/code/sourcedir.tar.gz"'},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{unique}/train/"}}}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{unique}/model"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600}}))
    created = json.loads(ok(env, "sagemaker", "create-training-job", "--cli-input-json", f"file://{tmp_path}/job.json"))
    assert created["TrainingJobArn"] == f"arn:aws:sagemaker:us-east-1:000000000000:training-job/{unique}"
    # The CLI's waiter sleeps 120 s between polls; boto3's, polled each second, waits for the end first.
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=unique, WaiterConfig=TRAINED)
    ok(env, "sagemaker", "wait", "training-job-completed-or-stopped", "--training-job-name", unique)
    job = json.loads(ok(env, "sagemaker", "describe-training-job", "--training-job-name", unique))
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    listed = json.loads(ok(env, "sagemaker", "list-training-jobs", "--name-contains", unique))
    assert [summary["TrainingJobName"] for summary in listed["TrainingJobSummaries"]] == [unique]
    stream = ok(env, "logs", "describe-log-streams", "--log-group-name", GROUP, "--log-stream-name-prefix", unique,
                "--query", "logStreams[0].logStreamName", "--output", "text").strip()
    assert stream.startswith(f"{unique}/algo-1-")
    events = json.loads(ok(env, "logs", "get-log-events", "--log-group-name", GROUP, "--log-stream-name", stream,
                           "--start-from-head"))
    filtered = json.loads(ok(env, "logs", "filter-log-events", "--log-group-name", GROUP,
                             "--log-stream-name-prefix", unique))
    assert [event["message"] for event in filtered["events"]] == [event["message"] for event in events["events"]]
    assert "trained" in [event["message"] for event in events["events"]]

    create_model(sagemaker, unique, job["ModelArtifacts"]["S3ModelArtifacts"])
    sagemaker.create_endpoint_config(EndpointConfigName=unique, ProductionVariants=[{
        "VariantName": "only", "ModelName": unique, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sagemaker.create_endpoint(EndpointName=unique, EndpointConfigName=unique)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=unique, WaiterConfig=TRAINED)
    described = json.loads(ok(env, "sagemaker", "describe-endpoint", "--endpoint-name", unique))
    assert described["EndpointStatus"] == "InService"
    assert described["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    (tmp_path / "ask.csv").write_text("9,1\n1,9\n")
    answer = tmp_path / "answer.csv"
    invoked = json.loads(ok(env, "sagemaker-runtime", "invoke-endpoint", "--endpoint-name", unique,
                            "--content-type", "text/csv", "--accept", "text/csv",
                            "--body", f"fileb://{tmp_path}/ask.csv", str(answer)))
    assert invoked["InvokedProductionVariant"] == "only" and invoked["ContentType"].startswith("text/csv")
    assert answer.read_text().split() == ["1", "0"]
    ok(env, "sagemaker", "delete-endpoint", "--endpoint-name", unique)


def test_aws_cli_v2_logs_tail_and_follow(server: Any, sagemaker: Any, s3: Any, unique: str, tmp_path: Path) -> None:
    assert AWS_V2.exists(), "AWS CLI v2 is not unpacked: run `make test` (or `make .cache/awscli-v2/.installed`)"
    env = user_shell(server.url, tmp_path)
    tail = [str(AWS_V2), "--endpoint-url", server.url, "logs", "tail", GROUP, "--log-stream-name-prefix", unique]
    trained_artifact(sagemaker, s3, f"{unique}-a", b'print("first job says hello")\n', image="modelbay/python")
    earlier = subprocess.run([*tail, "--since", "1h"], capture_output=True, text=True, env=env, timeout=60)
    assert earlier.returncode == 0, earlier.stderr
    assert f"{unique}-a/algo-1-" in earlier.stdout and "first job says hello" in earlier.stdout
    with subprocess.Popen([*tail, "--follow", "--format", "short"], stdout=subprocess.PIPE, text=True,
                          env=env) as follow:
        lines: list[str] = []  # appended to line by line as the command prints
        output = follow.stdout
        assert output is not None
        threading.Thread(target=lambda: lines.extend(iter(output.readline, "")), daemon=True).start()
        try:
            trained_artifact(sagemaker, s3, f"{unique}-b", b'print("second job says hello")\n',
                             image="modelbay/python")
            wait_until(lambda: any(line.rstrip().endswith("second job says hello") for line in lines), 60,
                       "aws logs tail --follow to print the second job's line")
        finally:
            follow.terminate()
