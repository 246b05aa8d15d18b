"""The podman runtime as a SageMaker user meets it: a server with MODELBAY_RUNTIME=podman and the SageMaker Python
SDK unchanged. A bring-your-own image built from a Dockerfile (apt and pip lines, `train` and `serve` on PATH) and
pushed to the server's ECR is trained, deployed, invoked and batch-transformed; EnableNetworkIsolation leaves a job
no way out; a restarted server adopts the containers that serve; a scikit-learn script-mode job runs in the
framework image built from Debian.

Every container and network the server made is removed when the module ends (also after a failure), and so are
the images the module built or the server loaded; the shared base and framework images stay.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
import subprocess
import sys
import tarfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelbay.config import Settings
from modelbay.podman_engine import PodmanError, podman, podman_available
from modelbay.runtime.backends import open_runtime
from modelbay.runtime.cgroups import runtime_key
from modelbay.runtime.podman import OWNER
from tests.conftest import client
from tests.helpers import ServerProcess, user_shell, wait_until
from tests.integration.models import ROLE

pytestmark = pytest.mark.skipif(not podman_available(), reason="podman (with runc) is not installed: containers "
                                                               "cannot run here")

IMAGE_FILES = Path(__file__).resolve().parent / "podman_byo"
TYPE = "ml.m5.large"

# What every user program starts with: the SDK, a session on the server `modelbay env` points at, the role.
PREAMBLE = f"""
    import json, sys
    import sagemaker
    from sagemaker.estimator import Estimator

    session = sagemaker.Session()
    ROLE = {ROLE!r}
"""

# fit on an uploaded channel, deploy, predict, batch transform; cleaned up with the SDK's own calls.
BYO_CODE = PREAMBLE + f"""
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.s3 import S3Downloader
    from sagemaker.serializers import CSVSerializer

    estimator = Estimator(image_uri=sys.argv[1], role=ROLE, instance_count=1, instance_type={TYPE!r},
                          sagemaker_session=session)
    estimator.fit({{"train": session.upload_data("train.csv", key_prefix="podman-byo/train")}})
    predictor = estimator.deploy(1, {TYPE!r}, serializer=CSVSerializer(), deserializer=CSVDeserializer())
    try:
        predicted = predictor.predict([[1, 2], [3, 4]])
    finally:
        predictor.delete_model()
        predictor.delete_endpoint()
    transformer = estimator.transformer(1, {TYPE!r}, accept="text/csv", assemble_with="Line")
    try:
        transformer.transform(session.upload_data("batch.csv", key_prefix="podman-byo/batch"), content_type="text/csv",
                              split_type="Line")
        transformer.wait()
    finally:
        transformer.delete_model()
    output = S3Downloader.read_file(f"{{transformer.output_path}}/batch.csv.out", sagemaker_session=session)
    result = {{"job": estimator.latest_training_job.name, "model_data": estimator.model_data,
              "endpoint": predictor.endpoint_name, "predicted": predicted, "transformed": output}}
    json.dump(result, open("result.json", "w"))
"""

# Two jobs of the same image at once, one isolated, each probing sys.argv[2] (host:port).
PROBE_CODE = PREAMBLE + f"""
    jobs = {{}}
    for isolated in (True, False):
        estimator = Estimator(image_uri=sys.argv[1], role=ROLE, instance_count=1, instance_type={TYPE!r},
                              enable_network_isolation=isolated, hyperparameters={{"probe": sys.argv[2]}},
                              sagemaker_session=session)
        estimator.fit(wait=False)
        jobs["isolated" if isolated else "open"] = estimator
    for estimator in jobs.values():
        estimator.latest_training_job.wait(logs="None")
    json.dump({{kind: estimator.model_data for kind, estimator in jobs.items()}}, open("result.json", "w"))
"""

DEPLOY_CODE = PREAMBLE + f"""
    estimator = Estimator(image_uri=sys.argv[1], role=ROLE, instance_count=1, instance_type={TYPE!r},
                          sagemaker_session=session)
    estimator.fit()
    predictor = estimator.deploy(1, {TYPE!r}, wait=False)
    session.wait_for_endpoint(predictor.endpoint_name, poll=1)  # deploy() polls every 30 s
    json.dump({{"endpoint": predictor.endpoint_name}}, open("result.json", "w"))
