"""Framework environments are the user's, not a data directory's: two servers build one once between them, and
`modelbay images environments` / `modelbay images prune` show what the cache takes and free it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from modelbay.environment_cache import BUILT_MARKER
from modelbay.runtime.environments import FrameworkEnvironments
from modelbay.runtime.frameworks import choose
from tests.conftest import client
from tests.helpers import ServerProcess, modelbay_server
from tests.integration.models import ROLE, TRAINED, tar_gz
from tests.integration.test_cli import modelbay

BARE = choose("python", None).recipe  # the plain-Python image: the quickest environment to build
BUILDING = "Building the python framework environment (first use; cached afterwards)"


def start_training(server: ServerProcess, name: str) -> Any:
    """Start a script-mode job on the plain-Python image; return the server's SageMaker client."""
    s3, sagemaker = client(server.url, "s3"), client(server.url, "sagemaker")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="code/sourcedir.tar.gz", Body=tar_gz("train.py", b'print("trained")\n'))
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn=ROLE, AlgorithmSpecification={"TrainingImage": "modelbay/python",
                                                                    "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": '"train.py"',
                         "sagemaker_submit_directory": f'"s3://{name}/code/sourcedir.tar.gz"'},
        OutputDataConfig={"S3OutputPath": f"s3://{name}/model"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    return sagemaker


def status_messages(sagemaker: Any, name: str) -> list[str]:
    """The job's SecondaryStatusTransitions' messages, once it has ended."""
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=name, WaiterConfig=TRAINED)
    job = sagemaker.describe_training_job(TrainingJobName=name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return [transition["StatusMessage"] for transition in job["SecondaryStatusTransitions"]]


def du(path: Path) -> int:
    return int(subprocess.run(["du", "-s", "-B1", str(path)], capture_output=True, text=True, check=True)
               .stdout.split()[0])


def test_two_data_directories_share_one_environment_built_once(tmp_path: Path, unique: str) -> None:
    cache_home = tmp_path / "cache"
    user = {"XDG_CACHE_HOME": str(cache_home), "MODELBAY_ENVIRONMENTS_DIR": ""}  # the default: the user's cache
    for data in ("a", "b"):
        (tmp_path / data).mkdir()
    with modelbay_server(tmp_path / "a", user) as first, modelbay_server(tmp_path / "b", user) as second:
        both = [start_training(server, unique) for server in (first, second)]  # both need it at once
        messages = [message for sagemaker in both for message in status_messages(sagemaker, unique)]
        environment = FrameworkEnvironments(cache_home / "modelbay" / "environments").path(BARE)
        built = (environment / BUILT_MARKER).stat()
        again = start_training(first, f"{unique}-again")
        assert BUILDING not in status_messages(again, f"{unique}-again")
    assert messages.count(BUILDING) == 1  # one server built it; the other waited for it and found it built
    assert (environment / BUILT_MARKER).stat().st_ino == built.st_ino
    assert not (tmp_path / "a" / "environments").exists() and not (tmp_path / "b" / "environments").exists()


def test_images_environments_lists_each_environment_with_its_size(server: ServerProcess, tmp_path: Path) -> None:
    environment = FrameworkEnvironments(tmp_path / "cache").ensure(BARE)
    cache = {"MODELBAY_ENVIRONMENTS_DIR": str(tmp_path / "cache")}
    listed = modelbay("images", "environments", "--json", env=cache)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows[environment.name] | {"modifiedAt": None} == {
        "name": environment.name, "image": "modelbay/python", "path": str(environment), "state": "Built",
        "sizeBytes": du(environment), "modifiedAt": None, "inUse": False}
    size = f"{du(environment) / 1e6:.1f} MB"
    table = modelbay("images", "environments", env={**cache, "COLUMNS": "80"})
    assert f"{environment.name}  {size}" in table.stdout, table.stdout
    images = modelbay("images", "list", url=server.url, env={**cache, "COLUMNS": "200"})  # with the registry's
    assert f"Framework environments built on this machine: 1, {size} in {tmp_path / 'cache'}" in images.stdout


def test_images_prune_frees_what_it_says(tmp_path: Path) -> None:
    environment = FrameworkEnvironments(tmp_path / "cache").ensure(BARE)
    cache, size = {"MODELBAY_ENVIRONMENTS_DIR": str(tmp_path / "cache")}, du(environment)
    declined = modelbay("images", "prune", env=cache)  # no answer to "Remove ...?": nothing removed
    assert declined.returncode == 1 and "Remove " in declined.stderr and environment.is_dir()
    dry = modelbay("images", "prune", "--dry-run", env=cache)
    assert f"Would free {size / 1e6:.1f} MB" in " ".join(dry.stdout.split()) and environment.is_dir(), dry.stdout
    done = modelbay("images", "prune", "--yes", "--json", env=cache)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["freedBytes"], result["dryRun"]) == (size, False)
    assert [row["name"] for row in result["removed"]] == [environment.name] and not environment.exists()
    assert json.loads(modelbay("images", "environments", "--json", env=cache).stdout) == []
