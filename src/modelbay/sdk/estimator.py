"""Estimator: train with a framework's script mode or a bring-your-own image, then deploy the model, as the
SageMaker SDK's Estimator does."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelbay.sdk.frameworks import image_for
from modelbay.sdk.model import Model
from modelbay.sdk.names import base_name_from_image, name_from_base
from modelbay.sdk.predictor import Predictor
from modelbay.sdk.serializers import Deserializer, Serializer
from modelbay.sdk.session import Session, default_role
from modelbay.sdk.source import program, upload_source
from modelbay.sdk.training_job import TrainingJob

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
        self.image_uri = image_for(image_uri, framework, framework_version)
        _check_script_mode(framework, entry_point, source_dir)
        self.entry_point, self.source_dir = entry_point, source_dir
        self.hyperparameters = dict(hyperparameters or {})
        self.instance_type, self.instance_count = instance_type, instance_count
        self.metric_definitions = metric_definitions or []
        self.role, self.output_path, self.max_run = role, output_path, max_run
        self.environment = dict(environment or {})
        self.base_job_name = base_job_name or base_name_from_image(self.image_uri, "training-job")
        self.session = session or Session()
        self._latest: TrainingJob | None = None

    def fit(self, inputs: str | Mapping[str, str | TrainingInput] | None = None, wait: bool = True,
            logs: bool = True, job_name: str | None = None) -> None:
        """Create a training job reading `inputs`: an S3 URI (the "training" channel, as in the SageMaker SDK),
        or channel name → S3 URI or TrainingInput.

        With `wait`, return once it has ended, printing its progress and logs if `logs`;
        raise TrainingJobFailed if it failed.
        """
        name = job_name or name_from_base(self.base_job_name)
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

    def create_model(self, entry_point: str | None = None, source_dir: str | None = None,
                     env: Mapping[str, str] | None = None, name: str | None = None) -> Model:
        """A Model of the latest job's artifacts served by the training image, as the SageMaker SDK's create_model.

        Its inference code is `entry_point` (and `source_dir`) if given, else, for a script-mode job,
        the code that job ran: the same sourcedir.tar.gz in S3 and entry point, not uploaded again.
        """
        given = entry_point is not None or source_dir is not None
        code = (entry_point, source_dir) if given else self._training_code()
        return Model(self.image_uri, self.model_data, entry_point=code[0], source_dir=code[1], env=env, role=self.role,
                     name=name, session=self.session)

    def deploy(self, initial_instance_count: int = 1, instance_type: str = "ml.m5.large",
               endpoint_name: str | None = None, serializer: Serializer | None = None,
               deserializer: Deserializer | None = None, wait: bool = True, model_name: str | None = None,
               variant_name: str = "AllTraffic") -> Predictor:
        """Serve the latest job's model on a new endpoint (see create_model and Model.deploy); the model and the
        endpoint are named `<base_job_name>-<time>` unless given, as the SageMaker SDK names them."""
        default_name = name_from_base(self.base_job_name)
        return self.create_model(name=model_name or default_name).deploy(
            initial_instance_count, instance_type, endpoint_name=endpoint_name or default_name, serializer=serializer,
            deserializer=deserializer, wait=wait, variant_name=variant_name)

    def logs(self) -> None:
        """Print the latest job's progress and logs until it ends; raise TrainingJobFailed if it failed."""
        self.latest_training_job.wait(logs=True)

    def _training_code(self) -> tuple[str | None, str | None]:
        """The entry point and uploaded source dir the latest job ran, from its hyperparameters; Nones if none."""
        ran = self.latest_training_job.describe().get("HyperParameters", {})
        if "sagemaker_submit_directory" not in ran:
            return None, None
        return json.loads(ran["sagemaker_program"]), json.loads(ran["sagemaker_submit_directory"])

    def _request(self, name: str, channels: list[dict[str, Any]]) -> dict[str, Any]:
        """CreateTrainingJob's input for a job called `name`."""
        algorithm: dict[str, Any] = {"TrainingImage": self.image_uri, "TrainingInputMode": "File"}
        if self.metric_definitions:
            algorithm["MetricDefinitions"] = self.metric_definitions
        optional = {"HyperParameters": self._hyperparameters_for(name), "InputDataConfig": channels,
                    "Environment": self.environment}
        return {
            "TrainingJobName": name, "AlgorithmSpecification": algorithm,
            "RoleArn": self.role or default_role(self.session.account_id),
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
            "sagemaker_program": program(self.entry_point, self.source_dir),
            "sagemaker_submit_directory": upload_source(self.session, self.entry_point, self.source_dir,
                                                        f"{name}/source"),
            "sagemaker_container_log_level": logging.INFO, "sagemaker_job_name": name,
            "sagemaker_region": self.session.region}
        return {key: json.dumps(value) for key, value in (self.hyperparameters | reserved).items()}


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
