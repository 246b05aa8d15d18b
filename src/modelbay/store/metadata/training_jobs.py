"""Training jobs: the request each was created with, what it runs, and its status history.

CreateTrainingJob and StopTrainingJob record what is wanted; the training controller moves jobs
through their statuses with `advance`, reading what to run from the job's TrainingJobSpec. Every
status change goes through `_move`, which checks it against LIFECYCLE. The table lives here:
nothing else refers to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.statuses import SecondaryStatus, TrainingJobStatus
from modelbay.store.metadata.lifecycle import IllegalTransition, Lifecycle
from modelbay.store.metadata.records import (
    ListFilter,
    RecordNotFound,
    Repository,
    StatusConflict,
    check_unique,
    find_row,
)
from modelbay.store.metadata.search_index import SearchDocument, indexes
from modelbay.store.metadata.tables import StatusRow, UtcDateTime

LIFECYCLE: Lifecycle[TrainingJobStatus] = Lifecycle({
    # MaxRuntimeExceeded ends a job Stopped without Stopping.
    TrainingJobStatus.IN_PROGRESS: frozenset({
        TrainingJobStatus.COMPLETED, TrainingJobStatus.FAILED, TrainingJobStatus.STOPPING, TrainingJobStatus.STOPPED}),
    # A job whose stop request raced its end ends as it would have.
    TrainingJobStatus.STOPPING: frozenset({
        TrainingJobStatus.STOPPED, TrainingJobStatus.COMPLETED, TrainingJobStatus.FAILED}),
    TrainingJobStatus.COMPLETED: frozenset(),
    TrainingJobStatus.FAILED: frozenset(),
    TrainingJobStatus.STOPPED: frozenset(),
    TrainingJobStatus.DELETING: frozenset(),  # modelbay does not enter it yet; SageMaker removes the job from there
})
# Entering one of these secondary statuses means the instances are up and the job's time counts.
TRAINING_PHASES = frozenset({SecondaryStatus.DOWNLOADING, SecondaryStatus.DOWNLOADING_TRAINING_IMAGE,
                             SecondaryStatus.TRAINING})
# A managed spot job's time counts (TrainingTimeInSeconds, the time billed) while it is in one of these.
RUNNING_PHASES = TRAINING_PHASES | {SecondaryStatus.UPLOADING, SecondaryStatus.STOPPING}
# The simulated spot price: 30 % of on demand, so a spot job's BillableTimeInSeconds is 30 % of its
# TrainingTimeInSeconds (SageMaker's savings, 1 - billable / training: 70 %, within the up to 90 % it advertises).
SPOT_SAVINGS = 0.7
STOPPING_MESSAGE = "Stopping the training job"
DEFAULT_CHECKPOINT_PATH = "/opt/ml/checkpoints"


class TrainingJobRow(StatusRow):
    """One training job: its request as given, and where it stands (see TrainingJob for each column).

    `transitions` and `final_metrics` hold JSON lists whose times are ISO 8601 strings in UTC.
    """

    __tablename__ = "training_jobs"

    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    secondary_status: Mapped[str] = mapped_column(String(32))
    transitions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    training_start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    training_end_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    model_artifacts: Mapped[str | None] = mapped_column(Text)
    final_metrics: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    stop_requested: Mapped[bool] = mapped_column(Boolean)
    # Managed spot training: when the running instances are to be interrupted (the interruption model's next
    # time, or now when asked), and while Interrupted, when capacity comes back.
    spot_interrupt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    spot_capacity_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # A tuning job's trial waiting for room on the machine: the training controller launches no held job.
    held: Mapped[bool] = mapped_column(Boolean)


class TrainingJobNotFound(RecordNotFound):
    """No training job has this name."""


@dataclass(frozen=True)
class MetricDefinition:
    """One AlgorithmSpecification.MetricDefinitions entry: a metric's name and the regex that finds it in the logs."""

    name: str
    regex: str


