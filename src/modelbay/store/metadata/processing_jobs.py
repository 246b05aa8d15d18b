"""Processing jobs: the request each was created with and where it stands, for services and controllers.

CreateProcessingJob and StopProcessingJob record what is wanted; the processing controller moves
jobs through their statuses (LIFECYCLE) with `advance`. Every status change goes through `_move`,
which checks it against LIFECYCLE. The table lives here: nothing else refers to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Text
from sqlalchemy.orm import Mapped, mapped_column

from modelbay.statuses import ProcessingJobStatus
from modelbay.store.metadata.lifecycle import Lifecycle
from modelbay.store.metadata.records import (
    JobRepository,
    RecordNotFound,
)
from modelbay.store.metadata.tables import StatusRow, UtcDateTime

DEFAULT_MAX_RUNTIME_S = 86400  # StoppingCondition.MaxRuntimeInSeconds when the request leaves it out

LIFECYCLE: Lifecycle[ProcessingJobStatus] = Lifecycle({
    ProcessingJobStatus.IN_PROGRESS: frozenset({ProcessingJobStatus.COMPLETED, ProcessingJobStatus.FAILED,
                                                ProcessingJobStatus.STOPPING}),
    ProcessingJobStatus.STOPPING: frozenset({ProcessingJobStatus.STOPPED}),  # a stop request wins
    ProcessingJobStatus.COMPLETED: frozenset(),
    ProcessingJobStatus.FAILED: frozenset(),
    ProcessingJobStatus.STOPPED: frozenset(),
})


class ProcessingJobRow(StatusRow):
    """One processing job (see ProcessingJob for each column)."""

    __tablename__ = "processing_jobs"

    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    exit_message: Mapped[str | None] = mapped_column(Text)
    processing_start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    processing_end_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stop_requested: Mapped[bool] = mapped_column(Boolean)


class ProcessingJobNotFound(RecordNotFound):
    """No processing job has this name."""


@dataclass(frozen=True)
class ProcessingInput:
    """One ProcessingInput from S3: its S3Input wire dict (for staging) and where the job reads it."""

    name: str
    local_path: str
    s3_input: dict[str, Any]

    @property
    def is_sharded(self) -> bool:
        return bool(self.s3_input.get("S3DataDistributionType") == "ShardedByS3Key")

    @property
    def is_gzipped(self) -> bool:
        return bool(self.s3_input.get("S3CompressionType") == "Gzip")


@dataclass(frozen=True)
class ProcessingOutput:
    """One ProcessingOutput to S3: the directory the job writes and where its files go."""

    name: str
    local_path: str
    s3_uri: str


@dataclass(frozen=True)
class ProcessingJobSpec:
    """What a processing job runs, read once from its CreateProcessingJob request as the service stored it."""

    image_uri: str
    entrypoint: tuple[str, ...]
    arguments: tuple[str, ...]
    environment: dict[str, str]
    instance_type: str
    instance_count: int
    max_runtime_in_seconds: int
    inputs: tuple[ProcessingInput, ...]
    outputs: tuple[ProcessingOutput, ...]
    volume_size_gb: int  # each host's scratch space
    network_isolation: bool  # NetworkConfig.EnableNetworkIsolation: the hosts reach nothing, not even each other

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> ProcessingJobSpec:
        app, cluster = request["AppSpecification"], request["ProcessingResources"]["ClusterConfig"]
        outputs = request.get("ProcessingOutputConfig", {}).get("Outputs", [])
        return cls(
            image_uri=app["ImageUri"], entrypoint=tuple(app.get("ContainerEntrypoint", ())),
            arguments=tuple(app.get("ContainerArguments", ())), environment=request.get("Environment", {}),
            instance_type=cluster["InstanceType"], instance_count=cluster["InstanceCount"],
            max_runtime_in_seconds=request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds",
                                                                            DEFAULT_MAX_RUNTIME_S),
            inputs=tuple(ProcessingInput(given["InputName"], given["S3Input"]["LocalPath"], given["S3Input"])
                         for given in request.get("ProcessingInputs", []) if "S3Input" in given),
            outputs=tuple(ProcessingOutput(given["OutputName"], given["S3Output"]["LocalPath"],
                                           given["S3Output"]["S3Uri"])
                          for given in outputs if "S3Output" in given),
            volume_size_gb=cluster["VolumeSizeInGB"],
            network_isolation=request.get("NetworkConfig", {}).get("EnableNetworkIsolation", False))


@dataclass(frozen=True)
class ProcessingJob:
    """A processing job as stored.

    `request` is the CreateProcessingJob request as the service stored it, kept to be echoed by
    DescribeProcessingJob; `spec` is what controllers read of it. `stop_requested` tells the
    controller that StopProcessingJob was called.
    """

    name: str
    arn: str
    request: dict[str, Any]
    spec: ProcessingJobSpec
    status: ProcessingJobStatus
    failure_reason: str | None
    exit_message: str | None
    creation_time: datetime
    last_modified_time: datetime
    processing_start_time: datetime | None
    processing_end_time: datetime | None
    stop_requested: bool


class ProcessingJobRepository(JobRepository[ProcessingJobRow, ProcessingJob]):
    """Processing jobs by name. Every method that writes is one transaction; times come from `clock`."""

    row, lifecycle, not_found = ProcessingJobRow, LIFECYCLE, ProcessingJobNotFound
    start_time, end_time = "processing_start_time", "processing_end_time"
    in_progress, stopping, stopped = (ProcessingJobStatus.IN_PROGRESS, ProcessingJobStatus.STOPPING,
                                      ProcessingJobStatus.STOPPED)

    def _record(self, row: ProcessingJobRow) -> ProcessingJob:
        return _job(row)

    def advance(self, name: str, status: ProcessingJobStatus, *, failure_reason: str | None = None,
                exit_message: str | None = None) -> ProcessingJob:
        """Move the job to `status` now (JobRepository._advance), recording `failure_reason` and `exit_message`
        when given (None keeps the stored ones)."""
        return self._advance(name, status, failure_reason=failure_reason, exit_message=exit_message)


def _job(row: ProcessingJobRow) -> ProcessingJob:
    return ProcessingJob(
        name=row.name, arn=row.arn, request=row.request, spec=ProcessingJobSpec.from_request(row.request),
        status=ProcessingJobStatus(row.status), failure_reason=row.failure_reason, exit_message=row.exit_message,
        creation_time=row.creation_time, last_modified_time=row.last_modified_time,
        processing_start_time=row.processing_start_time, processing_end_time=row.processing_end_time,
        stop_requested=row.stop_requested)
