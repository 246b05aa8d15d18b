"""Script mode on the built-in framework images, through boto3 as the SageMaker Python SDK drives it.

Each job uploads a `sourcedir.tar.gz`, names it in JSON-encoded hyperparameters as the SDK does,
and runs on the framework's environment (built on first use into the shared test cache).
"""

from __future__ import annotations

import contextlib
import io
import json
import tarfile
import textwrap
from typing import Any

import pytest
from botocore.exceptions import WaiterError

from tests.conftest import client
from tests.helpers import ServerProcess

ECR = "683313688378.dkr.ecr.us-east-1.amazonaws.com"
WAITER = {"Delay": 1, "MaxAttempts": 300}  # the first job of a framework builds its environment
GROUP = "/aws/sagemaker/TrainingJobs"

SKLEARN_SCRIPT = """
    import argparse, glob, os
    import joblib, pandas as pd, sklearn
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser()
    parser.add_argument("--max_iter", type=int)  # one-letter names would come as -x, as in SageMaker
    parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
    args = parser.parse_args()
    frame = pd.concat(pd.read_csv(path, header=None) for path in glob.glob(os.path.join(args.train, "*.csv")))
    model = LogisticRegression(max_iter=args.max_iter).fit(frame.iloc[:, 1:], frame[0])
    print("scikit-learn", sklearn.__version__)
    print(f"train_accuracy={model.score(frame.iloc[:, 1:], frame[0]):.4f}")
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
"""

XGBOOST_SCRIPT = """
    import argparse, os
    import numpy as np, xgboost as xgb

    parser = argparse.ArgumentParser()
    parser.add_argument("--num_round", type=int)
    args = parser.parse_args()
    rows = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "rows.csv"), delimiter=",")
    train = xgb.DMatrix(rows[:, 1:], label=rows[:, 0])
    booster = xgb.train({"objective": "reg:squarederror", "max_depth": 6}, train, num_boost_round=args.num_round,
                        evals=[(train, "train")])
    print("xgboost", xgb.__version__)
    booster.save_model(os.path.join(os.environ["SM_MODEL_DIR"], "xgboost-model.json"))
"""

PYTORCH_DDP_SCRIPT = """
    import os, sys
    import torch, torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    if os.environ.get("FAIL_RANK") == os.environ["RANK"]:
        sys.exit(f"rank {os.environ['RANK']} gave up")
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = DistributedDataParallel(torch.nn.Linear(1, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    x = torch.linspace(0, 1, 64).unsqueeze(1)[rank::world]  # each rank trains on its own shard
    for step in range(300):
        optimizer.zero_grad()
        loss = ((model(x) - (3 * x + 1)) ** 2).mean()
        loss.backward()
        optimizer.step()
    weights = model.module.weight.detach().clone()
    gathered = [torch.zeros_like(weights) for _ in range(world)]
    dist.all_gather(gathered, weights)
    print(f"rank={rank} world={world} hosts_agree={all(torch.equal(g, gathered[0]) for g in gathered)}")
    print(f"loss={loss.item():.6f} weight={weights.item():.3f}")
    if rank == 0:
        torch.save(model.module.state_dict(), os.path.join(os.environ["SM_MODEL_DIR"], "model.pth"))
    dist.barrier()  # both ranks leave together: gloo aborts a process whose peer tore down mid-exchange
    dist.destroy_process_group()
    sys.stdout.flush()
    os._exit(0)  # skip interpreter finalization, where gloo's threads may still hold tensors and abort (pytorch#179291)
"""


def upload_source(s3: Any, bucket: str, name: str, script: str) -> str:
    """Pack train.py as the SDK packs a source dir; return its S3 URI."""
    data = textwrap.dedent(script).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("train.py")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    key = f"{name}/source/sourcedir.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    return f"s3://{bucket}/{key}"