@dataclass(frozen=True)
class Channel:
    """One InputDataConfig channel, as staging reads it.

    `input_mode` is the channel's InputMode, else the job's TrainingInputMode. `s3_data_source`
    is the wire S3DataSource, passed whole to the listing of its objects; None for a channel of
    another kind (FileSystemDataSource, ...), which modelbay cannot stage.
    """

    name: str
    input_mode: str
    content_type: str | None
    record_wrapper_type: str
    s3_data_source: dict[str, Any] | None
    s3_data_distribution_type: str

    @classmethod
    def from_request(cls, channel: dict[str, Any], job_input_mode: str) -> Channel:
        s3 = channel["DataSource"].get("S3DataSource")
        return cls(name=channel["ChannelName"], input_mode=channel.get("InputMode", job_input_mode),
                   content_type=channel.get("ContentType"),
                   record_wrapper_type=channel.get("RecordWrapperType", "None"), s3_data_source=s3,
                   s3_data_distribution_type=(s3 or {}).get("S3DataDistributionType", "FullyReplicated"))

    @property
    def is_sharded(self) -> bool:
        """Whether each host gets its share of the objects (ShardedByS3Key) rather than all of them."""
        return self.s3_data_distribution_type == "ShardedByS3Key"


@dataclass(frozen=True)
class Checkpoint:
    """CheckpointConfig: where checkpoints are kept in the instance and in S3."""

    s3_uri: str
    local_path: str


@dataclass(frozen=True)
class TrainingJobSpec:
    """What a training job runs, read once from its stored CreateTrainingJob request.

    The request was validated and the defaults DescribeTrainingJob shows were filled in by the
    service (StoppingCondition.MaxRuntimeInSeconds among them): they are read here as stored. The
    defaults Describe does not show (a channel's RecordWrapperType and S3DataDistributionType,
    CheckpointConfig.LocalPath) are filled here, and only here. HyperParameters and Environment
    stay wire dicts: they are passed on whole.
    """

    training_image: str
    training_input_mode: str
    metric_definitions: tuple[MetricDefinition, ...]
    instance_type: str
    instance_count: int
    max_runtime_in_seconds: int
    s3_output_path: str
    channels: tuple[Channel, ...]
    hyper_parameters: dict[str, str]
    environment: dict[str, str]
    checkpoint: Checkpoint | None
    volume_size_gb: int | None  # each host's scratch space (None: the runtime's default)
    network_isolation: bool  # EnableNetworkIsolation: the hosts reach nothing, not even each other
    max_wait_time_in_seconds: int | None = None  # a managed spot job's (None: an on-demand job)
    output_kms_key_id: str | None = None  # OutputDataConfig.KmsKeyId: its outputs are written SSE-KMS under it

    @classmethod
    def from_request(cls, request: dict[str, Any]) -> TrainingJobSpec:
        algorithm, resources = request["AlgorithmSpecification"], request["ResourceConfig"]
        mode: str = algorithm["TrainingInputMode"]
        checkpoint = request.get("CheckpointConfig")
        return cls(
            training_image=algorithm["TrainingImage"], training_input_mode=mode,
            metric_definitions=tuple(MetricDefinition(d["Name"], d["Regex"])
                                     for d in algorithm.get("MetricDefinitions", [])),
            instance_type=resources["InstanceType"], instance_count=resources["InstanceCount"],
            max_runtime_in_seconds=request["StoppingCondition"]["MaxRuntimeInSeconds"],
            s3_output_path=request["OutputDataConfig"]["S3OutputPath"],
            channels=tuple(Channel.from_request(channel, mode) for channel in request.get("InputDataConfig", [])),
            hyper_parameters=request.get("HyperParameters", {}), environment=request.get("Environment", {}),
            checkpoint=None if checkpoint is None else Checkpoint(
                checkpoint["S3Uri"], checkpoint.get("LocalPath", DEFAULT_CHECKPOINT_PATH)),
            volume_size_gb=resources.get("VolumeSizeInGB"),
            network_isolation=request.get("EnableNetworkIsolation", False),
            max_wait_time_in_seconds=request["StoppingCondition"].get("MaxWaitTimeInSeconds")
            if request.get("EnableManagedSpotTraining") else None,
            output_kms_key_id=request["OutputDataConfig"].get("KmsKeyId") or None)


