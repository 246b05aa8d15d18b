"""Batch transform jobs: the request each was created with and where it stands, for services and controllers.

CreateTransformJob and StopTransformJob record what is wanted; the transform controller moves
jobs through their statuses (LIFECYCLE) with `advance`. Every status change goes through `_move`,
which checks it against LIFECYCLE. The table lives here: nothing else refers to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean
from sqlalchemy.orm import Mapped, mapped_column

from modelbay.statuses import TransformJobStatus
from modelbay.store.metadata.lifecycle import Lifecycle
from modelbay.store.metadata.records import (
    JobRepository,
    RecordNotFound,
)
from modelbay.store.metadata.tables import StatusRow, UtcDateTime

# What SageMaker does when the request leaves these out and DescribeTransformJob does not show it.
DEFAULT_BATCH_STRATEGY = "MultiRecord"
DEFAULT_MAX_CONCURRENT_TRANSFORMS = 1  # also when 0 is given: modelbay does not ask /execution-parameters
DEFAULT_TIMEOUT_S = 600.0  # ModelClientConfig.InvocationsTimeoutInSeconds
DEFAULT_RETRIES = 3  # ModelClientConfig.InvocationsMaxRetries


LIFECYCLE: Lifecycle[TransformJobStatus] = Lifecycle({
    TransformJobStatus.IN_PROGRESS: frozenset({TransformJobStatus.COMPLETED, TransformJobStatus.FAILED,
                                               TransformJobStatus.STOPPING}),
    TransformJobStatus.STOPPING: frozenset({TransformJobStatus.STOPPED}),  # a stop request wins
    TransformJobStatus.COMPLETED: frozenset(),
    TransformJobStatus.FAILED: frozenset(),
    TransformJobStatus.STOPPED: frozenset(),
})


class TransformJobRow(StatusRow):
    """One transform job (see TransformJob for each column)."""

    __tablename__ = "transform_jobs"

    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    transform_start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    transform_end_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stop_requested: Mapped[bool] = mapped_column(Boolean)


class TransformJobNotFound(RecordNotFound):
    """No transform job has this name."""


@dataclass(frozen=True)
class TransformJobSpec:
    """What a transform job runs, read once from its CreateTransformJob request as the service stored it.

    The service fills in the defaults DescribeTransformJob shows (MaxPayloadInMB, TransformInput's
    SplitType, TransformOutput's AssembleWith, DataProcessing's filters and JoinSource); the others
    are filled in here. `s3_data_source` is TransformInput's S3DataSource wire dict, for staging.
    """

    model_name: str
    instance_type: str
    instance_count: int
    environment: dict[str, str]
    max_payload_mb: int  # 0: no limit
    batch_strategy: str  # MultiRecord or SingleRecord
    max_concurrent_transforms: int  # requests in flight per host
    invocations_timeout_s: float
    invocations_max_retries: int
    s3_data_source: dict[str, Any]
    s3_uri: str  # the S3DataSource's S3Uri
    content_type: str | None
    split_type: str  # None or Line
    s3_output_path: str
    accept: str | None
    assemble_with: str  # None or Line
    input_filter: str  # JSONPath
    output_filter: str  # JSONPath
    join_source: str  # None or Input

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> TransformJobSpec:
        given, output, processing = request["TransformInput"], request["TransformOutput"], request["DataProcessing"]
        resources, client = request["TransformResources"], request.get("ModelClientConfig", {})
        s3_data_source: dict[str, Any] = given["DataSource"]["S3DataSource"]
        return cls(
            model_name=request["ModelName"], instance_type=resources["InstanceType"],
            instance_count=resources["InstanceCount"], environment=request.get("Environment", {}),
            max_payload_mb=request["MaxPayloadInMB"],
            batch_strategy=request.get("BatchStrategy", DEFAULT_BATCH_STRATEGY),
            max_concurrent_transforms=request.get("MaxConcurrentTransforms") or DEFAULT_MAX_CONCURRENT_TRANSFORMS,
            invocations_timeout_s=float(client.get("InvocationsTimeoutInSeconds", DEFAULT_TIMEOUT_S)),
            invocations_max_retries=client.get("InvocationsMaxRetries", DEFAULT_RETRIES),
            s3_data_source=s3_data_source, s3_uri=s3_data_source["S3Uri"], content_type=given.get("ContentType"),
            split_type=given["SplitType"], s3_output_path=output["S3OutputPath"], accept=output.get("Accept"),
            assemble_with=output["AssembleWith"], input_filter=processing["InputFilter"],
            output_filter=processing["OutputFilter"], join_source=processing["JoinSource"])


@dataclass(frozen=True)
class TransformJob:
    """A transform job as stored.

    `request` is the CreateTransformJob request as the service stored it (JSON values only,
    defaults filled in), kept to be echoed by DescribeTransformJob; `spec` is what controllers read
    of it. `stop_requested` tells the controller that StopTransformJob was called.
    """

    name: str
    arn: str
    request: dict[str, Any]
    spec: TransformJobSpec
    status: TransformJobStatus
    failure_reason: str | None
    creation_time: datetime
    last_modified_time: datetime
    transform_start_time: datetime | None
    transform_end_time: datetime | None
    stop_requested: bool


class TransformJobRepository(JobRepository[TransformJobRow, TransformJob]):
    """Transform jobs by name. Every method that writes is one transaction; times come from `clock`."""

    row, lifecycle, not_found = TransformJobRow, LIFECYCLE, TransformJobNotFound
    start_time, end_time = "transform_start_time", "transform_end_time"
    in_progress, stopping, stopped = (TransformJobStatus.IN_PROGRESS, TransformJobStatus.STOPPING,
                                      TransformJobStatus.STOPPED)

    def _record(self, row: TransformJobRow) -> TransformJob:
        return _job(row)

    def advance(self, name: str, status: TransformJobStatus, *, failure_reason: str | None = None) -> TransformJob:
        """Move the job to `status` now (JobRepository._advance), recording `failure_reason` when given (None keeps the
        stored one)."""
        return self._advance(name, status, failure_reason=failure_reason)


def _job(row: TransformJobRow) -> TransformJob:
    return TransformJob(
        name=row.name, arn=row.arn, request=row.request, spec=TransformJobSpec.from_request(row.request),
        status=TransformJobStatus(row.status), failure_reason=row.failure_reason, creation_time=row.creation_time,
        last_modified_time=row.last_modified_time, transform_start_time=row.transform_start_time,
        transform_end_time=row.transform_end_time, stop_requested=row.stop_requested)
