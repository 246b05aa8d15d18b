"""`modelbay images build`: a Dockerfile FROM a Docker Hub image built on a machine that cannot reach Docker Hub
(its base image built from Debian's packages and served by the server's registry through a mirror), pushed to
the server's ECR, and pulled back by digest."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay.podman_engine import PodmanError, podman, podman_available
from tests.conftest import client
from tests.helpers import ServerProcess

pytestmark = pytest.mark.skipif(not podman_available(), reason="podman (with runc) is not installed: images "
                                                               "cannot be built here")

TRAIN = """#!/bin/sh
python -c 'import six; print("six", six.__version__)'
jq --version
"""


def modelbay_images(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "modelbay", "images", *args], capture_output=True, text=True,
                          timeout=900)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return tmp_path / "podman"


@pytest.fixture
def context(tmp_path: Path) -> Path:
    directory = tmp_path / "context"
    directory.mkdir()
    (directory / "train").write_text(TRAIN)
    (directory / "train").chmod(0o755)
    return directory


@pytest.fixture
def images_to_remove(config_dir: Path) -> Iterator[list[str]]:
    """Images a test made in podman's store, removed after it (never the shared base images)."""
    made: list[str] = []
    yield made
    for image in made:
        with contextlib.suppress(PodmanError):  # not made: the test failed before
            podman(["rmi", "--force", image], config_dir)


def test_build_pushes_to_ecr_and_pulls_back_by_digest(server: ServerProcess, context: Path, unique: str,
                                                      tmp_path: Path, config_dir: Path,
                                                      images_to_remove: list[str]) -> None:
    (context / "Dockerfile").write_text(
        "FROM python:3.11-slim\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends jq && rm -rf /var/lib/apt/lists/*\n"
        "RUN pip install --no-cache-dir six==1.17.0\n"
        "COPY train /opt/program/train\n"
        "ENV PATH=/opt/program:$PATH\n")
    ecr = client(server.url, "ecr")
    registry = ecr.get_authorization_token()["authorizationData"][0]["proxyEndpoint"].split("//")[-1]
    images_to_remove.append(f"{registry}/team/{unique}:v1")

    done = modelbay_images("build", "--url", server.url, "--no-cache", "-t", f"team/{unique}:v1", str(context))

    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == f"{registry}/team/{unique}:v1"  # the ECR URI, tagged in podman's store too
    assert "STEP 2/5: RUN apt-get update" in done.stderr  # podman's progress, shown as it came
    [detail] = ecr.describe_images(repositoryName=f"team/{unique}")["imageDetails"]
    assert detail["imageTags"] == ["v1"]
    host = server.url.removeprefix("http://")
    pulled = f"{host}/team/{unique}@{detail['imageDigest']}"
    images_to_remove.append(pulled)
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    (tmp_path / "auth.json").write_text(json.dumps({"auths": {host: {"auth": token}}}))
    podman(["pull", "--tls-verify=false", "--authfile", str(tmp_path / "auth.json"), pulled], config_dir)
    ran = podman(["run", "--rm", "--network", "none", pulled, "train"], config_dir)
    assert ran.splitlines()[0] == "six 1.17.0"
    assert ran.splitlines()[1].startswith("jq-")


def test_a_failed_step_is_one_line_with_podmans_last_words(server: ServerProcess, context: Path,
                                                           unique: str) -> None:
    (context / "Dockerfile").write_text("FROM debian:12\nRUN echo the step said this && false\n")

    done = modelbay_images("build", "--url", server.url, "-t", f"team/{unique}:v1", str(context))

    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: podman build failed (exit code 1): ") and "exit status 1" in last, last