@dataclass(frozen=True)
class SecondaryStatusTransition:
    """One SecondaryStatus the job went through; `end_time` is None while it is the current one."""

    status: SecondaryStatus
    start_time: datetime
    end_time: datetime | None
    message: str


@dataclass(frozen=True)
class MetricDatum:
    """A metric's final value, as FinalMetricDataList reports it."""

    name: str
    value: float
    timestamp: datetime


@dataclass(frozen=True)
class TrainingJob:
    """A training job as stored.

    `request` is the CreateTrainingJob request as the service stored it (JSON values only,
    defaults filled in), kept to echo it in DescribeTrainingJob; `spec` is what the controller
    reads of it. `model_artifacts` is the S3 URI of model.tar.gz once uploaded; `stop_requested`
    tells the controller that StopTrainingJob was called; `held`, that the job waits (a tuning job's trial
    waiting for capacity) and is not to be launched yet.
    """

    name: str
    arn: str
    request: dict[str, Any]
    spec: TrainingJobSpec
    status: TrainingJobStatus
    secondary_status: SecondaryStatus
    transitions: tuple[SecondaryStatusTransition, ...]
    creation_time: datetime
    last_modified_time: datetime
    training_start_time: datetime | None
    training_end_time: datetime | None
    failure_reason: str | None
    model_artifacts: str | None
    final_metrics: tuple[MetricDatum, ...]
    stop_requested: bool
    spot_interrupt_at: datetime | None = None
    spot_capacity_at: datetime | None = None
    held: bool = False

    @property
    def is_spot(self) -> bool:
        """Whether the job runs on managed spot instances (EnableManagedSpotTraining)."""
        return self.spec.max_wait_time_in_seconds is not None

    @property
    def interruptions(self) -> int:
        """How many times spot capacity was taken back from the job."""
        return sum(t.status is SecondaryStatus.INTERRUPTED for t in self.transitions)

    def running_seconds(self, now: datetime) -> float:
        """The time the job's instances have run, interruptions and waits for capacity left out: its time in
        RUNNING_PHASES, up to its end (or `now` while it runs)."""
        until = self.training_end_time or now
        return sum(((t.end_time or until) - t.start_time).total_seconds()
                   for t in self.transitions if t.status in RUNNING_PHASES)


TrainingJobFilter = ListFilter  # ListTrainingJobs' filters


