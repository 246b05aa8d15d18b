"""Edge packaging jobs on every metadata backend: their lifecycle, stop requests and ListEdgePackagingJobs' filter."""

from __future__ import annotations

from typing import Any

import pytest

from modelbay.statuses import EdgePackagingJobStatus
from modelbay.store.metadata import MetadataStore, RecordExists, StatusConflict
from modelbay.store.metadata.edge_packaging_jobs import (
    PACKAGING_LIFECYCLE,
    EdgePackagingJobNotFound,
    EdgePackagingJobRepository,
    PackagingJobFilter,
)
from modelbay.store.metadata.lifecycle import IllegalTransition

REQUEST = {"CompilationJobName": "compiled", "ModelName": "clf", "ModelVersion": "1.0",
           "RoleArn": "arn:aws:iam::000000000000:role/r", "OutputConfig": {"S3OutputLocation": "s3://b/edge"}}


@pytest.fixture
def jobs(store: MetadataStore) -> EdgePackagingJobRepository:
    return store.edge_packaging_jobs


def _job(jobs: EdgePackagingJobRepository, name: str, request: dict[str, Any] = REQUEST) -> None:
    jobs.create(name, f"arn:aws:sagemaker:us-east-1:000000000000:edge-packaging-job/{name.lower()}", request)


def test_a_packaging_job_is_created_starting_and_completes_with_its_package(jobs: EdgePackagingJobRepository) -> None:
    _job(jobs, "Pkg-1")
    job = jobs.get("Pkg-1")
    assert job is not None and (job.status, job.spec.package_uri, job.model_artifact) == (
        "STARTING", "s3://b/edge/clf-1.0.tar.gz", None)
    with pytest.raises(RecordExists):
        _job(jobs, "Pkg-1")
    jobs.advance("Pkg-1", EdgePackagingJobStatus.INPROGRESS)
    done = jobs.advance("Pkg-1", EdgePackagingJobStatus.COMPLETED, model_artifact="s3://b/edge/clf-1.0.tar.gz",
                        model_signature="c2ln", package_sha1="a" * 40)
    assert (done.status, done.model_artifact, done.model_signature, done.package_sha1) == (
        "COMPLETED", "s3://b/edge/clf-1.0.tar.gz", "c2ln", "a" * 40)
    assert jobs.names_to_reconcile() == []


def test_the_packaging_lifecycle_refuses_illegal_moves_and_stop_requests(jobs: EdgePackagingJobRepository) -> None:
    assert PACKAGING_LIFECYCLE.ended == {"COMPLETED", "FAILED", "STOPPED"}
    assert set(PACKAGING_LIFECYCLE.moves) == set(EdgePackagingJobStatus)
    _job(jobs, "j")
    with pytest.raises(IllegalTransition, match="j: STARTING cannot move to COMPLETED"):
        jobs.advance("j", EdgePackagingJobStatus.COMPLETED)
    stopping = jobs.request_stop("j")
    assert (stopping.status, stopping.stop_requested) == ("STOPPING", True)
    assert jobs.advance("j", EdgePackagingJobStatus.COMPLETED).status == "STOPPING"  # the stop request wins
    assert jobs.advance("j", EdgePackagingJobStatus.STOPPED).status == "STOPPED"
    with pytest.raises(StatusConflict):
        jobs.request_stop("j")
    with pytest.raises(EdgePackagingJobNotFound):
        jobs.request_stop("nope")


def test_packaging_jobs_list_by_model_name(jobs: EdgePackagingJobRepository) -> None:
    _job(jobs, "a")
    _job(jobs, "b", REQUEST | {"ModelName": "detector"})
    names = [job.name for job in jobs.list(PackagingJobFilter(model_name_contains="DETECT")).items]
    assert names == ["b"]
