"""AWS's decision_trees bring-your-own example (scikit_bring_your_own), served unchanged by the process runtime.

tests/integration/decision_trees/ recreates its `train`, `serve`, `predictor.py`, `wsgi.py` and `nginx.conf` from
their published behaviour, with the paths they hard-code: /opt/program (where its Dockerfile copies them, the
working directory and first on PATH), /opt/ml, nginx on port 8080 in front of gunicorn on unix:/tmp/gunicorn.sock,
nginx's logs in /var/log/nginx turned into links to stdout and stderr. As a user of a directory image would, the
image holds a `python` that runs the Python packages its Dockerfile installs (a venv built once per clone), so the
programs' `#!/usr/bin/env python` finds them. Two endpoints of the same image at once must each answer with their
own model (their /tmp/gunicorn.sock and port 8080 are their own), and a killed one heals without leftovers.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.helpers import ROOT_SIGNED, ServerProcess, error_response, wait_until
from tests.integration.models import ROLE

EXAMPLE = Path(__file__).resolve().parent / "decision_trees"
REQUIREMENTS = Path(__file__).resolve().parents[1] / "decision-trees-requirements.txt"
VENV = Path(__file__).resolve().parents[2] / ".cache" / "decision-trees"
# Three species of four measurements (sepal length and width, petal length and width), as in the iris data.
CENTRES = ((5.0, 3.4, 1.5, 0.2), (5.9, 2.8, 4.3, 1.3), (6.6, 3.0, 5.6, 2.0))
QUERY = "".join(",".join(map(str, centre)) + "\n" for centre in CENTRES).encode()
IRIS = ("setosa", "versicolor", "virginica")
SIZES = ("small", "medium", "large")  # the second model's labels for the same measurements
IN_SERVICE = {"Delay": 1, "MaxAttempts": 120}


def image_python() -> Path:
    """The bin directory of a venv holding the example's pinned Python packages, built once per clone (under a lock,
    as test workers may ask at once) and again when the requirements change."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    stamp = VENV / ".installed"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.with_name(VENV.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists() or stamp.read_text() != digest:
            shutil.rmtree(VENV, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
            subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "-r",
                            str(REQUIREMENTS)], check=True)
            stamp.write_text(digest)
    return VENV / "bin"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The example as a directory image, with the `python` its Dockerfile's lines would give it (PYTHONUNBUFFERED
    as its ENV line sets it, the venv's gunicorn on PATH)."""
    if shutil.which("nginx") is None:
        pytest.fail("nginx is missing: apt-get install nginx (the Makefile's system packages include it)")
    directory = tmp_path_factory.mktemp("images") / "decision-trees"
    shutil.copytree(EXAMPLE, directory)
    bin_dir = image_python()
    python = directory / "python"
    python.write_text(f'#!/bin/sh\nexport PYTHONUNBUFFERED=TRUE PATH="{bin_dir}:$PATH"\nexec "{bin_dir}/python" "$@"\n')
    python.chmod(0o755)
    return str(directory)


@pytest.fixture(scope="module")
def runtime(server: ServerProcess) -> Any:
    return client(server.url, "sagemaker-runtime")


def iris_like(labels: Sequence[str], seed: int) -> str:
    """150 rows, 50 around each centre, labelled with `labels` (the label first, no header)."""
    rng = random.Random(seed)
    rows = [",".join([labels[n], *(f"{x + rng.uniform(-0.2, 0.2):.2f}" for x in centre)])
            for n, centre in enumerate(CENTRES) for _ in range(50)]
    return "\n".join(rows) + "\n"


def start_training(sagemaker: Any, s3: Any, name: str, image: str, rows: str) -> None:
    """A training job of the image on `rows` as its `training` channel, in a bucket named as the job."""
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="training/iris.csv", Body=rows.encode())
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn=ROLE, HyperParameters={"max_leaf_nodes": "5"},
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        InputDataConfig=[{"ChannelName": "training", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{name}/training/"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{name}/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 300})


def trained_model(sagemaker: Any, job: str) -> str:
    """The job's model artifact, once it has completed."""
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=job, WaiterConfig={"Delay": 1, "MaxAttempts": 180})
    described = sagemaker.describe_training_job(TrainingJobName=job)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    artifact: str = described["ModelArtifacts"]["S3ModelArtifacts"]
    return artifact


def start_endpoint(sagemaker: Any, name: str, image: str, artifact: str) -> None:
    """An endpoint of one ml.m5.large instance serving the image with `artifact`; TEST_TAG=<name> marks its
    processes."""
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": image, "ModelDataUrl": artifact, "Environment": {"TEST_TAG": name}})
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)


