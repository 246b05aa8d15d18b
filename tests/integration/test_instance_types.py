"""Instance types as existing SageMaker code names them, through the SDK, boto3 and the CLI against a real server."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from modelbay.runtime.machine import machine_gpus
from tests.conftest import client
from tests.helpers import ServerProcess, bad_request, user_shell
from tests.integration.test_hosting_records import create_model, variant
from tests.integration.test_training_jobs import program

# The SDK's default CPU type in us-east-1, the published examples' favourite, and a GPU type.
TYPES = ("ml.m4.xlarge", "ml.c4.2xlarge", "ml.g5.xlarge")

# What a user runs: the SDK's generic Estimator, unchanged, once per type (the program prints what it is given).
FIT = """
    import json, sys
    import sagemaker
    from sagemaker.estimator import Estimator

    jobs = {}
    for instance_type in sys.argv[2:]:
        estimator = Estimator(image_uri=sys.argv[1], role="SageMakerExecutionRole", instance_count=1,
                              instance_type=instance_type, sagemaker_session=sagemaker.Session())
        estimator.fit()
        jobs[instance_type] = estimator.latest_training_job.name
    print(json.dumps(jobs))
"""


@pytest.mark.skipif(machine_gpus() > 0, reason="checks what a machine without GPUs tells a GPU type's program")
def test_fit_runs_on_the_sdks_usual_types_and_a_gpu_type_says_the_machine_has_none(
        server: ServerProcess, sagemaker: Any, tmp_path: Path) -> None:
    image = program(tmp_path / "image", "echo gpus=$MODELBAY_NUM_GPUS cpus=$MODELBAY_NUM_CPUS\n"
                    "echo done > /opt/ml/model/model.txt\n")
    (tmp_path / "fit.py").write_text(textwrap.dedent(FIT))
    done = subprocess.run([sys.executable, "fit.py", image, *TYPES], cwd=tmp_path, capture_output=True, text=True,
                          env=user_shell(server.url, tmp_path) | {"SAGEMAKER_SUPPRESS_V2_WARNING": "1"}, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    jobs = json.loads(done.stdout.splitlines()[-1])
    logs = client(server.url, "logs")
    first_lines = {}
    for instance_type, name in jobs.items():
        job = sagemaker.describe_training_job(TrainingJobName=name)
        assert (job["TrainingJobStatus"], job["ResourceConfig"]["InstanceType"]) == ("Completed", instance_type)
        [stream] = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                             logStreamNamePrefix=name)["logStreams"]
        events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream["logStreamName"],
                                     startFromHead=True)["events"]
        first_lines[instance_type] = [e["message"] for e in events][:2]
    assert first_lines == {
        "ml.m4.xlarge": ["gpus=0 cpus=4"],
        "ml.c4.2xlarge": ["gpus=0 cpus=8"],
        "ml.g5.xlarge": ["modelbay: ml.g5.xlarge has 1 × NVIDIA A10G (24 GiB) but this machine has no GPU; "
                         "the program runs with SM_NUM_GPUS=0", "gpus=0 cpus=4"]}
    assert "this machine has no GPU" in done.stdout  # fit() shows the job's log as it runs


def test_a_type_for_hosting_is_refused_by_training_in_awss_words_and_accepted_by_hosting(
        sagemaker: Any, unique: str) -> None:
    error = bad_request(sagemaker.create_training_job, TrainingJobName=unique,
                        RoleArn="arn:aws:iam::000000000000:role/SageMakerRole",
                        AlgorithmSpecification={"TrainingImage": "img", "TrainingInputMode": "File"},
                        OutputDataConfig={"S3OutputPath": "s3://b/out"},
                        ResourceConfig={"InstanceType": "ml.c5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
                        StoppingCondition={"MaxRuntimeInSeconds": 60})
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith(
        "1 validation error detected: Value 'ml.c5.large' at 'resourceConfig.instanceType' failed to satisfy "
        "constraint: Member must satisfy enum value set: [ml.m4.xlarge, ml.m4.2xlarge, ")
    create_model(sagemaker, unique)
    sagemaker.create_endpoint_config(EndpointConfigName=unique,
                                     ProductionVariants=[variant(unique, InstanceType="ml.c5.large")])
    config = sagemaker.describe_endpoint_config(EndpointConfigName=unique)
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.c5.large"


def test_the_cli_lists_the_catalog_with_filters() -> None:
    def cli(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "modelbay", "instance-types", *args], capture_output=True,
                              text=True, check=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"}).stdout

    rows = json.loads(cli("--json", "--family", "g5"))
    assert [row["InstanceType"] for row in rows][:2] == ["ml.g5.xlarge", "ml.g5.2xlarge"] and len(rows) == 8
    assert rows[0] == {"InstanceType": "ml.g5.xlarge", "VCpus": 4, "MemoryGiB": 16.0, "PricePerHour": 1.408,
                       "Accelerators": {"Kind": "GPU", "Count": 1, "Model": "NVIDIA A10G", "MemoryGiB": 24.0},
                       "AcceptedBy": ["training", "hosting", "transform", "processing", "notebook", "studio"]}
    gpu_for_training = json.loads(cli("--json", "--gpu", "--for", "training"))
    assert gpu_for_training and all(row["Accelerators"]["Kind"] == "GPU" and "training" in row["AcceptedBy"]
                                    for row in gpu_for_training)
    assert "ml.c5.large" not in {row["InstanceType"] for row in json.loads(cli("--json", "--for", "training"))}
    table = cli("--accelerator", "inferentia").splitlines()
    assert table[0].split() == ["Instance", "type", "vCPUs", "Memory", "Accelerators", "USD/hour", "Accepted", "by"]
    assert table[1].split()[:8] == ["ml.inf1.xlarge", "4", "8", "GiB", "1", "×", "AWS", "Inferentia"]
