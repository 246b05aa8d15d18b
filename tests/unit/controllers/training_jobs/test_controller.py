"""The training controller's state machine, with the real ProcessRuntime running tiny programs."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from modelbay.config import Settings
from modelbay.controllers.images import Images
from modelbay.controllers.instance_logs import LOG_GROUP
from modelbay.controllers.training_jobs.controller import LOST_REASON, TrainingController
from modelbay.platform import Platform, open_platform
from modelbay.runtime import process
from modelbay.runtime.base import Instance
from modelbay.runtime.process import ProcessRuntime
from modelbay.store.metadata.training_jobs import TrainingJob
from tests.helpers import wait_until
from tests.unit.controllers.hosting import reconcile_until


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    platform = open_platform(Settings(data_dir=tmp_path / "data"))
    platform.objects.create_bucket("out", "us-east-1")
    return platform


@pytest.fixture
def controller(platform: Platform, runtime: ProcessRuntime, images: Images) -> TrainingController:
    return TrainingController(platform, runtime, images, stop_grace_s=1)


def image(tmp_path: Path, script: str) -> str:
    """A bring-your-own image: a directory with an executable `train` (paths through SM_* variables)."""
    directory = tmp_path / "image"
    directory.mkdir(exist_ok=True)
    (directory / "train").write_text("#!/bin/sh\n" + script)
    (directory / "train").chmod(0o755)
    return str(directory)


def create(platform: Platform, name: str, training_image: str, count: int = 1, **extra: Any) -> None:
    request = {"AlgorithmSpecification": {"TrainingImage": training_image, "TrainingInputMode": "File",
                                          "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}]},
               "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": count, "VolumeSizeInGB": 1},
               "OutputDataConfig": {"S3OutputPath": "s3://out/jobs"},
               "StoppingCondition": {"MaxRuntimeInSeconds": 86400}, **extra}
    platform.metadata.training_jobs.create(name, f"arn:{name}", request, "Starting", "Starting the training job")


def start(controller: TrainingController, name: str) -> list[Instance]:
    """Reconcile until the job's instances run (preparation happens in the background)."""
    def started() -> list[Instance]:
        controller.reconcile(name)
        return controller.runtime.list({"training-job": name})
    found = wait_until(started, 30, f"job {name} to start")
    assert isinstance(found, list)
    return found


def run(controller: TrainingController, name: str) -> TrainingJob:
    return reconcile_until(controller.reconcile, controller.jobs.get, name, ("Completed", "Failed", "Stopped"), 30)


def test_job_completes_with_artifacts_metrics_and_logs(controller: TrainingController, platform: Platform,
                                                       tmp_path: Path) -> None:
    create(platform, "ok", image(tmp_path, 'echo model > "$SM_MODEL_DIR/model.txt"\necho loss=0.5\necho loss=0.25\n'))
    job = run(controller, "ok")
    assert (job.status, job.secondary_status) == ("Completed", "Completed")
    assert [t.status for t in job.transitions] == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert job.model_artifacts == "s3://out/jobs/ok/output/model.tar.gz"
    assert [(m.name, m.value) for m in job.final_metrics] == [("loss", 0.25)]
    with platform.objects.open("out", "jobs/ok/output/model.tar.gz") as body, \
            tarfile.open(fileobj=io.BytesIO(body.read())) as archive:
        assert archive.getnames() == ["model.txt"]
    stream, = platform.logs.streams(LOG_GROUP, "ok/algo-1-")
    assert [e.message for e in platform.logs.read(LOG_GROUP, stream.name, None, None)] == ["loss=0.5", "loss=0.25"]
    assert controller.runtime.list({"training-job": "ok"}) == []
    controller.reconcile("ok")  # a pass over an ended job does nothing


def test_failure_file_becomes_the_failure_reason(controller: TrainingController, platform: Platform,
                                                 tmp_path: Path) -> None:
    create(platform, "bad", image(tmp_path, 'echo "bad input" > "$SM_OUTPUT_DIR/failure"\nexit 3\n'))
    job = run(controller, "bad")
    assert (job.status, job.failure_reason) == ("Failed", "AlgorithmError: bad input, exit code: 3")


def test_a_long_failure_keeps_the_model_limit_its_cause_and_last_error(controller: TrainingController,
                                                                       platform: Platform, tmp_path: Path) -> None:
    script = ('{ echo "Traceback (most recent call last):"; for i in $(seq 60); do echo "  File train.py, line $i"; '
              'done; echo "ValueError: bad input"; } > "$SM_OUTPUT_DIR/failure"\nexit 3\n')
    create(platform, "long", image(tmp_path, script))
    reason = run(controller, "long").failure_reason or ""
    assert len(reason) <= 1024
    assert reason.startswith("AlgorithmError: Traceback (most recent call last):\n")
    assert reason.endswith("\nValueError: bad input, exit code: 3")


def test_log_tail_is_the_reason_without_a_failure_file(controller: TrainingController, platform: Platform,
                                                       tmp_path: Path) -> None:
    create(platform, "tail", image(tmp_path, "echo Traceback boom\nexit 1\n"))
    assert "Traceback boom" in (run(controller, "tail").failure_reason or "")


def test_one_failed_host_fails_the_distributed_job(controller: TrainingController, platform: Platform,
                                                   tmp_path: Path) -> None:
    script = 'grep -q \'"current_host": "algo-2"\' "$SM_INPUT_CONFIG_DIR/resourceconfig.json" && exit 2\nsleep 30\n'
    create(platform, "dist", image(tmp_path, script), count=2)
    job = run(controller, "dist")
    assert job.status == "Failed" and "exit code: 2" in (job.failure_reason or "")


