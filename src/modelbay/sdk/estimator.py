"""Estimator: train with a framework's script mode or a bring-your-own image, as the SageMaker SDK's Estimator does."""

from __future__ import annotations

import json
import logging
import re
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelbay.sdk.session import Session
from modelbay.sdk.training_job import TrainingJob

FRAMEWORKS = ("sklearn", "xgboost", "pytorch", "python")
_VERSION_OPTIONAL = frozenset({"python"})  # plain Python needs no framework release
_MAX_NAME = 63  # TrainingJobName's length limit
_VOLUME_SIZE_GB = 30  # the SageMaker SDK's default


@dataclass(frozen=True)
class TrainingInput:
    """One channel's S3 data, as the SageMaker SDK's TrainingInput describes it."""

    s3_data: str
    content_type: str | None = None
    compression: str | None = None
    distribution: str = "FullyReplicated"
    s3_data_type: str = "S3Prefix"

    def channel(self, name: str) -> dict[str, Any]:
        """This input as a Channel of CreateTrainingJob's InputDataConfig."""
        source = {"S3DataType": self.s3_data_type, "S3Uri": _s3_uri(self.s3_data),
                  "S3DataDistributionType": self.distribution}
        optional = {"ContentType": self.content_type, "CompressionType": self.compression}
        return {"ChannelName": name, "DataSource": {"S3DataSource": source}} | {
            key: value for key, value in optional.items() if value is not None}


class Estimator:
    """Runs training jobs on the server: `fit()` creates one, waits for it and streams its logs.

    Give exactly one of `image_uri` (any image the server runs: a SageMaker framework image URI,
    `modelbay/<framework>`, or the path of a directory holding an executable `train`) or
    `framework` (one of FRAMEWORKS, with `framework_version`, which "python" may leave out): the
    image `modelbay/<framework>:<framework_version>`.
    With `entry_point` (a file, relative to `source_dir` when one is given) the job runs in
    script mode: the code is uploaded and hyperparameters are JSON-encoded as the SageMaker SDK does.
    """

    def __init__(self, image_uri: str | None = None, *, framework: str | None = None,
                 framework_version: str | None = None, entry_point: str | None = None,
                 source_dir: str | None = None, hyperparameters: Mapping[str, Any] | None = None,
                 instance_type: str = "ml.m5.large", instance_count: int = 1,
                 metric_definitions: list[dict[str, str]] | None = None, role: str | None = None,
                 output_path: str | None = None, max_run: int = 86400, environment: Mapping[str, str] | None = None,
                 base_job_name: str | None = None, session: Session | None = None) -> None:
        self.image_uri = _image(image_uri, framework, framework_version)
        _check_script_mode(framework, entry_point, source_dir)
        self.entry_point, self.source_dir = entry_point, source_dir
        self.hyperparameters = dict(hyperparameters or {})
        self.instance_type, self.instance_count = instance_type, instance_count
        self.metric_definitions = metric_definitions or []
        self.role, self.output_path, self.max_run = role, output_path, max_run
        self.environment = dict(environment or {})
        self.base_job_name = base_job_name or _base_name_from_image(self.image_uri)
        self.session = session or Session()
        self._latest: TrainingJob | None = None

    def fit(self, inputs: str | Mapping[str, str | TrainingInput] | None = None, wait: bool = True,
            logs: bool = True, job_name: str | None = None) -> None:
        """Create a training job reading `inputs`: an S3 URI (the "training" channel, as in the SageMaker SDK),
        or channel name → S3 URI or TrainingInput.

        With `wait`, return once it has ended, printing its progress and logs if `logs`;
        raise TrainingJobFailed if it failed.
        """
        name = job_name or _job_name(self.base_job_name)
        self.session.sagemaker.create_training_job(**self._request(name, _input_data_config(inputs)))
        self._latest = TrainingJob(self.session, name)
        if wait:
            self._latest.wait(logs)

    @property
    def latest_training_job(self) -> TrainingJob:
        """The job the last fit() created; RuntimeError before any."""
        if self._latest is None:
            raise RuntimeError("this estimator has not run a training job yet: call fit() first")
        return self._latest

    @property
    def model_data(self) -> str:
        """The S3 URI of the latest job's model.tar.gz; RuntimeError unless that job has completed (or stopped)."""
        job = self.latest_training_job.describe()
        if job["TrainingJobStatus"] not in ("Completed", "Stopped"):
            raise RuntimeError(f"training job {job['TrainingJobName']} is {job['TrainingJobStatus']}: "
                               "it has no model artifacts")
        return str(job["ModelArtifacts"]["S3ModelArtifacts"])

    def logs(self) -> None:
        """Print the latest job's progress and logs until it ends; raise TrainingJobFailed if it failed."""
        self.latest_training_job.wait(logs=True)

    def _request(self, name: str, channels: list[dict[str, Any]]) -> dict[str, Any]:
        """CreateTrainingJob's input for a job called `name`."""
        algorithm: dict[str, Any] = {"TrainingImage": self.image_uri, "TrainingInputMode": "File"}
        if self.metric_definitions:
            algorithm["MetricDefinitions"] = self.metric_definitions
        optional = {"HyperParameters": self._hyperparameters_for(name), "InputDataConfig": channels,
                    "Environment": self.environment}
        return {
            "TrainingJobName": name, "AlgorithmSpecification": algorithm,
            "RoleArn": self.role or f"arn:aws:iam::{self.session.account_id}:role/SageMakerRole",
            "OutputDataConfig": {"S3OutputPath": self.output_path or f"s3://{self.session.default_bucket()}/"},
            "ResourceConfig": {"InstanceType": self.instance_type, "InstanceCount": self.instance_count,
                               "VolumeSizeInGB": _VOLUME_SIZE_GB},
            "StoppingCondition": {"MaxRuntimeInSeconds": self.max_run},
        } | {key: value for key, value in optional.items() if value}

    def _hyperparameters_for(self, name: str) -> dict[str, str]:
        """Script mode: every value JSON-encoded plus the toolkit's reserved ones; otherwise str() of each."""
        if self.entry_point is None:
            return {key: str(value) for key, value in self.hyperparameters.items()}
        reserved: dict[str, Any] = {
            "sagemaker_program": self._program(), "sagemaker_submit_directory": self._upload_source(name),
            "sagemaker_container_log_level": logging.INFO, "sagemaker_job_name": name,
            "sagemaker_region": self.session.region}
        return {key: json.dumps(value) for key, value in (self.hyperparameters | reserved).items()}

    def _program(self) -> str:
        """The entry point as the toolkit finds it in the unpacked source dir."""
        assert self.entry_point is not None  # script mode only
        return self.entry_point if self.source_dir else Path(self.entry_point).name

    def _upload_source(self, name: str) -> str:
        """Upload sourcedir.tar.gz to `<default bucket>/<job>/source/` and return its S3 URI."""
        assert self.entry_point is not None  # script mode only
        bucket, key = self.session.default_bucket(), f"{name}/source/sourcedir.tar.gz"
        with tempfile.TemporaryDirectory(prefix="modelbay-source-") as scratch:
            archive = pack_source(self.entry_point, self.source_dir, Path(scratch) / "sourcedir.tar.gz")
            self.session.s3.upload_file(str(archive), bucket, key)
        return f"s3://{bucket}/{key}"


