"""The processing controller with the real ProcessRuntime (without namespaces: programs use paths relative to their
working directory, the instance's /opt/ml) running the python image's `python3`."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from modelbay.config import Settings
from modelbay.controllers.images import Images
from modelbay.controllers.processing_jobs.controller import LOG_GROUP, ProcessingController
from modelbay.platform import Platform, open_platform
from modelbay.runtime.base import VOLUME_NOT_ENCRYPTED
from modelbay.runtime.process import ProcessRuntime
from modelbay.store.metadata.kms import DISABLED, ENABLED
from modelbay.store.metadata.processing_jobs import ProcessingJob
from modelbay.store.objects.base import ObjectMeta, encryption_of
from tests.helpers import wait_until
from tests.unit.controllers.hosting import reconcile_until

ENDED = ("Completed", "Failed", "Stopped")


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    platform = open_platform(Settings(data_dir=tmp_path / "data"))
    platform.objects.create_bucket("data", "us-east-1")
    return platform


@pytest.fixture
def controller(platform: Platform, runtime: ProcessRuntime, images: Images) -> ProcessingController:
    return ProcessingController(platform, runtime, images, stop_grace_s=1)


def create(platform: Platform, name: str, code: str, **request: Any) -> None:
    platform.metadata.processing_jobs.create(name, f"arn:processing-job/{name}", {
        "AppSpecification": {"ImageUri": "modelbay/python", "ContainerEntrypoint": ["python3", "-c", code],
                             "ContainerArguments": ["--x", "1"]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 1}}} | request)


def settle(controller: ProcessingController, name: str) -> ProcessingJob:
    return reconcile_until(controller.reconcile, controller.jobs.get, name, ENDED)


def test_a_job_reads_its_inputs_writes_its_outputs_and_completes(platform: Platform,
                                                                 controller: ProcessingController) -> None:
    platform.objects.put("data", "in/rows.csv", io.BytesIO(b"1,2\n"), ObjectMeta())
    code = ("import json, pathlib, sys; rows = pathlib.Path('processing/input/rows.csv').read_text(); "
            "config = json.load(open('config/resourceconfig.json')); "
            "pathlib.Path('processing/output/seen.json').write_text(json.dumps([rows, config['hosts'], sys.argv[1:], "
            "sys.executable])); print('done')")
    create(platform, "j", code, ProcessingInputs=[{"InputName": "in", "S3Input": {
               "S3Uri": "s3://data/in", "LocalPath": "/opt/ml/processing/input", "S3DataType": "S3Prefix"}}],
           ProcessingOutputConfig={"Outputs": [{"OutputName": "out", "S3Output": {
               "S3Uri": "s3://data/out/", "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]})
    job = settle(controller, "j")
    assert (job.status, job.failure_reason, job.exit_message) == ("Completed", None, None)
    assert job.processing_start_time is not None and job.processing_end_time is not None
    with platform.objects.open("data", "out/seen.json") as reader:
        rows, hosts, argv, python = json.loads(reader.read())
    assert (rows, hosts, argv) == ("1,2\n", ["algo-1"], ["--x", "1"])
    assert "/processing/j/algo-1.env/" in python  # python3 is the image's framework environment
    [stream] = platform.logs.streams(LOG_GROUP, prefix="j/algo-1-")
    assert "done" in [event.message for event in platform.logs.read(LOG_GROUP, stream.name, None, None)]


def test_a_failing_program_gives_its_error_as_reason_and_exit_message(platform: Platform,
                                                                      controller: ProcessingController) -> None:
    create(platform, "j", "import pathlib; pathlib.Path('output/message').write_text('bad input'); "
                          "raise SystemExit('no rows to process')")
    job = settle(controller, "j")
    assert job.status == "Failed" and job.failure_reason is not None
    assert job.failure_reason.startswith("AlgorithmError: no rows to process")
    assert job.failure_reason.endswith("exit code: 1")
    assert job.exit_message == "bad input"
    assert controller.runtime.list({"processing-job": "j"}) == []


def test_an_unknown_image_fails_the_job(platform: Platform, controller: ProcessingController) -> None:
    create(platform, "j", "print()", AppSpecification={"ImageUri": "/nowhere"})
    job = settle(controller, "j")
    assert job.status == "Failed" and job.failure_reason is not None
    assert "is not an image modelbay can run" in job.failure_reason


def test_stop_stops_the_running_program(platform: Platform, controller: ProcessingController) -> None:
    create(platform, "j", "import time; print('started', flush=True); time.sleep(600)")
    wait_until(lambda: controller.reconcile("j") or controller.runtime.list({"processing-job": "j"}), timeout_s=60,
               what="the job to start")
    platform.metadata.processing_jobs.request_stop("j")
    job = settle(controller, "j")
    assert (job.status, job.failure_reason) == ("Stopped", None)
    assert controller.runtime.list({"processing-job": "j"}) == []


def test_a_job_past_its_max_runtime_fails(platform: Platform, controller: ProcessingController) -> None:
    create(platform, "j", "import time; time.sleep(600)", StoppingCondition={"MaxRuntimeInSeconds": 1})
    job = settle(controller, "j")
    assert job.status == "Failed" and job.failure_reason is not None
    assert job.failure_reason.startswith("MaxRuntimeExceeded")


def test_outputs_are_written_under_the_output_key(platform: Platform, controller: ProcessingController) -> None:
    key = platform.kms.create_key().arn
    create(platform, "j", "import pathlib; pathlib.Path('processing/output/o.txt').write_text('secret')",
           ProcessingOutputConfig={"KmsKeyId": key, "Outputs": [{"OutputName": "out", "S3Output": {
               "S3Uri": "s3://data/out", "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]})
    assert settle(controller, "j").status == "Completed"
    assert encryption_of(platform.objects.head("data", "out/o.txt").meta.headers) == {
        "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key}
    with platform.objects.open("data", "out/o.txt", keys=platform.kms) as reader:
        assert reader.read() == b"secret"


@pytest.mark.parametrize("usable", [True, False], ids=["runtime-cannot-encrypt", "key-disabled"])
def test_a_volume_key_reaches_the_runtime_or_fails_the_job_naming_it(platform: Platform,
                                                                     controller: ProcessingController,
                                                                     usable: bool) -> None:
    key = platform.kms.create_key()
    if not usable:
        platform.metadata.kms.move(key.key_id, DISABLED, (ENABLED,))
    create(platform, "j", "print()", ProcessingResources={"ClusterConfig": {
        "InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1, "VolumeKmsKeyId": key.arn}})
    job = settle(controller, "j")
    assert not controller.runtime.encrypts_volumes  # this runtime has no namespaces: it refuses the key it is given
    expected = (f"InternalServerError: {VOLUME_NOT_ENCRYPTED}" if usable else
                f"ClientError: ProcessingResources.ClusterConfig.VolumeKmsKeyId: the KMS key '{key.arn}' cannot be "
                f"used: {key.arn} is disabled.")
    assert (job.status, job.failure_reason) == ("Failed", expected)