def train(sagemaker: Any, s3: Any, bucket: str, name: str, image: str, script: str, hyperparameters: dict[str, Any],
          metric_regex: str, count: int = 1, environment: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one script-mode job to its end; return DescribeTrainingJob."""
    sent = {key: json.dumps(value) for key, value in hyperparameters.items()}  # the SDK JSON-encodes each value
    sent |= {"sagemaker_program": json.dumps("train.py"),
             "sagemaker_submit_directory": json.dumps(upload_source(s3, bucket, name, script)),
             "sagemaker_container_log_level": "20", "sagemaker_region": json.dumps("us-east-1")}
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn="arn:aws:iam::000000000000:role/SageMakerRole", HyperParameters=sent,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File",
                                "MetricDefinitions": [{"Name": "metric", "Regex": metric_regex}]},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": count, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 900}, Environment=environment or {})
    with contextlib.suppress(WaiterError):  # a failed job: the caller looks at its description
        sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=name, WaiterConfig=WAITER)
    job: dict[str, Any] = sagemaker.describe_training_job(TrainingJobName=name)
    return job


def log_lines(server: ServerProcess, name: str, host: str = "algo-1") -> list[str]:
    logs = client(server.url, "logs")
    stream, = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=f"{name}/{host}-")["logStreams"]
    events = logs.get_log_events(logGroupName=GROUP, logStreamName=stream["logStreamName"], startFromHead=True)
    return [event["message"] for event in events["events"]]


def model_files(s3: Any, bucket: str, name: str) -> list[str]:
    body = s3.get_object(Bucket=bucket, Key=f"out/{name}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        return archive.getnames()


def metric(job: dict[str, Any]) -> float:
    value, = [m["Value"] for m in job["FinalMetricDataList"] if m["MetricName"] == "metric"]
    return float(value)


@pytest.fixture
def classes(s3: Any, unique: str) -> str:
    """A bucket whose data/ holds two CSV files of a separable two-class problem (label first)."""
    s3.create_bucket(Bucket=unique)
    for part in range(2):
        rows = [f"{int(x > y)},{x},{y}" for x in range(10) for y in range(part, 10, 2) if x != y]
        s3.put_object(Bucket=unique, Key=f"data/part{part}.csv", Body="\n".join(rows).encode())
    return unique


@pytest.fixture
def line(s3: Any, unique: str) -> str:
    """A bucket whose data/rows.csv holds y = 2x + 1 (label first)."""
    s3.create_bucket(Bucket=unique)
    s3.put_object(Bucket=unique, Key="data/rows.csv", Body="\n".join(f"{2 * x + 1},{x}" for x in range(50)).encode())
    return unique


def test_scikit_learn_by_its_sagemaker_image_uri(sagemaker: Any, s3: Any, server: ServerProcess, classes: str,
                                                 unique: str) -> None:
    job = train(sagemaker, s3, classes, unique, f"{ECR}/sagemaker-scikit-learn:1.2-1-cpu-py3", SKLEARN_SCRIPT,
                {"max_iter": 200}, r"train_accuracy=([0-9.]+)")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert metric(job) >= 0.9
    assert "scikit-learn 1.2.2" in log_lines(server, unique)  # the version the image tag names
    assert model_files(s3, classes, unique) == ["model.joblib"]


def test_a_version_not_offered_runs_the_nearest_newer_with_a_warning(sagemaker: Any, s3: Any, server: ServerProcess,
                                                                     classes: str, unique: str) -> None:
    job = train(sagemaker, s3, classes, unique, "modelbay/sklearn:1.0-1", SKLEARN_SCRIPT, {"max_iter": 100},
                r"train_accuracy=([0-9.]+)")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    lines = log_lines(server, unique)
    assert any("warning: sklearn 1.0-1 is not available" in line and "using 1.2-1" in line for line in lines)
    assert "scikit-learn 1.2.2" in lines


def test_a_failure_on_a_replaced_version_says_so_first_and_ends_with_the_programs_last_error(
        sagemaker: Any, s3: Any, classes: str, unique: str) -> None:
    script = """
        import sys
        for n in range(40):
            print(f"step {n}: a long line of progress that fills the tail of stderr", file=sys.stderr)
        raise ValueError("column 'label' is missing from train.csv")
    """
    job = train(sagemaker, s3, classes, unique, "modelbay/sklearn:1.0-1", script, {}, r"never=([0-9.]+)")
    reason = job["FailureReason"]
    assert job["TrainingJobStatus"] == "Failed"
    assert reason.startswith("sklearn 1.0-1 is not available for this Python (versions here: 1.2-1, 1.4-2); "
                             "using 1.2-1 instead. AlgorithmError: ")
    assert reason.endswith("\nValueError: column 'label' is missing from train.csv")
    assert len(reason) <= 1024


def test_xgboost(sagemaker: Any, s3: Any, server: ServerProcess, line: str, unique: str) -> None:
    job = train(sagemaker, s3, line, unique, f"{ECR}/sagemaker-xgboost:3.0-5", XGBOOST_SCRIPT, {"num_round": 50},
                r"train-rmse:([0-9.]+)")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert metric(job) < 0.5  # the last round's training error: y spans 1..99, so well fitted
    assert "xgboost 3.0.5" in log_lines(server, unique)
    assert model_files(s3, line, unique) == ["xgboost-model.json"]


def algorithm_job(sagemaker: Any, bucket: str, name: str, hyperparameters: dict[str, str]) -> dict[str, Any]:
    """The XGBoost image with no script, as the generic Estimator(image_uri=...) sends it (values str()-ed)."""
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn="arn:aws:iam::000000000000:role/SageMakerRole", HyperParameters=hyperparameters,
        AlgorithmSpecification={"TrainingImage": f"{ECR}/sagemaker-xgboost:3.0-5", "TrainingInputMode": "File",
                                "MetricDefinitions": [{"Name": "metric", "Regex": r"train-rmse:([0-9.]+)"}]},
        InputDataConfig=[{"ChannelName": channel, "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/"}}} for channel in ("train", "validation")],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 900})
    with contextlib.suppress(WaiterError):
        sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=name, WaiterConfig=WAITER)
    job: dict[str, Any] = sagemaker.describe_training_job(TrainingJobName=name)
    return job


def test_the_xgboost_image_without_a_script_is_the_built_in_algorithm(sagemaker: Any, s3: Any, server: ServerProcess,
                                                                        line: str, unique: str) -> None:
    job = algorithm_job(sagemaker, line, unique, {"num_round": "30", "objective": "reg:squarederror",
                                                  "max_depth": "3"})
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert metric(job) < 1.0
    rounds = [entry for entry in log_lines(server, unique) if entry.startswith("[29]#011")]
    assert rounds and "train-rmse:" in rounds[0] and "validation-rmse:" in rounds[0]
    assert model_files(s3, line, unique) == ["xgboost-model"]


def test_the_built_in_algorithm_needs_num_round(sagemaker: Any, line: str, unique: str) -> None:
    job = algorithm_job(sagemaker, line, unique, {"objective": "reg:squarederror"})
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == ("AlgorithmError: Hyperparameter num_round is required by the XGBoost algorithm, "
                                    "exit code: 1")


def test_pytorch_distributed_data_parallel_across_two_instances(sagemaker: Any, s3: Any, server: ServerProcess,
                                                                line: str, unique: str) -> None:
    job = train(sagemaker, s3, line, unique, f"{ECR}/pytorch-training:2.13.0-cpu-py311", PYTORCH_DDP_SCRIPT, {},
                r"loss=([0-9.]+)", count=2)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    for rank, host in enumerate(["algo-1", "algo-2"]):
        assert f"rank={rank} world=2 hosts_agree=True" in log_lines(server, unique, host)
    assert metric(job) < 0.01
    assert model_files(s3, line, unique) == ["model.pth"]


def test_a_distributed_job_fails_as_a_whole_when_one_instance_fails(sagemaker: Any, s3: Any, line: str,
                                                                    unique: str) -> None:
    job = train(sagemaker, s3, line, unique, "modelbay/pytorch:2.13.0", PYTORCH_DDP_SCRIPT, {}, r"loss=([0-9.]+)",
                count=2, environment={"FAIL_RANK": "1"})
    assert job["TrainingJobStatus"] == "Failed"
    assert "rank 1 gave up" in job["FailureReason"]
