"""EdgePackagingController: a package built from a COMPLETED compilation job's compiled model, signed, every file's
hash in its manifest; failures and stops recorded."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from modelbay.config import Settings
from modelbay.controllers.edge_packaging_jobs.controller import EdgePackagingController
from modelbay.controllers.edge_packaging_jobs.packages import MANIFEST, SIGNATURE
from modelbay.platform import Platform, open_platform
from modelbay.security.edge_signing import EdgeSigner, is_signed
from modelbay.statuses import CompilationJobStatus
from modelbay.store.metadata.edge_packaging_jobs import EdgePackagingJob
from modelbay.store.objects.base import ObjectMeta
from tests.unit.controllers.hosting import reconcile_until

COMPILED = "s3://models/compiled/model-ml_c5.tar.gz"
FILES = {"neo-manifest.json": b'{"runtime": "onnxruntime"}', "model.onnx": b"\x08\x01onnx bytes"}
ENDED = ("COMPLETED", "FAILED", "STOPPED")


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    platform = open_platform(Settings(data_dir=tmp_path / "data"))
    platform.objects.create_bucket("models", "us-east-1")
    return platform


def _archive(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return out.getvalue()


def _compilation(platform: Platform, name: str, archive: bytes | None) -> None:
    request = {"RoleArn": "arn:aws:iam::000000000000:role/r",
               "InputConfig": {"S3Uri": "s3://models/model.tar.gz", "Framework": "XGBOOST"},
               "OutputConfig": {"S3OutputLocation": "s3://models/compiled/", "TargetDevice": "ml_c5"}}
    jobs = platform.metadata.compilation_jobs
    jobs.create(name, f"arn:aws:sagemaker:us-east-1:000000000000:compilation-job/{name}", request)
    jobs.advance(name, CompilationJobStatus.INPROGRESS)
    if archive is not None:
        platform.objects.put("models", "compiled/model-ml_c5.tar.gz", io.BytesIO(archive), ObjectMeta())
        jobs.advance(name, CompilationJobStatus.COMPLETED, model_artifact=COMPILED)


def _package(platform: Platform, name: str, compilation: str) -> EdgePackagingJob:
    controller = EdgePackagingController(platform)
    platform.metadata.edge_packaging_jobs.create(name, f"arn:aws:sagemaker:us-east-1:0:edge-packaging-job/{name}", {
        "CompilationJobName": compilation, "ModelName": "clf", "ModelVersion": "1.0",
        "RoleArn": "arn:aws:iam::000000000000:role/r", "OutputConfig": {"S3OutputLocation": "s3://models/edge"}})
    return reconcile_until(controller.reconcile, platform.metadata.edge_packaging_jobs.get, name, ENDED)


def test_the_package_holds_the_compiled_files_a_signed_manifest_of_their_hashes(platform: Platform) -> None:
    _compilation(platform, "compiled", _archive(FILES))
    job = _package(platform, "pkg", "compiled")
    assert (job.status, job.model_artifact) == ("COMPLETED", "s3://models/edge/clf-1.0.tar.gz")
    with platform.objects.open("models", "edge/clf-1.0.tar.gz") as reader:
        data = reader.read()
    assert job.package_sha1 == hashlib.sha1(data).hexdigest()  # noqa: S324  # the API's checksum
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = {member.name: archive.extractfile(member).read() for member in archive}  # type: ignore[union-attr]
    manifest = members[MANIFEST]
    assert json.loads(manifest) == {"ModelName": "clf", "ModelVersion": "1.0", "CompilationJobName": "compiled",
                                    "Files": {name: hashlib.sha256(body).hexdigest() for name, body in FILES.items()}}
    assert members[SIGNATURE].decode() == job.model_signature
    assert is_signed(manifest, job.model_signature or "", EdgeSigner(platform.master_key).public_key_pem())
    assert {name: members[name] for name in FILES} == FILES


def test_a_model_that_is_not_compiled_fails_the_job_with_the_reason(platform: Platform) -> None:
    _compilation(platform, "plain", _archive({"model.json": b"{}"}))
    job = _package(platform, "pkg", "plain")
    assert job.status == "FAILED" and "neo-manifest.json" in (job.status_message or "")


def test_a_compilation_job_without_a_model_fails_the_job(platform: Platform) -> None:
    _compilation(platform, "running", None)
    job = _package(platform, "pkg", "running")
    assert job.status == "FAILED" and "not COMPLETED" in (job.status_message or "")


def test_a_stopped_job_ends_stopped(platform: Platform) -> None:
    _compilation(platform, "compiled", _archive(FILES))
    controller = EdgePackagingController(platform)
    jobs = platform.metadata.edge_packaging_jobs
    jobs.create("pkg", "arn:aws:sagemaker:us-east-1:0:edge-packaging-job/pkg", {
        "CompilationJobName": "compiled", "ModelName": "clf", "ModelVersion": "1.0",
        "RoleArn": "arn:aws:iam::000000000000:role/r", "OutputConfig": {"S3OutputLocation": "s3://models/edge"}})
    jobs.request_stop("pkg")
    assert reconcile_until(controller.reconcile, jobs.get, "pkg", ENDED).status == "STOPPED"