class TrainingJobRepository(Repository[TrainingJobRow, TrainingJob]):
    """Training jobs by name. Every method that writes is one transaction; times come from `clock`."""

    row, lifecycle, not_found = TrainingJobRow, LIFECYCLE, TrainingJobNotFound

    def _record(self, row: TrainingJobRow) -> TrainingJob:
        return _job(row)

    def create(self, name: str, arn: str, request: dict[str, Any], secondary_status: SecondaryStatus,
               message: str, *, held: bool = False) -> TrainingJob:
        """Store a new job, InProgress in `secondary_status` since now; `held`, it waits for `release`.

        Raises RecordExists, writing nothing, if a job has this name or this ARN.
        """
        now = self._clock()
        with self._db.write(lock="training-jobs create") as session:
            check_unique(session, TrainingJobRow, name, arn)
            row = TrainingJobRow(
                name=name, arn=arn, request=request, status=TrainingJobStatus.IN_PROGRESS,
                secondary_status=secondary_status, transitions=[_transition_json(secondary_status, now, message)],
                creation_time=now, last_modified_time=now, final_metrics=[], stop_requested=False, held=held)
            session.add(row)
            session.flush()
            return _job(row)

    def advance(self, name: str, status: TrainingJobStatus, *, secondary: SecondaryStatus, message: str,
                failure_reason: str | None = None, model_artifacts: str | None = None,
                final_metrics: Sequence[MetricDatum] | None = None, interrupt_at: datetime | None = None,
                capacity_at: datetime | None = None) -> TrainingJob:
        """Move the job to `status` / `secondary` now, and record what is given (None keeps what is stored).

        A new secondary status ends the current transition and opens another; the same one
        only replaces the current transition's message. TrainingStartTime is set on first
        entering a TRAINING_PHASES status, TrainingEndTime on reaching an ended status.
        Managed spot: `interrupt_at` schedules an interruption of the running instances (the earliest one
        scheduled or asked for holds); entering Interrupted clears it, and records `capacity_at`.
        Raises TrainingJobNotFound, or IllegalTransition for a move LIFECYCLE does not allow
        (an ended job records nothing more).
        """
        with self._db.write(lock=self._lock(name)) as session:
            row = _find(session, name)
            # StopTrainingJob overtook the controller: a preparation finishing late does not undo it.
            if row.stop_requested and status is TrainingJobStatus.IN_PROGRESS:
                return _job(row)
            _move(row, status, secondary, message, self._clock())
            row.failure_reason = failure_reason if failure_reason is not None else row.failure_reason
            row.model_artifacts = model_artifacts if model_artifacts is not None else row.model_artifacts
            if final_metrics is not None:
                row.final_metrics = [_metric_json(datum) for datum in final_metrics]
            if interrupt_at is not None:
                row.spot_interrupt_at = min(filter(None, (row.spot_interrupt_at, interrupt_at)))
            if secondary is SecondaryStatus.INTERRUPTED:
                row.spot_interrupt_at, row.spot_capacity_at = None, capacity_at
            return _job(row)

    def request_interruption(self, name: str) -> TrainingJob:
        """Interrupt a managed spot job's instances now, as when spot capacity is taken back (the controller
        acts on it once they run).

        Raises TrainingJobNotFound, or StatusConflict (its status the secondary one) unless the job is InProgress
        and not Interrupted already.
        """
        with self._db.write(lock=self._lock(name)) as session:
            row = _find(session, name)
            if row.status != TrainingJobStatus.IN_PROGRESS or row.secondary_status == SecondaryStatus.INTERRUPTED:
                raise StatusConflict(name, row.secondary_status)
            now = self._clock()
            row.spot_interrupt_at = min(filter(None, (row.spot_interrupt_at, now)))
            return _job(row)

    def hold(self, name: str, message: str) -> TrainingJob:
        """Keep a job that has not started from being launched, saying why in its Starting transition's message
        (a held job's message only changes). A job that has started or ended is left as it is.

        Raises TrainingJobNotFound.
        """
        with self._db.write(lock=self._lock(name)) as session:
            row = _find(session, name)
            if _waits(row) and (not row.held or row.transitions[-1]["StatusMessage"] != message):
                row.held = True
                _move(row, TrainingJobStatus.IN_PROGRESS, SecondaryStatus.STARTING, message, self._clock())
            return _job(row)

    def release(self, name: str, message: str) -> TrainingJob:
        """Let a held job be launched, its Starting transition's message now `message`; any other job is left as
        it is. Raises TrainingJobNotFound."""
        with self._db.write(lock=self._lock(name)) as session:
            row = _find(session, name)
            if row.held:
                row.held = False
                if _waits(row):
                    _move(row, TrainingJobStatus.IN_PROGRESS, SecondaryStatus.STARTING, message, self._clock())
            return _job(row)

    def request_stop(self, name: str) -> TrainingJob:
        """StopTrainingJob: mark an InProgress job stop-requested and move it to Stopping / Stopping.

        Raises TrainingJobNotFound, or StatusConflict if the job's status does not allow stopping.
        """
        with self._stop_requested(name, TrainingJobStatus.STOPPING) as row:
            _move(row, TrainingJobStatus.STOPPING, SecondaryStatus.STOPPING, STOPPING_MESSAGE, self._clock())
            return _job(row)


def _find(session: Session, name: str) -> TrainingJobRow:
    return find_row(session, TrainingJobRow, name, TrainingJobNotFound)


