"""Compilation jobs (SageMaker Neo): the request each was created with and where it stands, for services and
controllers.

CreateCompilationJob and StopCompilationJob record what is wanted; the compilation controller moves jobs
through their statuses (LIFECYCLE) with `advance`: Starting while the compiler's host is prepared, InProgress
while it compiles, then Completed with the compiled model's artifact and digest. Every status change goes
through `_move`, which checks it against LIFECYCLE. The table lives here: nothing else refers to it.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from modelbay.statuses import CompilationJobStatus
from modelbay.store.metadata.lifecycle import Lifecycle
from modelbay.store.metadata.records import (
    JobRepository,
    RecordNotFound,
    StatusConflict,
    check_unique,
    delete_tags,
    find_row,
)
from modelbay.store.metadata.tables import StatusRow, UtcDateTime

_S = CompilationJobStatus
DEFAULT_MAX_RUNTIME_S = 86400  # StoppingCondition.MaxRuntimeInSeconds when the request leaves it out (a day)
# Compilation is a managed service (the request names no instance): the compiler runs on one host of this type.
COMPILER_INSTANCE_TYPE = "ml.c5.xlarge"
ARCHIVE_SUFFIX = ".tar.gz"

LIFECYCLE: Lifecycle[CompilationJobStatus] = Lifecycle({
    _S.STARTING: frozenset({_S.INPROGRESS, _S.FAILED, _S.STOPPING}),
    _S.INPROGRESS: frozenset({_S.COMPLETED, _S.FAILED, _S.STOPPING}),
    _S.STOPPING: frozenset({_S.STOPPED}),  # a stop request wins
    _S.COMPLETED: frozenset(),
    _S.FAILED: frozenset(),
    _S.STOPPED: frozenset(),
})


class CompilationJobRow(StatusRow):
    """One compilation job (see CompilationJob for each column)."""

    __tablename__ = "compilation_jobs"

    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    inference_image: Mapped[str | None] = mapped_column(Text)
    compilation_start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    compilation_end_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stop_requested: Mapped[bool] = mapped_column(Boolean)
    model_artifact: Mapped[str | None] = mapped_column(String(1024), index=True)
    artifact_digest: Mapped[str | None] = mapped_column(String(64))
    derived_information: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class CompilationJobNotFound(RecordNotFound):
    """No compilation job has this name."""


@dataclass(frozen=True)
class CompilationJobSpec:
    """What a compilation job compiles and for which target, read once from its CreateCompilationJob request as the
    service stored it. The instance members are what a host job's passes read (controllers/host_jobs.py)."""

    model_uri: str  # InputConfig.S3Uri: the model archive, as training wrote it
    framework: str  # InputConfig.Framework: XGBOOST, SKLEARN, ...
    framework_version: str | None
    data_input_config: str | None
    output_config: dict[str, Any]  # the request's OutputConfig: what compilation_targets.resolve reads
    max_runtime_in_seconds: int
    instance_type: str = COMPILER_INSTANCE_TYPE
    instance_count: int = 1
    volume_size_gb: int | None = None
    network_isolation: bool = False

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> CompilationJobSpec:
        given = request["InputConfig"]
        return cls(model_uri=given["S3Uri"], framework=given["Framework"],
                   framework_version=given.get("FrameworkVersion"), data_input_config=given.get("DataInputConfig"),
                   output_config=request["OutputConfig"],
                   max_runtime_in_seconds=request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds",
                                                                                   DEFAULT_MAX_RUNTIME_S))

    @property
    def target_device(self) -> str | None:
        """OutputConfig.TargetDevice ("ml_c5"); None when the job names a TargetPlatform."""
        device: str | None = self.output_config.get("TargetDevice")
        return device

    @property
    def target_name(self) -> str:
        """The target as the artifact's name says it: the TargetDevice, else the platform's Os_Arch[_Accelerator]."""
        if self.target_device is not None:
            return self.target_device
        platform = self.output_config.get("TargetPlatform", {})
        return "_".join(platform[key] for key in ("Os", "Arch", "Accelerator") if key in platform)

    @property
    def compiler_options(self) -> str | None:
        options: str | None = self.output_config.get("CompilerOptions")
        return options

    @property
    def kms_key_id(self) -> str | None:
        """OutputConfig.KmsKeyId: the compiled model is written SSE-KMS under it."""
        key_id: str | None = self.output_config.get("KmsKeyId")
        return key_id

    @property
    def model_artifact(self) -> str:
        """Where the compiled model goes, as SageMaker names it: <S3OutputLocation>/<the input archive's name without
        .tar.gz>-<target>.tar.gz (model.tar.gz compiled for ml_c5 → model-ml_c5.tar.gz)."""
        base = posixpath.basename(self.model_uri.rstrip("/"))
        stem = base[:-len(ARCHIVE_SUFFIX)] if base.endswith(ARCHIVE_SUFFIX) else base
        return f"{self.output_config['S3OutputLocation'].rstrip('/')}/{stem}-{self.target_name}{ARCHIVE_SUFFIX}"