def pack_source(entry_point: str, source_dir: str | None, archive: Path) -> Path:
    """Write `source_dir`'s contents (or, without one, the entry point file alone) at the root of a
    gzipped tar at `archive`; return `archive`. ValueError if the entry point is not a file."""
    script = Path(source_dir, entry_point) if source_dir else Path(entry_point)
    if not script.is_file():
        raise ValueError(f"entry_point {entry_point!r} is not a file" + (f" in {source_dir}" if source_dir else ""))
    members = sorted(Path(source_dir).iterdir()) if source_dir else [script]
    with tarfile.open(archive, "w:gz") as tar:
        for member in members:
            tar.add(member, arcname=member.name)
    return archive


def _image(image_uri: str | None, framework: str | None, version: str | None) -> str:
    """The training image from exactly one of `image_uri` or `framework` (+ version); ValueError otherwise."""
    if (image_uri is None) == (framework is None):
        raise ValueError("give exactly one of image_uri or framework")
    if image_uri is not None:
        if version is not None:
            raise ValueError("framework_version goes with framework, not with image_uri")
        return image_uri
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework {framework!r} is not one of {', '.join(FRAMEWORKS)}")
    if version is None:
        if framework not in _VERSION_OPTIONAL:
            raise ValueError(f"framework {framework!r} needs a framework_version")
        return f"modelbay/{framework}"
    return f"modelbay/{framework}:{version}"


def _check_script_mode(framework: str | None, entry_point: str | None, source_dir: str | None) -> None:
    """A framework image runs the user's entry point, so it needs one; a source dir is only there for one."""
    if entry_point is None and framework is not None:
        raise ValueError(f"framework {framework!r} runs a script: give entry_point")
    if entry_point is None and source_dir is not None:
        raise ValueError("source_dir needs an entry_point")


def _input_data_config(inputs: str | Mapping[str, str | TrainingInput] | None) -> list[dict[str, Any]]:
    """InputDataConfig: a plain URI is the "training" channel, as in the SageMaker SDK."""
    channels = {"training": inputs} if isinstance(inputs, str) else dict(inputs or {})
    return [(data if isinstance(data, TrainingInput) else TrainingInput(data)).channel(name)
            for name, data in channels.items()]


def _s3_uri(uri: str) -> str:
    if not uri.startswith("s3://"):
        raise ValueError(f"training data must be an s3:// URI, not {uri!r}: upload local data with "
                         "Session.upload_data")
    return uri


def _base_name_from_image(image: str) -> str:
    """The image's repository name without registry or tag (`…/sagemaker-xgboost:1.7-1` → `sagemaker-xgboost`),
    as the SageMaker SDK derives it, with characters a job name cannot hold replaced by '-'."""
    repository = image.rstrip("/").rsplit("/", 1)[-1].split(":", 1)[0]
    return re.sub(r"[^a-zA-Z0-9]+", "-", repository).strip("-") or "training-job"


def _job_name(base: str, now: datetime | None = None) -> str:
    """`<base>-<UTC time to the millisecond>` (`sklearn-2026-11-25-10-33-26-123`), the base cut so the name
    stays within TrainingJobName's 63 characters."""
    moment = now or datetime.now(UTC)
    stamp = f"{moment:%Y-%m-%d-%H-%M-%S}-{moment.microsecond // 1000:03d}"
    return f"{base[:_MAX_NAME - len(stamp) - 1]}-{stamp}"
