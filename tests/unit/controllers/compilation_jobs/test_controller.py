"""The compilation controller with the real ProcessRuntime (without namespaces: programs use paths relative to their
working directory, the instance's /opt/ml). The compiler is a stand-in, a `python3 -c` script on the python image
that does what the compiler program's contract says (container/neo): read compilation.json and the model archive,
write the model with its neo-manifest.json, or the reason to output/failure. The real compiler runs in
tests/integration/test_compilation_jobs.py."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from modelbay.config import Settings
from modelbay.controllers.compilation_jobs import controller as controller_module
from modelbay.controllers.compilation_jobs.controller import LOG_GROUP, VERIFICATION_TAG, CompilationController
from modelbay.controllers.images import EntrypointCommand, ImageProgram, Images
from modelbay.platform import Platform, open_platform
from modelbay.runtime.environments import FrameworkEnvironments
from modelbay.runtime.frameworks import RECIPES, Resolution
from modelbay.runtime.process import ProcessRuntime
from modelbay.store.metadata.compilation_jobs import CompilationJob
from modelbay.store.objects.base import ObjectMeta
from tests.helpers import SHARED_ENVIRONMENTS, wait_until
from tests.unit.controllers.hosting import reconcile_until

ENDED = ("COMPLETED", "FAILED", "STOPPED")
ARTIFACT_KEY = "compiled/model-ml_c5.tar.gz"
VERIFIED = {"passed": True, "samples": 64, "max_abs_diff": 0.0, "tolerance": 1e-05, "labels_equal": True,
            "detail": "64 samples: same labels"}
COMPILES = f"""
import json, pathlib
config = json.loads(pathlib.Path('input/config/compilation.json').read_text())
size = len(pathlib.Path('input/data/model/model.tar.gz').read_bytes())
pathlib.Path('model/compiled.bin').write_bytes(b'compiled' * size)
manifest = {{'runtime': 'native', 'input': {{'name': 'input0', 'shape': [None, 4]}}, 'target': config['Target'],
            'config': config, 'verification': {VERIFIED!r}}}
