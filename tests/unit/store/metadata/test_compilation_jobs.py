"""The compilation-job repository on every metadata backend: create, get, list, transitions, stop, delete, the spec,
and the lookup serving uses (by_model_artifact)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from modelbay.statuses import CompilationJobStatus
from modelbay.store.metadata import (
    CompilationJobNotFound,
    CompilationJobRepository,
    CompilationJobSpec,
    ListFilter,
    MetadataStore,
    RecordExists,
    StatusConflict,
)
from modelbay.store.metadata.compilation_jobs import DEFAULT_MAX_RUNTIME_S, LIFECYCLE
from modelbay.store.metadata.lifecycle import IllegalTransition
from tests.helpers import T0

_S = CompilationJobStatus
REQUEST: dict[str, Any] = {
    "RoleArn": "arn:aws:iam::000000000000:role/r",
    "InputConfig": {"S3Uri": "s3://b/models/model.tar.gz", "Framework": "XGBOOST"},
    "OutputConfig": {"S3OutputLocation": "s3://b/compiled/", "TargetDevice": "ml_c5"},
    "StoppingCondition": {"MaxRuntimeInSeconds": 900}}
ARTIFACT = "s3://b/compiled/model-ml_c5.tar.gz"


@pytest.fixture
def jobs(store: MetadataStore) -> CompilationJobRepository:
    return store.compilation_jobs


def _at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _create(jobs: CompilationJobRepository, name: str, request: dict[str, Any] = REQUEST) -> None:
    jobs.create(name, f"arn:aws:sagemaker:us-east-1:000000000000:compilation-job/{name.lower()}", request,
                "000000000000.dkr.ecr.us-east-1.amazonaws.com/xgboost-neo:latest")


def test_create_then_get(jobs: CompilationJobRepository) -> None:
    _create(jobs, "Job-1")
    job = jobs.get("Job-1")
    assert job is not None
    assert (job.name, job.request, job.status, job.stop_requested, job.failure_reason, job.model_artifact) == (
        "Job-1", REQUEST, "STARTING", False, None, None)
    assert job.inference_image == "000000000000.dkr.ecr.us-east-1.amazonaws.com/xgboost-neo:latest"
    assert (job.creation_time, job.compilation_start_time, job.compilation_end_time) == (_at(1), None, None)
    assert jobs.get("nope") is None
    with pytest.raises(RecordExists):
        _create(jobs, "JOB-1")


def test_advance_sets_start_and_end_times_artifact_and_digest(jobs: CompilationJobRepository) -> None:
    _create(jobs, "j")  # t+1
    started = jobs.advance("j", _S.INPROGRESS)  # t+2
    done = jobs.advance("j", _S.COMPLETED, model_artifact=ARTIFACT, artifact_digest="ab" * 32,
                        derived_information={"DerivedDataInputConfig": '{"input0": [null, 4]}'})  # t+3
    assert started.compilation_start_time == done.compilation_start_time == _at(2)
    assert (done.status, done.compilation_end_time, done.model_artifact, done.artifact_digest) == (
        "COMPLETED", _at(3), ARTIFACT, "ab" * 32)
    assert done.derived_information == {"DerivedDataInputConfig": '{"input0": [null, 4]}'}
    with pytest.raises(IllegalTransition):
        jobs.advance("j", _S.FAILED)
    with pytest.raises(CompilationJobNotFound):
        jobs.advance("nope", _S.FAILED)


def test_a_starting_job_may_fail_before_it_runs(jobs: CompilationJobRepository) -> None:
    _create(jobs, "j")
    failed = jobs.advance("j", _S.FAILED, failure_reason="ClientError: Unable to download the model")
    assert (failed.status, failed.failure_reason, failed.compilation_start_time) == (
        "FAILED", "ClientError: Unable to download the model", None)


def test_stop_only_while_running_and_not_undone_by_a_late_advance(jobs: CompilationJobRepository) -> None:
    _create(jobs, "j")
    stopping = jobs.request_stop("j")
    assert (stopping.status, stopping.stop_requested) == ("STOPPING", True)
    with pytest.raises(StatusConflict):
        jobs.request_stop("j")
    assert jobs.advance("j", _S.INPROGRESS).status == "STOPPING"
    assert jobs.advance("j", _S.STOPPED).status == "STOPPED"
    with pytest.raises(CompilationJobNotFound):
        jobs.request_stop("nope")


def test_delete_only_once_ended_and_with_its_tags(store: MetadataStore, jobs: CompilationJobRepository) -> None:
    _create(jobs, "j")
    job = jobs.get("j")
    assert job is not None
    store.tags.add(job.arn, [("team", "ml")])
    with pytest.raises(StatusConflict):
        jobs.delete("j")
    jobs.advance("j", _S.FAILED, failure_reason="ClientError: no model")
    assert jobs.delete("j").name == "j"
    assert jobs.get("j") is None and store.tags.list(job.arn).items == []
    with pytest.raises(CompilationJobNotFound):
        jobs.delete("j")


def test_by_model_artifact_finds_the_completed_job_only(jobs: CompilationJobRepository) -> None:
    _create(jobs, "done")
    jobs.advance("done", _S.INPROGRESS)
    jobs.advance("done", _S.COMPLETED, model_artifact=ARTIFACT, artifact_digest="0" * 64)
    _create(jobs, "running")
    found = jobs.by_model_artifact(ARTIFACT)
    assert found is not None and (found.name, found.target_device) == ("done", "ml_c5")
    assert jobs.by_model_artifact("s3://b/compiled/other-ml_c5.tar.gz") is None


def test_names_to_reconcile_and_list(jobs: CompilationJobRepository) -> None:
    for name in ("b", "a", "c", "d"):  # t+1 .. t+4
        _create(jobs, name)
    jobs.advance("a", _S.FAILED)
    jobs.request_stop("c")
    jobs.advance("d", _S.INPROGRESS)
    assert jobs.names_to_reconcile() == ["b", "c", "d"]
    names = lambda **kw: [job.name for job in jobs.list(**kw).items]  # noqa: E731
    assert names() == ["d", "c", "a", "b"]
    assert names(filters=ListFilter(status="STARTING"), sort_by="Name", ascending=True) == ["b"]


def test_the_lifecycle_ends_in_completed_failed_or_stopped(jobs: CompilationJobRepository) -> None:
    assert LIFECYCLE.ended == {_S.COMPLETED, _S.FAILED, _S.STOPPED}
    assert set(LIFECYCLE.moves) == set(_S)
    _create(jobs, "k")
    with pytest.raises(IllegalTransition, match="k: STARTING cannot move to COMPLETED"):
        jobs.advance("k", _S.COMPLETED)  # it never ran


@pytest.mark.parametrize(("output", "artifact"), [
    ({"S3OutputLocation": "s3://b/out", "TargetDevice": "ml_c5"}, "s3://b/out/model-ml_c5.tar.gz"),
    ({"S3OutputLocation": "s3://b/out/", "TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"}},
     "s3://b/out/model-LINUX_X86_64.tar.gz"),
    ({"S3OutputLocation": "s3://b/out", "TargetPlatform": {"Os": "LINUX", "Arch": "ARM64", "Accelerator": "NVIDIA"}},
     "s3://b/out/model-LINUX_ARM64_NVIDIA.tar.gz"),
])
def test_the_spec_names_the_artifact_as_sagemaker_does(output: dict[str, Any], artifact: str) -> None:
    spec = CompilationJobSpec.from_request(REQUEST | {"OutputConfig": output, "StoppingCondition": {}})
    assert spec.model_artifact == artifact
    assert spec.max_runtime_in_seconds == DEFAULT_MAX_RUNTIME_S
    assert spec.target_device == output.get("TargetDevice")


def test_the_spec_reads_the_request() -> None:
    request = REQUEST | {"InputConfig": {"S3Uri": "s3://b/m/net.pth", "Framework": "PYTORCH",
                                         "FrameworkVersion": "2.0", "DataInputConfig": '{"x": [1, 3]}'},
                         "OutputConfig": REQUEST["OutputConfig"] | {"CompilerOptions": "{}", "KmsKeyId": "k"}}
    spec = CompilationJobSpec.from_request(request)
    assert (spec.framework, spec.framework_version, spec.data_input_config, spec.compiler_options) == (
        "PYTORCH", "2.0", '{"x": [1, 3]}', "{}")
    assert (spec.kms_key_id, spec.max_runtime_in_seconds, spec.instance_count) == ("k", 900, 1)
    assert spec.model_artifact == "s3://b/compiled/net.pth-ml_c5.tar.gz"