@dataclass(frozen=True)
class CompilationJob:
    """A compilation job as stored.

    `request` is the CreateCompilationJob request as the service stored it, kept to be echoed by
    DescribeCompilationJob; `spec` is what controllers read of it. `model_artifact` and `artifact_digest` (sha256
    hex of the artifact's bytes) are set when the job completes; `derived_information` is DescribeCompilationJob's
    DerivedInformation, from what the compiler found. `stop_requested` tells the controller that
    StopCompilationJob was called.
    """

    name: str
    arn: str
    request: dict[str, Any]
    spec: CompilationJobSpec
    status: CompilationJobStatus
    failure_reason: str | None
    inference_image: str | None
    creation_time: datetime
    last_modified_time: datetime
    compilation_start_time: datetime | None
    compilation_end_time: datetime | None
    stop_requested: bool
    model_artifact: str | None
    artifact_digest: str | None
    derived_information: dict[str, Any] | None

    @property
    def target_device(self) -> str | None:
        """The TargetDevice compiled for ("ml_c5"); None when the job named a TargetPlatform."""
        return self.spec.target_device


CompilationJobRecord = CompilationJob  # the name the serving side knows it by


class CompilationJobRepository(JobRepository[CompilationJobRow, CompilationJob]):
    """Compilation jobs by name. Every method that writes is one transaction; times come from `clock`."""

    row, lifecycle, not_found = CompilationJobRow, LIFECYCLE, CompilationJobNotFound
    start_time, end_time = "compilation_start_time", "compilation_end_time"
    in_progress, stopping, stopped = _S.INPROGRESS, _S.STOPPING, _S.STOPPED

    def _record(self, row: CompilationJobRow) -> CompilationJob:
        return _job(row)

    def create(self, name: str, arn: str, request: dict[str, Any],
               inference_image: str | None = None) -> CompilationJob:
        """Store a new job, Starting since now (InProgress once its compiler runs), with the InferenceImage its
        target has. Raises RecordExists, writing nothing, if a job has this name or ARN."""
        now = self._clock()
        with self._db.write(lock="compilation_jobs create") as session:
            check_unique(session, CompilationJobRow, name, arn)
            row = CompilationJobRow(name=name, arn=arn, request=request, status=_S.STARTING,
                                    inference_image=inference_image, creation_time=now, last_modified_time=now,
                                    stop_requested=False)
            session.add(row)
            return _job(row)

    def advance(self, name: str, status: CompilationJobStatus, *, failure_reason: str | None = None,
                model_artifact: str | None = None, artifact_digest: str | None = None,
                derived_information: dict[str, Any] | None = None) -> CompilationJob:
        """Move the job to `status` now (JobRepository._advance: InProgress sets CompilationStartTime), recording
        what is given (None keeps what is stored)."""
        return self._advance(name, status, failure_reason=failure_reason, model_artifact=model_artifact,
                             artifact_digest=artifact_digest, derived_information=derived_information)

    def by_model_artifact(self, s3_uri: str) -> CompilationJob | None:
        """The Completed job whose ModelArtifacts.S3ModelArtifacts is `s3_uri` (the newest, should several have
        written there), or None: how serving knows a compiled model and the target it was compiled for."""
        query = (select(CompilationJobRow).where(CompilationJobRow.model_artifact == s3_uri,
                                                 CompilationJobRow.status == _S.COMPLETED)
                 .order_by(CompilationJobRow.id.desc()).limit(1))
        with self._db.read() as session:
            found = session.scalar(query)
            return None if found is None else _job(found)

    def delete(self, name: str) -> CompilationJob:
        """Remove an ended job and its tags (its artifact and logs stay); answer what was removed.

        Raises CompilationJobNotFound, or StatusConflict while it has not ended (Starting, InProgress, Stopping).
        """
        with self._db.write(lock=self._lock(name)) as session:
            row = find_row(session, CompilationJobRow, name, CompilationJobNotFound)
            if row.status not in LIFECYCLE.ended:
                raise StatusConflict(name, row.status)
            delete_tags(session, row.arn)
            session.delete(row)
            return _job(row)


def _job(row: CompilationJobRow) -> CompilationJob:
    return CompilationJob(
        name=row.name, arn=row.arn, request=row.request, spec=CompilationJobSpec.from_request(row.request),
        status=_S(row.status), failure_reason=row.failure_reason, inference_image=row.inference_image,
        creation_time=row.creation_time, last_modified_time=row.last_modified_time,
        compilation_start_time=row.compilation_start_time, compilation_end_time=row.compilation_end_time,
        stop_requested=row.stop_requested, model_artifact=row.model_artifact, artifact_digest=row.artifact_digest,
        derived_information=row.derived_information)