def predictions(runtime: Any, endpoint: str) -> list[str]:
    answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=QUERY)
    assert answer["ContentType"].startswith("text/csv")
    return list(answer["Body"].read().decode().splitlines())


def model_server(tag: str) -> int | None:
    """The pid of the example's `serve` (not nginx, gunicorn or its workers) whose environment holds TEST_TAG=<tag>."""
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if (proc.name.isdigit() and b"/opt/program/serve" in (proc / "cmdline").read_bytes().split(b"\0")
                    and f"TEST_TAG={tag}".encode() in (proc / "environ").read_bytes().split(b"\0")):
                return int(proc.name)
    return None


def instance_cgroups(pid: int) -> list[Path]:
    """The cgroups modelbay made for the instance `pid` runs in (.../modelbay/rt-<key>/<instance id>)."""
    groups = []
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "/modelbay/rt-" in path:
            groups.append(Path("/sys/fs/cgroup", controllers.removeprefix("name="), path.lstrip("/")))
    return groups


def nginx_logs() -> dict[str, tuple[bool, int]]:
    """The host's nginx log files: whether each is a link, and its inode."""
    logs = Path("/var/log/nginx")
    return {path.name: (path.is_symlink(), path.lstat().st_ino) for path in sorted(logs.iterdir())}


def test_two_endpoints_of_the_decision_trees_example_each_answer_with_their_own_model_and_heal(
        server: ServerProcess, sagemaker: Any, s3: Any, runtime: Any, image: str, unique: str) -> None:
    host_logs = nginx_logs()
    iris, sizes = f"{unique}-iris", f"{unique}-sizes"
    start_training(sagemaker, s3, iris, image, iris_like(IRIS, seed=1))
    start_training(sagemaker, s3, sizes, image, iris_like(SIZES, seed=2))
    for name in (iris, sizes):
        start_endpoint(sagemaker, name, image, trained_model(sagemaker, name))
    try:
        for name in (iris, sizes):
            sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=IN_SERVICE)
        assert predictions(runtime, iris) == list(IRIS)
        assert predictions(runtime, sizes) == list(SIZES)
        instances = httpx.get(f"{server.url}/_modelbay/v1/endpoints/{iris}/instances", timeout=10,
                              auth=ROOT_SIGNED).json()
        model_url, = instances["Instances"][0]["urls"]
        assert model_url.endswith(":8080")  # nginx listens where the example's nginx.conf says, in its own network
        assert httpx.get(f"{model_url}/ping", timeout=10).status_code == 200
        refused = error_response(runtime.invoke_endpoint, EndpointName=sizes, ContentType="application/json",
                                 Body=b'{"rows": [[5.0, 3.4, 1.5, 0.2]]}')
        assert refused["Error"]["Code"] == "ModelError"
        assert (refused["OriginalStatusCode"], refused["OriginalMessage"]) == (415, "This predictor only supports "
                                                                                    "CSV data")

        killed = model_server(iris)
        assert killed is not None
        groups = instance_cgroups(killed)
        assert groups and all(group.is_dir() for group in groups)
        os.killpg(os.getpgid(killed), signal.SIGKILL)  # the instance's whole process group: serve, nginx, gunicorn
        wait_until(lambda: model_server(iris) not in (None, killed), 60, "a new instance of the killed endpoint")
        wait_until(lambda: not any(group.exists() for group in groups), 30, "the killed instance's cgroups to go")
        wait_until(lambda: _answers(runtime, iris) == list(IRIS), 60, "the healed endpoint to answer")
        assert predictions(runtime, sizes) == list(SIZES)
        assert nginx_logs() == host_logs  # each instance's serve linked the logs of its own /var/log
        assert sorted(path.name for path in Path(image).iterdir()) == [
            "nginx.conf", "predictor.py", "python", "serve", "train", "wsgi.py"]  # no __pycache__: writes are theirs
    finally:
        for name in (iris, sizes):
            sagemaker.delete_endpoint(EndpointName=name)


def _answers(runtime: Any, endpoint: str) -> list[str] | None:
    """The endpoint's predictions, or None while it cannot answer."""
    try:
        return predictions(runtime, endpoint)
    except ClientError:  # while no instance serves it
        return None
