"""What the trial component of a training, processing or transform job shows, read from the job's own row.

SageMaker gives every such job a trial component, `<job>-aws-training-job` (-processing-job, -transform-job),
whose status, times, parameters, artifacts and metrics follow the job. They are derived here from the job's
record whenever the component is read or indexed, never copied on each of the job's changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelbay.store.metadata.processing_jobs import ProcessingJobRow
from modelbay.store.metadata.tables import StatusRow
from modelbay.store.metadata.training_jobs import TrainingJobRow
from modelbay.store.metadata.transform_jobs import TransformJobRow

Artifacts = dict[str, dict[str, str]]


@dataclass(frozen=True)
class MetricPoint:
    """One value of a metric, as BatchPutMetrics logs it or a job reports it."""

    name: str
    value: float
    timestamp: datetime
    step: int | None = None


@dataclass(frozen=True)
class JobView:
    """The members of a job's trial component that follow the job (TrialComponent's wire names in the docstring)."""

    status: dict[str, str]  # Status: {PrimaryStatus, Message}
    start_time: datetime | None
    end_time: datetime | None
    parameters: dict[str, dict[str, Any]]  # Parameters: {name: {StringValue | NumberValue}}
    input_artifacts: Artifacts  # {name: {Value[, MediaType]}}
    output_artifacts: Artifacts
    display_name: str | None  # ExperimentConfig.TrialComponentDisplayName
    metrics: tuple[MetricPoint, ...] = field(default=())  # the job's final metrics


@dataclass(frozen=True)
class JobKind:
    """One kind of job that makes trial components: its SourceType, its components' name suffix, its row."""

    source_type: str
    suffix: str
    row: type[StatusRow]
    view: Callable[[Any], JobView]

    def component_name(self, job_name: str) -> str:
        return f"{job_name}{self.suffix}"


def parameter(value: str | float) -> dict[str, Any]:
    """A TrialComponentParameterValue: NumberValue for what reads as a number, else StringValue."""
    try:
        return {"NumberValue": float(value)}
    except ValueError:
        return {"StringValue": str(value)}


def _resources(resources: dict[str, Any], image: str | None) -> dict[str, dict[str, Any]]:
    """The SageMaker.* parameters SageMaker records of a job's instances and image."""
    given = {"SageMaker.InstanceType": resources.get("InstanceType"),
             "SageMaker.InstanceCount": resources.get("InstanceCount"),
             "SageMaker.VolumeSizeInGB": resources.get("VolumeSizeInGB"), "SageMaker.ImageUri": image}
    return {key: parameter(value) for key, value in given.items() if value is not None}


def _status(row: StatusRow, message: str | None) -> dict[str, str]:
    status = {"PrimaryStatus": row.status}
    return status | {"Message": message} if message else status


def _training(row: TrainingJobRow) -> JobView:
    request = row.request
    image = request["AlgorithmSpecification"].get("TrainingImage")
    channels = {channel["ChannelName"]: {"Value": channel["DataSource"]["S3DataSource"]["S3Uri"]}
                for channel in request.get("InputDataConfig", []) if "S3DataSource" in channel["DataSource"]}
    message = row.failure_reason or (row.transitions[-1]["StatusMessage"] if row.transitions else None)
    return JobView(
        status=_status(row, message), start_time=row.training_start_time, end_time=row.training_end_time,
        parameters={key: parameter(value) for key, value in request.get("HyperParameters", {}).items()}
        | _resources(request.get("ResourceConfig", {}), image),
        input_artifacts=({"SageMaker.ImageUri": {"Value": image}} if image else {}) | channels,
        output_artifacts={"SageMaker.ModelArtifact": {"Value": row.model_artifacts}} if row.model_artifacts else {},
        display_name=request.get("ExperimentConfig", {}).get("TrialComponentDisplayName"),
        metrics=tuple(MetricPoint(metric["MetricName"], metric["Value"], datetime.fromisoformat(metric["Timestamp"]))
                      for metric in row.final_metrics))


def _processing(row: ProcessingJobRow) -> JobView:
    request = row.request
    image = request["AppSpecification"]["ImageUri"]
    inputs = {given["InputName"]: {"Value": given["S3Input"]["S3Uri"]}
              for given in request.get("ProcessingInputs", []) if "S3Input" in given}
    outputs = {given["OutputName"]: {"Value": given["S3Output"]["S3Uri"]}
               for given in request.get("ProcessingOutputConfig", {}).get("Outputs", []) if "S3Output" in given}
    return JobView(
        status=_status(row, row.failure_reason or row.exit_message), start_time=row.processing_start_time,
        end_time=row.processing_end_time,
        parameters=_resources(request["ProcessingResources"]["ClusterConfig"], image),
        input_artifacts={"SageMaker.ImageUri": {"Value": image}} | inputs, output_artifacts=outputs,
        display_name=request.get("ExperimentConfig", {}).get("TrialComponentDisplayName"))


def _transform(row: TransformJobRow) -> JobView:
    request = row.request
    source = request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    return JobView(
        status=_status(row, row.failure_reason), start_time=row.transform_start_time,
        end_time=row.transform_end_time,
        parameters=_resources(request["TransformResources"], None) | {
            "SageMaker.ModelName": parameter(request["ModelName"])},
        input_artifacts={"SageMaker.TransformInput": {"Value": source}},
        output_artifacts={"SageMaker.TransformOutput": {"Value": request["TransformOutput"]["S3OutputPath"]}},
        display_name=request.get("ExperimentConfig", {}).get("TrialComponentDisplayName"))


TRAINING = JobKind("SageMakerTrainingJob", "-aws-training-job", TrainingJobRow, _training)
PROCESSING = JobKind("SageMakerProcessingJob", "-aws-processing-job", ProcessingJobRow, _processing)
TRANSFORM = JobKind("SageMakerTransformJob", "-aws-transform-job", TransformJobRow, _transform)
JOB_KINDS = {kind.source_type: kind for kind in (TRAINING, PROCESSING, TRANSFORM)}


def job_view(session: Session, source_type: str | None, source_arn: str | None) -> JobView | None:
    """What the job a trial component comes from shows now; None for a component no job made (or whose job is
    gone)."""
    row = _job_row(session, source_type, source_arn)
    return None if row is None else JOB_KINDS[str(source_type)].view(row)


def job_creation_time(session: Session, source: dict[str, str] | None) -> datetime | None:
    """When the job of a trial component's Source was created; None if it names no job."""
    row = _job_row(session, (source or {}).get("SourceType"), (source or {}).get("SourceArn"))
    return None if row is None else row.creation_time


def _job_row(session: Session, source_type: str | None, source_arn: str | None) -> StatusRow | None:
    kind = JOB_KINDS.get(source_type or "")
    if kind is None:
        return None
    with session.no_autoflush:
        return session.scalar(select(kind.row).where(kind.row.arn == source_arn))
