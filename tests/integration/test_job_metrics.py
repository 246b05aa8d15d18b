"""A training job's metrics as SageMaker publishes them, through boto3 against a real server: its MetricDefinitions'
values while it runs (TrainingJobName), and its host's CPUUtilization from the usage sampler (Host)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from modelbay.controllers.instance_usage import SAMPLE_INTERVAL_S
from tests.conftest import client
from tests.helpers import ServerProcess, wait_until
from tests.integration.test_training_jobs import create, program


def statistic_of(cloudwatch: Any, namespace: str, name: str, dimensions: dict[str, str],
            stat: str = "Maximum") -> float | None:
    """The statistic over the last half hour (one period); None before any point."""
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace=namespace, MetricName=name, Statistics=[stat], Period=3600,
        Dimensions=[{"Name": key, "Value": value} for key, value in dimensions.items()],
        StartTime=now - timedelta(minutes=30), EndTime=now + timedelta(minutes=1))["Datapoints"]
    return float(points[0][stat]) if points else None


def test_a_busy_training_job_publishes_its_loss_and_its_hosts_cpu(sagemaker: Any, server: ServerProcess, bucket: str,
                                                                  unique: str, scratch: Path) -> None:
    busy_s = int(2 * SAMPLE_INTERVAL_S + 2)  # two samples of a busy host: the first only starts the count
    image = program(scratch / "image", f"echo loss=0.75\ntimeout {busy_s} sh -c 'while :; do :; done'\necho loss=0.5\n")
    create(sagemaker, unique, image, bucket)
    cloudwatch = client(server.url, "cloudwatch")
    jobs = "/aws/sagemaker/TrainingJobs"
    wait_until(lambda: statistic_of(cloudwatch, jobs, "loss", {"TrainingJobName": unique}) == 0.75, busy_s,
               "the loss to be published while the job runs")
    assert sagemaker.describe_training_job(TrainingJobName=unique)["TrainingJobStatus"] == "InProgress"
    cpu = wait_until(lambda: statistic_of(cloudwatch, jobs, "CPUUtilization", {"Host": f"{unique}/algo-1"}), 30,
                     "the host's CPUUtilization")
    assert isinstance(cpu, float) and 30 < cpu <= 110  # a shell kept one vCPU busy: near 100 % on SageMaker's scale
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=unique,
                                                                    WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    wait_until(lambda: statistic_of(cloudwatch, jobs, "loss", {"TrainingJobName": unique}, "Minimum") == 0.5, 5,
               "the last loss")
    memory = statistic_of(cloudwatch, jobs, "MemoryUtilization", {"Host": f"{unique}/algo-1"})
    assert memory is not None and 0 < memory < 5