"""

SKLEARN_SCRIPT = """
    import argparse, os
    import joblib
    import numpy as np
    from sklearn.linear_model import LinearRegression

    def model_fn(model_dir):
        return joblib.load(os.path.join(model_dir, "model.joblib"))

    if __name__ == "__main__":  # y = 2x + 1
        parser = argparse.ArgumentParser()
        parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
        x = np.arange(10.0).reshape(-1, 1)
        joblib.dump(LinearRegression().fit(x, 2 * x.ravel() + 1),
                    os.path.join(parser.parse_known_args()[0].model_dir, "model.joblib"))
"""

SKLEARN_CODE = PREAMBLE + f"""
    from sagemaker.sklearn import SKLearn

    estimator = SKLearn(entry_point="fit.py", framework_version="1.2-1", role=ROLE, instance_count=1,
                        instance_type={TYPE!r}, sagemaker_session=session)
    estimator.fit()
    predictor = estimator.deploy(1, {TYPE!r}, wait=False)
    try:
        session.wait_for_endpoint(predictor.endpoint_name, poll=1)  # deploy() polls every 30 s
        predicted = predictor.predict([[3.0], [4.0]]).tolist()
    finally:
        predictor.delete_model()
        predictor.delete_endpoint()
    json.dump({{"job": estimator.latest_training_job.name, "predicted": predicted}}, open("result.json", "w"))
"""


@pytest.fixture(scope="module")
def podman_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server running its instances as podman containers; what it leaves in podman is removed after it."""
    server = ServerProcess(tmp_path_factory.mktemp("podman-server"), {"MODELBAY_RUNTIME": "podman"})
    server.start()
    try:
        yield server
    finally:
        server.stop()  # first: a stopped server starts nothing more
        remove_instances(server)


def remove_instances(server: ServerProcess) -> None:
    """Remove the (stopped) containers of the server's runtime, and so their networks, as the server would."""
    runtime = open_runtime(Settings.from_env(server.env), server.data_dir / "runtime")
    try:
        for instance in runtime.list({}):
            runtime.remove(instance.id)
    finally:
        runtime.close()


def owner_label(server: ServerProcess) -> str:
    return f"label={OWNER}={runtime_key(server.data_dir / 'runtime')}"


def containers(server: ServerProcess) -> dict[str, str]:
    """The server's containers in podman: id → state (running, exited, ...)."""
    listed = json.loads(podman(["ps", "--all", "--filter", owner_label(server), "--format", "json"], podman_dir()))
    return {c["Id"]: c["State"] for c in listed}


def networks(server: ServerProcess) -> list[str]:
    return podman(["network", "ls", "--quiet", "--filter", owner_label(server)], podman_dir()).split()


def podman_dir() -> Path:
    return Settings.from_env().podman_dir  # the servers' (they inherit this environment)


