"""The transform controller with the real ProcessRuntime running a tiny bring-your-own model server."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from modelbay.config import Settings
from modelbay.controllers.images import Images
from modelbay.controllers.transform_jobs.controller import LOG_GROUP, TransformController
from modelbay.platform import Platform, open_platform
from modelbay.runtime.base import VOLUME_NOT_ENCRYPTED
from modelbay.runtime.process import ProcessRuntime
from modelbay.store.metadata.transform_jobs import TransformJob
from modelbay.store.objects.base import ObjectMeta, encryption_of
from tests.helpers import serve_image, serve_program, wait_until
from tests.unit.controllers.hosting import FAIL_TO_LOAD_IF_ASKED, reconcile_until

# Each line it gets comes back with ",<TAG>" appended (so a pipeline's containers show their order);
# a line "bad" is refused with 400, a line "hang" is never answered.
SERVE = serve_program(preamble=FAIL_TO_LOAD_IF_ASKED + """
TAG = os.environ["TAG"] + os.environ.get("JOB_SUFFIX", "")
print("serving", TAG, "batch" if os.environ.get("SAGEMAKER_BATCH") else "", flush=True)
""", on_post="""
    lines = body.decode().strip().split("\\n")
    if "bad" in lines:
        return self.answer(b"could not parse record: bad", "text/plain", 400)
    if "hang" in lines:
        threading.Event().wait()
    self.answer("\\n".join(line + "," + TAG for line in lines).encode() + b"\\n", "text/csv")
