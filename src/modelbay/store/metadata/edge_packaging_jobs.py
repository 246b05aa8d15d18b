"""Edge Manager's edge packaging jobs.

An edge packaging job (CreateEdgePackagingJob) turns a COMPLETED compilation job's model into a signed package; the
edge packaging controller moves it through its statuses (PACKAGING_LIFECYCLE) with `advance`. Edge deployment plans
(store/metadata/edge_deployment_plans.py) deploy the packages to devices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from modelbay.statuses import EdgePackagingJobStatus
from modelbay.store.metadata.lifecycle import Lifecycle
from modelbay.store.metadata.records import ListFilter, RecordNotFound, Repository, check_unique, find_row
from modelbay.store.metadata.tables import StatusRow

PACKAGING_LIFECYCLE: Lifecycle[EdgePackagingJobStatus] = Lifecycle({
    EdgePackagingJobStatus.STARTING: frozenset({EdgePackagingJobStatus.INPROGRESS, EdgePackagingJobStatus.FAILED,
                                                EdgePackagingJobStatus.STOPPING}),
    EdgePackagingJobStatus.INPROGRESS: frozenset({EdgePackagingJobStatus.COMPLETED, EdgePackagingJobStatus.FAILED,
                                                  EdgePackagingJobStatus.STOPPING}),
    EdgePackagingJobStatus.STOPPING: frozenset({EdgePackagingJobStatus.STOPPED}),  # a stop request wins
    EdgePackagingJobStatus.COMPLETED: frozenset(),
    EdgePackagingJobStatus.FAILED: frozenset(),
    EdgePackagingJobStatus.STOPPED: frozenset(),
})


class EdgePackagingJobRow(StatusRow):
    """One edge packaging job (see EdgePackagingJob); `failure_reason` is EdgePackagingJobStatusMessage."""

    __tablename__ = "edge_packaging_jobs"

    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_name: Mapped[str] = mapped_column(String(63))
    stop_requested: Mapped[bool] = mapped_column(Boolean)
    model_artifact: Mapped[str | None] = mapped_column(Text)
    model_signature: Mapped[str | None] = mapped_column(Text)
    package_sha1: Mapped[str | None] = mapped_column(String(40))


class EdgePackagingJobNotFound(RecordNotFound):
    """No edge packaging job has this name."""


@dataclass(frozen=True)
class EdgePackagingJobSpec:
    """What the packaging controller reads of a CreateEdgePackagingJob request."""

    compilation_job_name: str
    model_name: str
    model_version: str
    s3_output_location: str
    kms_key_id: str | None

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> EdgePackagingJobSpec:
        output = request["OutputConfig"]
        return cls(compilation_job_name=request["CompilationJobName"], model_name=request["ModelName"],
                   model_version=request["ModelVersion"], s3_output_location=output["S3OutputLocation"],
                   kms_key_id=output.get("KmsKeyId"))

    @property
    def package_uri(self) -> str:
        """Where the package is written: `<ModelName>-<ModelVersion>.tar.gz` under the output location."""
        return f"{self.s3_output_location.rstrip('/')}/{self.model_name}-{self.model_version}.tar.gz"


@dataclass(frozen=True)
class EdgePackagingJob:
    """An edge packaging job as stored; `request` is echoed by Describe, `spec` is what the controller reads."""

    name: str
    arn: str
    request: dict[str, Any]
    spec: EdgePackagingJobSpec
    status: EdgePackagingJobStatus
    status_message: str | None
    creation_time: datetime
    last_modified_time: datetime
    stop_requested: bool
    model_artifact: str | None  # the package's S3 URI, once COMPLETED
    model_signature: str | None  # base64 Ed25519 signature of the package's manifest
    package_sha1: str | None  # hex SHA-1 of the package object (GetDeployments' Checksum)


@dataclass(frozen=True)
class PackagingJobFilter(ListFilter):
    """ListEdgePackagingJobs' filters: ListFilter's and ModelNameContains."""

    model_name_contains: str | None = None

    def conditions(self, row: Any) -> list[Any]:
        found = super().conditions(row)
        if self.model_name_contains is not None:
            found.append(row.model_name.icontains(self.model_name_contains, autoescape=True))
        return found


class EdgePackagingJobRepository(Repository[EdgePackagingJobRow, EdgePackagingJob]):
    """Edge packaging jobs by name. Every method that writes is one transaction; times come from `clock`."""

    row, lifecycle, not_found = EdgePackagingJobRow, PACKAGING_LIFECYCLE, EdgePackagingJobNotFound

    def _record(self, row: EdgePackagingJobRow) -> EdgePackagingJob:
        return EdgePackagingJob(
            name=row.name, arn=row.arn, request=row.request, spec=EdgePackagingJobSpec.from_request(row.request),
            status=EdgePackagingJobStatus(row.status), status_message=row.failure_reason,
            creation_time=row.creation_time, last_modified_time=row.last_modified_time,
            stop_requested=row.stop_requested, model_artifact=row.model_artifact,
            model_signature=row.model_signature, package_sha1=row.package_sha1)

    def create(self, name: str, arn: str, request: dict[str, Any]) -> EdgePackagingJob:
        """Store a new job, STARTING. Raises RecordExists, writing nothing, if one has this name or ARN."""
        now = self._clock()
        with self._db.write(lock="edge_packaging_jobs create") as session:
            check_unique(session, EdgePackagingJobRow, name, arn)
            row = EdgePackagingJobRow(name=name, arn=arn, request=request, model_name=request["ModelName"],
                                      status=EdgePackagingJobStatus.STARTING, creation_time=now,
                                      last_modified_time=now, stop_requested=False)
            session.add(row)
            return self._record(row)

    def advance(self, name: str, status: EdgePackagingJobStatus, *, failure_reason: str | None = None,
                model_artifact: str | None = None, model_signature: str | None = None,
                package_sha1: str | None = None) -> EdgePackagingJob:
        """Move the job to `status`, setting what is given (None keeps what is stored). A job being stopped ends
        STOPPED: any other move asked of it is dropped (the stop request overtook the controller). Raises
        EdgePackagingJobNotFound, or IllegalTransition for a move PACKAGING_LIFECYCLE does not allow."""
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, EdgePackagingJobRow, name, EdgePackagingJobNotFound)
            if row.status == EdgePackagingJobStatus.STOPPING and status != EdgePackagingJobStatus.STOPPED:
                return self._record(row)
            self.lifecycle.check(name, row.status, status)
            row.status, row.last_modified_time = status, self._clock()
            for column, value in (("failure_reason", failure_reason), ("model_artifact", model_artifact),
                                  ("model_signature", model_signature), ("package_sha1", package_sha1)):
                if value is not None:
                    setattr(row, column, value)
            return self._record(row)

    def request_stop(self, name: str) -> EdgePackagingJob:
        """Mark the job stop-requested and move it to STOPPING. Raises EdgePackagingJobNotFound, or StatusConflict if
        its status does not allow STOPPING."""
        with self._stop_requested(name, EdgePackagingJobStatus.STOPPING) as row:
            row.status, row.last_modified_time = EdgePackagingJobStatus.STOPPING, self._clock()
            return self._record(row)