def test_stop_ends_the_job_stopped(controller: TrainingController, platform: Platform, tmp_path: Path) -> None:
    create(platform, "stop", image(tmp_path, "echo started\nsleep 30\n"))
    start(controller, "stop")
    platform.metadata.training_jobs.request_stop("stop")
    job = run(controller, "stop")
    assert (job.status, job.secondary_status) == ("Stopped", "Stopped")
    assert job.model_artifacts == "s3://out/jobs/stop/output/model.tar.gz"


def test_max_runtime_stops_the_job(controller: TrainingController, platform: Platform, tmp_path: Path) -> None:
    create(platform, "slow", image(tmp_path, "sleep 30\n"), StoppingCondition={"MaxRuntimeInSeconds": 1})
    job = run(controller, "slow")
    assert (job.status, job.secondary_status) == ("Stopped", "MaxRuntimeExceeded")


def test_a_stop_for_a_reason_of_someone_elses_fails_the_job_saying_so(controller: TrainingController,
                                                                     platform: Platform, tmp_path: Path) -> None:
    """As when the server stopped its instances on its way out: the job fails when the server is back."""
    create(platform, "cut", image(tmp_path, "sleep 30\n"))
    instance, = start(controller, "cut")
    controller.runtime.stop(instance.id, 0, reason="stopped with the server")
    job = run(controller, "cut")
    assert (job.status, job.secondary_status, job.failure_reason) == (
        "Failed", "Failed", "InternalServerError: the training job's instances were stopped with the server")


def test_unknown_image_fails_at_once(controller: TrainingController, platform: Platform) -> None:
    create(platform, "noimg", "example.com/nothing:1")
    controller.reconcile("noimg")
    job = controller.jobs.get("noimg")
    assert job is not None and job.status == "Failed" and "example.com/nothing:1" in (job.failure_reason or "")


def test_a_job_whose_instances_are_gone_fails_as_lost(controller: TrainingController, platform: Platform,
                                                      tmp_path: Path) -> None:
    create(platform, "lost", image(tmp_path, "sleep 30\n"))
    instance, = start(controller, "lost")
    controller.runtime.stop(instance.id, 0)
    wait_until(lambda: not controller.runtime.inspect(instance.id).is_alive, 10, "instance to end")
    controller.runtime.remove(instance.id)  # as if the runtime's state were gone with the server
    controller.reconcile("lost")
    job = controller.jobs.get("lost")
    assert job is not None and (job.status, job.failure_reason) == ("Failed", LOST_REASON)


def test_a_host_the_machine_cannot_start_fails_the_job_saying_why_and_leaves_no_other_host(
        controller: TrainingController, platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Path] = []

    def create_volume(directory: Path, image: Path, size_gb: int, encrypted: bool = False) -> Path | None:
        made.append(directory)
        if len(made) == 2:
            raise OSError(28, "No space left on device")
        return real_create_volume(directory, image, size_gb, encrypted)
    real_create_volume = process.create_volume
    monkeypatch.setattr(process, "create_volume", create_volume)
    create(platform, "nospace", image(tmp_path, "sleep 30\n"), count=2)
    job = run(controller, "nospace")
    assert (job.status, job.failure_reason) == (
        "Failed", "InternalServerError: this machine could not start an instance of ml.m5.large: "
                  "[Errno 28] No space left on device")
    assert controller.runtime.list({"training-job": "nospace"}) == []  # algo-1, started, was killed and removed
    assert not any(path.exists() for path in made)


def test_a_held_job_says_why_and_is_not_launched_until_released(controller: TrainingController, platform: Platform,
                                                                tmp_path: Path) -> None:
    create(platform, "held", image(tmp_path, "echo loss=0.5\n"))
    jobs, waiting = platform.metadata.training_jobs, "Waiting for capacity on this machine: 2 of 2 vCPUs"
    jobs.hold("held", waiting)
    for _ in range(3):
        controller.reconcile("held")
    job = jobs.get("held")
    assert job is not None and job.held and "held" not in controller._preparing  # not even being prepared
    assert (job.status, job.secondary_status, job.transitions[-1].message) == ("InProgress", "Starting", waiting)
    assert controller.runtime.list({"training-job": "held"}) == []
    released = jobs.release("held", "Starting the training job")
    assert (released.held, released.transitions[-1].message) == (False, "Starting the training job")
    job = run(controller, "held")
    assert [t.status for t in job.transitions] == ["Starting", "Downloading", "Training", "Uploading", "Completed"]


def test_a_held_job_asked_to_stop_ends_stopped(controller: TrainingController, platform: Platform,
                                               tmp_path: Path) -> None:
    platform.metadata.training_jobs.create("wait", "arn:wait", {
        "AlgorithmSpecification": {"TrainingImage": image(tmp_path, "exit 0\n"), "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "OutputDataConfig": {"S3OutputPath": "s3://out/jobs"}, "StoppingCondition": {"MaxRuntimeInSeconds": 60}},
        "Starting", "Waiting for capacity on this machine", held=True)
    controller.reconcile("wait")
    platform.metadata.training_jobs.request_stop("wait")
    job = run(controller, "wait")
    assert (job.status, job.secondary_status) == ("Stopped", "Stopped")
    assert controller.runtime.list({"training-job": "wait"}) == []