""")


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    platform = open_platform(Settings(data_dir=tmp_path / "data"))
    platform.objects.create_bucket("inputs", "us-east-1")
    platform.objects.create_bucket("outputs", "us-east-1")
    return platform


@pytest.fixture
def controller(platform: Platform, runtime: ProcessRuntime, images: Images) -> TransformController:
    return TransformController(platform, runtime, images, stop_grace_s=1)


@pytest.fixture
def image(tmp_path: Path) -> str:
    return serve_image(tmp_path / "image", SERVE)


def put(platform: Platform, key: str, body: bytes) -> None:
    platform.objects.put("inputs", key, io.BytesIO(body), ObjectMeta())


def read(platform: Platform, key: str) -> bytes:
    with platform.objects.open("outputs", key) as reader:
        return reader.read()


def create(platform: Platform, name: str, containers: list[dict[str, Any]], **request: Any) -> None:
    platform.metadata.models.create(name, f"arn:model/{name}", {"ModelName": name, "Containers": containers})
    transform_input = {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://inputs/{name}/"}},
                       "ContentType": "text/csv", "SplitType": "Line"}
    platform.metadata.transform_jobs.create(name, f"arn:transform-job/{name}", {
        "ModelName": name, "MaxPayloadInMB": 6, "BatchStrategy": "MultiRecord",
        "TransformInput": transform_input | request.pop("TransformInput", {}),
        "TransformOutput": {"S3OutputPath": f"s3://outputs/{name}", "AssembleWith": "Line"},
        "DataProcessing": {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}} | request)


def container(image: str, tag: str, **env: str) -> dict[str, Any]:
    return {"Image": image, "Environment": {"TAG": tag, **env}}


def settle(controller: TransformController, name: str) -> TransformJob:
    return reconcile_until(controller.reconcile, controller.jobs.get, name, ("Completed", "Failed", "Stopped"))


def test_a_job_transforms_every_object_through_its_hosts(controller: TransformController, platform: Platform,
                                                         image: str) -> None:
    put(platform, "j/a.csv", b"1,2\n3,4\n")
    put(platform, "j/sub/b.csv", b"5,6\n")
    create(platform, "j", [container(image, "m")], Environment={"JOB_SUFFIX": "!"}, MaxConcurrentTransforms=2,
           TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 2})
    job = settle(controller, "j")
    assert (job.status, job.failure_reason) == ("Completed", None)
    assert job.transform_start_time is not None and job.transform_end_time is not None
    assert read(platform, "j/a.csv.out") == b"1,2,m!\n3,4,m!\n"
    assert read(platform, "j/sub/b.csv.out") == b"5,6,m!\n"
    assert controller.runtime.list({"transform-job": "j"}) == []  # the hosts are gone
    streams = platform.logs.streams(LOG_GROUP, prefix="j/")
    assert len(streams) == 2  # one per container instance: j/<instance id>
    assert all([e.message for e in platform.logs.read(LOG_GROUP, s.name, None, None)] == ["serving m! batch"]
               for s in streams)


def test_a_pipeline_calls_its_containers_in_order(controller: TransformController, platform: Platform,
                                                  image: str) -> None:
    put(platform, "p/x.csv", b"1\n2\n")
    create(platform, "p", [container(image, "first"), container(image, "second"), container(image, "model")],
           BatchStrategy="SingleRecord")
    assert settle(controller, "p").status == "Completed"
    assert read(platform, "p/x.csv.out") == b"1,first,second,model\n2,first,second,model\n"


def test_data_processing_filters_and_joins(controller: TransformController, platform: Platform, image: str) -> None:
    put(platform, "d/x.csv", b"id1,5,6\nid2,7,8\n")
    create(platform, "d", [container(image, "m")],
           DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"})
    assert settle(controller, "d").status == "Completed"
    assert read(platform, "d/x.csv.out") == b"id1,m\nid2,m\n"


def test_a_refused_record_fails_the_job_naming_object_line_and_message(
        controller: TransformController, platform: Platform, image: str) -> None:
    put(platform, "bad/x.csv", b"1\n2\nbad\n")
    create(platform, "bad", [container(image, "m")], BatchStrategy="SingleRecord")
    job = settle(controller, "bad")
    assert job.status == "Failed"
    assert job.failure_reason == ("ClientError: s3://inputs/bad/x.csv, line 3: Bad HTTP status received from "
                                  "algorithm: 400. Model message: could not parse record: bad")


def test_a_host_that_cannot_start_fails_the_job_with_its_last_line(
        controller: TransformController, platform: Platform, image: str) -> None:
    put(platform, "nostart/x.csv", b"1\n")
    create(platform, "nostart", [container(image, "m", FAIL_TO_LOAD="weights missing")])
    job = settle(controller, "nostart")
    assert job.status == "Failed"
    assert (job.failure_reason or "").endswith("exited before it was ready (exit code 1): "
                                               "could not load the model: weights missing")


def test_a_failure_reason_past_the_models_limit_keeps_its_cause_and_its_end(
        controller: TransformController, platform: Platform, image: str) -> None:
    put(platform, "long/x.csv", b"1\n")
    words = " ".join(f"layer{n}" for n in range(300))
    create(platform, "long", [container(image, "m", FAIL_TO_LOAD=f"missing {words} and the end")])
    reason = settle(controller, "long").failure_reason or ""
    assert len(reason) <= 1024
    assert reason.startswith("ClientError: the model server (container 1 of host 1) exited before it was ready")
    assert reason.endswith(" layer299 and the end")


def test_stop_transform_job_stops_the_hosts(controller: TransformController, platform: Platform, image: str) -> None:
    put(platform, "stop/x.csv", b"hang\n")
    create(platform, "stop", [container(image, "m")])
    wait_until(lambda: (controller.reconcile("stop"), controller._runs["stop"].work is not None)[1], 30,
               "the job to be transforming")
    platform.metadata.transform_jobs.request_stop("stop")
    job = settle(controller, "stop")
    assert (job.status, job.failure_reason) == ("Stopped", None)
    assert controller.runtime.list({"transform-job": "stop"}) == []


def test_a_restarted_server_starts_the_job_over(controller: TransformController, platform: Platform,
                                                image: str, tmp_path: Path) -> None:
    put(platform, "again/x.csv", b"1\n")
    create(platform, "again", [container(image, "m")])
    wait_until(lambda: (controller.reconcile("again"), controller.runtime.list({"transform-job": "again"}))[1], 30,
               "the hosts to start")
    old = {i.id for i in controller.runtime.list({"transform-job": "again"})}
    restarted = TransformController(platform, controller.runtime, controller.images, stop_grace_s=1)
    job = settle(restarted, "again")
    assert job.status == "Completed"
    assert read(platform, "again/x.csv.out") == b"1,m\n"
    assert not old & {i.id for i in controller.runtime.list({})}


def test_results_are_written_under_the_output_key_and_a_volume_key_reaches_the_runtime(
        controller: TransformController, platform: Platform, image: str) -> None:
    key = platform.kms.create_key().arn
    put(platform, "j/a.csv", b"1,2\n")
    create(platform, "j", [container(image, "m")],
           TransformOutput={"S3OutputPath": "s3://outputs/j", "AssembleWith": "Line", "KmsKeyId": key})
    assert settle(controller, "j").status == "Completed"
    assert encryption_of(platform.objects.head("outputs", "j/a.csv.out").meta.headers) == {
        "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key}
    with platform.objects.open("outputs", "j/a.csv.out", keys=platform.kms) as reader:
        assert reader.read() == b"1,2,m\n"
    put(platform, "v/a.csv", b"1,2\n")
    create(platform, "v", [container(image, "m")],
           TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeKmsKeyId": key})
    job = settle(controller, "v")  # this runtime has no namespaces: it refuses the key it is given
    assert (job.status, job.failure_reason) == ("Failed", f"InternalServerError: {VOLUME_NOT_ENCRYPTED}")