def _waits(row: TrainingJobRow) -> bool:
    """Whether the job has not been launched yet, nor asked to stop: InProgress and Starting."""
    return row.status == TrainingJobStatus.IN_PROGRESS and row.secondary_status == SecondaryStatus.STARTING


def _move(row: TrainingJobRow, status: TrainingJobStatus, secondary: SecondaryStatus, message: str,
          now: datetime) -> None:
    """The one write of a job's status: checked against LIFECYCLE, with its secondary status and times."""
    LIFECYCLE.check(row.name, row.status, status)
    if row.status in LIFECYCLE.ended:  # staying is no move, but an ended job records nothing more either
        raise IllegalTransition(row.name, row.status, status)
    transitions = [dict(transition) for transition in row.transitions]  # a new list, so the JSON column updates
    if transitions[-1]["Status"] == secondary:
        transitions[-1]["StatusMessage"] = message
    else:
        transitions[-1]["EndTime"] = now.isoformat()
        transitions.append(_transition_json(secondary, now, message))
    row.transitions = transitions
    row.status, row.secondary_status, row.last_modified_time = status, secondary, now
    if row.training_start_time is None and secondary in TRAINING_PHASES:
        row.training_start_time = now
    if status in LIFECYCLE.ended:
        row.training_end_time = now


def _transition_json(status: SecondaryStatus, start: datetime, message: str) -> dict[str, Any]:
    return {"Status": str(status), "StartTime": start.isoformat(), "EndTime": None, "StatusMessage": message}


def _metric_json(datum: MetricDatum) -> dict[str, Any]:
    return {"MetricName": datum.name, "Value": datum.value, "Timestamp": datum.timestamp.isoformat()}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _job(row: TrainingJobRow) -> TrainingJob:
    transitions = tuple(SecondaryStatusTransition(SecondaryStatus(t["Status"]), _time(t["StartTime"]),
                                                  t["EndTime"] and _time(t["EndTime"]), t["StatusMessage"])
                        for t in row.transitions)
    metrics = tuple(MetricDatum(m["MetricName"], m["Value"], _time(m["Timestamp"])) for m in row.final_metrics)
    return TrainingJob(
        name=row.name, arn=row.arn, request=row.request, spec=TrainingJobSpec.from_request(row.request),
        status=TrainingJobStatus(row.status), secondary_status=SecondaryStatus(row.secondary_status),
        transitions=transitions, creation_time=row.creation_time, last_modified_time=row.last_modified_time,
        training_start_time=row.training_start_time, training_end_time=row.training_end_time,
        failure_reason=row.failure_reason, model_artifacts=row.model_artifacts, final_metrics=metrics,
        stop_requested=row.stop_requested, spot_interrupt_at=row.spot_interrupt_at,
        spot_capacity_at=row.spot_capacity_at, held=row.held)


@indexes(TrainingJobRow)
def _search_documents(session: Session, row: TrainingJobRow) -> Iterable[SearchDocument]:
    """The job as Search's TrainingJob: the stored request's members (TuningJobArn for a tuning job's trial), its
    state and times, and its final metrics both as FinalMetricDataList and as "Metrics": {name: value}, the map
    that "Metrics.<name>" filters read."""
    metrics = [{"MetricName": m["MetricName"], "Value": m["Value"], "Timestamp": _time(m["Timestamp"])}
               for m in row.final_metrics]
    properties = row.request | {
        "TrainingJobName": row.name, "TrainingJobArn": row.arn, "TrainingJobStatus": row.status,
        "SecondaryStatus": row.secondary_status, "CreationTime": row.creation_time,
        "LastModifiedTime": row.last_modified_time, "TrainingStartTime": row.training_start_time,
        "TrainingEndTime": row.training_end_time, "FailureReason": row.failure_reason,
        "ModelArtifacts": {"S3ModelArtifacts": row.model_artifacts}, "FinalMetricDataList": metrics,
        "Metrics": {m["MetricName"]: m["Value"] for m in row.final_metrics}}
    return [SearchDocument("TrainingJob", row.arn, properties)]