@pytest.fixture(scope="module")
def byo_image(podman_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The image of podman_byo/ built from its Dockerfile and pushed with `modelbay images build`; its URI. The
    built image, and the copies the server loaded to run it, are removed from podman's store after the module."""
    context = tmp_path_factory.mktemp("byo-context")
    shutil.copytree(IMAGE_FILES, context, dirs_exist_ok=True)
    repository = f"byo/t{uuid.uuid4().hex[:12]}"
    try:
        done = subprocess.run([sys.executable, "-m", "modelbay", "images", "build", "--url", podman_server.url,
                               "--no-cache", "-t", f"{repository}:v1", str(context)],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        yield done.stdout.strip()
    finally:
        listed = podman(["images", "--format", "{{.Repository}}:{{.Tag}}"], podman_dir()).split()
        for image in (name for name in listed if f"/{repository}:" in name):
            with contextlib.suppress(PodmanError):  # removed meanwhile
                podman(["rmi", "--force", image], podman_dir())


def run_user_code(server: ServerProcess, folder: Path, code: str, *args: str) -> dict[str, Any]:
    """Run `code` as a user would, with `args`, in `folder`; answer what it wrote to result.json."""
    (folder / "user.py").write_text(textwrap.dedent(code))
    done = subprocess.run([sys.executable, "user.py", *args], cwd=folder, capture_output=True, text=True, timeout=600,
                          env=user_shell(server.url, folder) | {"SAGEMAKER_SUPPRESS_V2_WARNING": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    result: dict[str, Any] = json.loads((folder / "result.json").read_text())
    return result


def model_files(server: ServerProcess, model_data: str) -> dict[str, str]:
    """The files of a model artifact (s3://bucket/key of a model.tar.gz): name → text."""
    bucket, key = model_data.removeprefix("s3://").split("/", 1)
    body = client(server.url, "s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        return {member.name: file.read().decode() for member in archive.getmembers()
                if (file := archive.extractfile(member)) is not None}


def log_lines(server: ServerProcess, group: str, **stream_prefix: str) -> list[str]:
    """The messages of a log group's streams (those of logStreamNamePrefix, if given), each stream from its head."""
    logs = client(server.url, "logs")
    streams = logs.describe_log_streams(logGroupName=group, **stream_prefix)["logStreams"]
    return [event["message"] for stream in streams for event in logs.get_log_events(
        logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True)["events"]]


def nothing_left(server: ServerProcess) -> bool:
    """Whether the server's runtime holds no container and no network: what ended was removed."""
    return not containers(server) and not networks(server)


def test_a_dockerfile_image_is_trained_deployed_invoked_and_batch_transformed(
        podman_server: ServerProcess, byo_image: str, tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("1 2\n3 4\n")  # the factor: 10
    (tmp_path / "batch.csv").write_text("1,1\n2,3\n")

    result = run_user_code(podman_server, tmp_path, BYO_CODE, byo_image)

    assert json.loads(model_files(podman_server, result["model_data"])["model.json"]) == {"factor": 10.0}
    trained = log_lines(podman_server, "/aws/sagemaker/TrainingJobs", logStreamNamePrefix=result["job"])
    assert "training with six 1.17.0 and jq-1.6: factor 10.0" in trained, trained
    assert result["predicted"] == [["30.0"], ["70.0"]]
    assert result["transformed"] == "20.0\n50.0\n"
    served = log_lines(podman_server, f"/aws/sagemaker/Endpoints/{result['endpoint']}")
    assert "serving factor 10.0 on port 8080" in served, served
    wait_until(lambda: nothing_left(podman_server), 30, "the endpoint's container and network to go")


@pytest.fixture
def listener() -> Iterator[str]:
    """A TCP port open on the host's own address (not loopback), as `address:port`: somewhere outside a container."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as route:
        route.connect(("198.51.100.1", 9))  # no packet is sent: this only picks the interface of the default route
        address = route.getsockname()[0]
    with socket.create_server((address, 0), backlog=16) as server:
        yield f"{address}:{server.getsockname()[1]}"


def test_an_isolated_job_cannot_reach_the_host_that_an_open_job_reaches(
        podman_server: ServerProcess, byo_image: str, listener: str, tmp_path: Path) -> None:
    result = run_user_code(podman_server, tmp_path, PROBE_CODE, byo_image, listener)

    isolated = model_files(podman_server, result["isolated"])["probe.txt"]
    assert isolated.startswith("unreachable: "), isolated
    assert model_files(podman_server, result["open"])["probe.txt"] == "reached"


def test_a_restarted_server_adopts_the_container_that_serves(
        podman_server: ServerProcess, byo_image: str, tmp_path: Path) -> None:
    endpoint = run_user_code(podman_server, tmp_path, DEPLOY_CODE, byo_image)["endpoint"]
    sagemaker = client(podman_server.url, "sagemaker")
    try:
        before = invoke(podman_server, endpoint)
        serving = containers(podman_server)

        podman_server.kill()
        podman_server.start()

        assert client(podman_server.url, "sagemaker").describe_endpoint(
            EndpointName=endpoint)["EndpointStatus"] == "InService"
        assert invoke(podman_server, endpoint) == before  # the same server process, so the same container
        assert containers(podman_server) == serving  # none started anew, none gone
    finally:
        sagemaker = client(podman_server.url, "sagemaker")
        sagemaker.delete_endpoint(EndpointName=endpoint)
        sagemaker.delete_endpoint_config(EndpointConfigName=endpoint)
        sagemaker.delete_model(ModelName=endpoint)
    wait_until(lambda: nothing_left(podman_server), 30, "the endpoint's container and network to go")


def invoke(server: ServerProcess, endpoint: str) -> tuple[str, str]:
    """The endpoint's answer to one row and the boot id of the program that gave it."""
    answer = client(server.url, "sagemaker-runtime").invoke_endpoint(EndpointName=endpoint, Body=b"1,2\n",
                                                                     ContentType="text/csv")
    return answer["Body"].read().decode(), answer["CustomAttributes"]


def test_a_sklearn_script_mode_job_trains_and_serves_in_the_framework_image(
        podman_server: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "fit.py").write_text(textwrap.dedent(SKLEARN_SCRIPT))

    result = run_user_code(podman_server, tmp_path, SKLEARN_CODE)

    assert result["predicted"] == pytest.approx([7.0, 9.0])
    wait_until(lambda: nothing_left(podman_server), 30, "the endpoint's container and network to go")