pathlib.Path('model/neo-manifest.json').write_text(json.dumps(manifest))
print('compiled for', config['Target']['Name'])
"""


class StandInCompiler(Images):
    """Images whose programs without an entrypoint of their own run `code` (the compiler's stand-in)."""

    code = COMPILES

    def entrypoint_command(self, program: ImageProgram, layer: Path, entrypoint: tuple[str, ...],
                           arguments: tuple[str, ...] = ()) -> EntrypointCommand:
        return super().entrypoint_command(program, layer, entrypoint or ("python3", "-c", self.code), arguments)


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    platform = open_platform(Settings(data_dir=tmp_path / "data"))
    platform.objects.create_bucket("data", "us-east-1")
    platform.objects.put("data", "models/model.tar.gz", io.BytesIO(b"original"), ObjectMeta())
    return platform


@pytest.fixture
def images(monkeypatch: pytest.MonkeyPatch) -> StandInCompiler:
    """The stand-in runs on the python image, as the compiler recipe's program runs on its own."""
    monkeypatch.setattr(controller_module, "compiler_recipe", lambda framework, version: Resolution(
        RECIPES["python"][0]))
    return StandInCompiler(FrameworkEnvironments(SHARED_ENVIRONMENTS))


@pytest.fixture
def controller(platform: Platform, runtime: ProcessRuntime, images: Images) -> CompilationController:
    return CompilationController(platform, runtime, images, stop_grace_s=1)


def create(platform: Platform, name: str, **request: Any) -> None:
    platform.metadata.compilation_jobs.create(name, f"arn:compilation-job/{name}", {
        "RoleArn": "arn:aws:iam::000000000000:role/r",
        "InputConfig": {"S3Uri": "s3://data/models/model.tar.gz", "Framework": "SKLEARN"},
        "OutputConfig": {"S3OutputLocation": "s3://data/compiled", "TargetDevice": "ml_c5"},
        "StoppingCondition": {}} | request)


def settle(controller: CompilationController, name: str) -> CompilationJob:
    return reconcile_until(controller.reconcile, controller.jobs.get, name, ENDED)


def _artifact(platform: Platform) -> tuple[bytes, dict[str, bytes]]:
    with platform.objects.open("data", ARTIFACT_KEY) as reader:
        stored = reader.read()
    with tarfile.open(fileobj=io.BytesIO(stored)) as archive:
        files = {member.name: archive.extractfile(member).read()  # type: ignore[union-attr]  # files only
                 for member in archive.getmembers() if member.isfile()}
    return stored, files


def test_a_job_compiles_uploads_the_model_and_shows_its_check(platform: Platform,
                                                              controller: CompilationController) -> None:
    create(platform, "j")
    job = settle(controller, "j")
    assert (job.status, job.failure_reason, job.model_artifact) == (
        "COMPLETED", None, f"s3://data/{ARTIFACT_KEY}")
    assert job.compilation_start_time is not None and job.compilation_end_time is not None
    stored, files = _artifact(platform)
    assert job.artifact_digest == hashlib.sha256(stored).hexdigest()
    assert files["compiled.bin"] == b"compiled" * len(b"original")
    config = json.loads(files["neo-manifest.json"])["config"]
    assert (config["Framework"], config["Target"]["Name"], config["Target"]["InstanceFamily"]) == (
        "SKLEARN", "ml_c5", "ml.c5")
    assert "DataInputConfig" not in config
    assert platform.metadata.tags.list(job.arn).items == [
        (VERIFICATION_TAG, '{"passed":true,"samples":64,"max_abs_diff":0.0,"tolerance":1e-05}')]
    assert job.derived_information == {"DerivedDataInputConfig": '{"input0": [null, 4]}'}
    [stream] = platform.logs.streams(LOG_GROUP, prefix="j/algo-1-")
    assert "compiled for ml_c5" in [event.message for event in platform.logs.read(LOG_GROUP, stream.name, None, None)]
    assert controller.runtime.list({"compilation-job": "j"}) == []


def test_a_failing_compiler_fails_the_job_with_its_reason_and_check(platform: Platform, images: StandInCompiler,
                                                                    controller: CompilationController) -> None:
    images.code = ("import json, pathlib; pathlib.Path('model/neo-manifest.json').write_text(json.dumps("
                   "{'verification': {'passed': False, 'samples': 8, 'max_abs_diff': 0.5, 'tolerance': 0.001}})); "
                   "pathlib.Path('output/failure').write_text(\"compiled model's outputs differ\"); "
                   "raise SystemExit(1)")
    create(platform, "j")
    job = settle(controller, "j")
    assert (job.status, job.failure_reason, job.model_artifact) == (
        "FAILED", "ClientError: compiled model's outputs differ", None)
    assert platform.metadata.tags.list(job.arn).items == [
        (VERIFICATION_TAG, '{"passed":false,"samples":8,"max_abs_diff":0.5,"tolerance":0.001}')]


def test_a_model_that_cannot_be_read_fails_the_job_before_it_starts(platform: Platform,
                                                                    controller: CompilationController) -> None:
    create(platform, "j", InputConfig={"S3Uri": "s3://data/models/missing.tar.gz", "Framework": "SKLEARN"})
    job = settle(controller, "j")
    assert job.status == "FAILED" and job.compilation_start_time is None
    assert job.failure_reason is not None and job.failure_reason.startswith(
        "ClientError: Unable to download the model from InputConfig.S3Uri s3://data/models/missing.tar.gz: NoSuchKey")


def test_stop_stops_the_running_compiler(platform: Platform, images: StandInCompiler,
                                         controller: CompilationController) -> None:
    images.code = "import time; print('started', flush=True); time.sleep(600)"
    create(platform, "j")
    wait_until(lambda: controller.reconcile("j") or controller.runtime.list({"compilation-job": "j"}),
               timeout_s=60, what="the compiler to start")
    running = controller.jobs.get("j")
    assert running is not None and running.status == "INPROGRESS"
    platform.metadata.compilation_jobs.request_stop("j")
    job = settle(controller, "j")
    assert (job.status, job.failure_reason) == ("STOPPED", None)
    assert controller.runtime.list({"compilation-job": "j"}) == []


def test_a_job_past_its_max_runtime_fails(platform: Platform, images: StandInCompiler,
                                          controller: CompilationController) -> None:
    images.code = "import time; time.sleep(600)"
    create(platform, "j", StoppingCondition={"MaxRuntimeInSeconds": 1})
    job = settle(controller, "j")
    assert job.status == "FAILED" and job.failure_reason is not None
    assert job.failure_reason.startswith("MaxRuntimeExceeded")
