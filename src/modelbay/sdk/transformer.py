"""Transformer: batch transform jobs of a model over S3 data, as the SageMaker SDK's Transformer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelbay.sdk.job_logs import TRANSFORM_LOG_GROUP, TrainingLogs
from modelbay.sdk.names import name_from_base
from modelbay.sdk.session import Session
from modelbay.sdk.waiting import UnexpectedStatus, wait_for


class TransformJobFailed(UnexpectedStatus):
    """The transform job ended Failed."""

    MESSAGE = "transform job {name} failed: {reason}"

    @property
    def job_name(self) -> str:
        return self.name


class Transformer:
    """Runs a model over S3 data: `transform()` creates a transform job and waits for it.

    The output goes to `output_path` (default `s3://<default bucket>/<job name>`), one
    `<input name>.out` per input object. `strategy` is the BatchStrategy (MultiRecord or
    SingleRecord), `assemble_with` how output records are joined (None or Line), `accept` the
    output's content type, `max_payload` MaxPayloadInMB, `env` the container's extra environment.
    """

    def __init__(self, model_name: str, instance_count: int = 1, instance_type: str = "ml.m5.large", *,
                 output_path: str | None = None, strategy: str | None = None, assemble_with: str | None = None,
                 accept: str | None = None, max_payload: int | None = None,
                 max_concurrent_transforms: int | None = None, env: Mapping[str, str] | None = None,
                 base_transform_job_name: str | None = None, session: Session | None = None) -> None:
        self.model_name, self.instance_count, self.instance_type = model_name, instance_count, instance_type
        self.output_path, self.strategy, self.assemble_with, self.accept = output_path, strategy, assemble_with, accept
        self.max_payload, self.max_concurrent_transforms = max_payload, max_concurrent_transforms
        self.env = dict(env or {})
        self.base_transform_job_name = base_transform_job_name or model_name
        self.session = session or Session()
        self._latest: str | None = None

    def transform(self, data: str, content_type: str | None = None, split_type: str | None = None,
                  input_filter: str | None = None, join_source: str | None = None, output_filter: str | None = None,
                  data_type: str = "S3Prefix", job_name: str | None = None, wait: bool = True,
                  logs: bool = False) -> None:
        """Create a transform job over `data` (an S3 prefix, or a manifest with data_type="ManifestFile").

        `split_type` Line splits each object into records; `input_filter`, `join_source` (Input or
        None) and `output_filter` are the job's DataProcessing. With `wait`, return once it has
        ended, printing its log lines then if `logs`; raise TransformJobFailed if it failed.
        """
        if not data.startswith("s3://"):
            raise ValueError(f"transform data must be an s3:// URI, not {data!r}: upload local data with "
                             "Session.upload_data")
        name = job_name or name_from_base(self.base_transform_job_name)
        source = {"DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": data}}} | _present(
            ContentType=content_type, SplitType=split_type)
        processing = _present(InputFilter=input_filter, JoinSource=join_source, OutputFilter=output_filter)
        self.session.sagemaker.create_transform_job(**self._request(name, source, processing))
        self._latest = name
        if wait:
            self.wait(logs)

    @property
    def latest_transform_job(self) -> str:
        """The name of the job the last transform() created; RuntimeError before any."""
        if self._latest is None:
            raise RuntimeError("this transformer has not run a transform job yet: call transform() first")
        return self._latest

    def describe(self) -> dict[str, Any]:
        """DescribeTransformJob's answer for the latest job, without ResponseMetadata."""
        job: dict[str, Any] = self.session.sagemaker.describe_transform_job(TransformJobName=self.latest_transform_job)
        job.pop("ResponseMetadata", None)
        return job

    def wait(self, logs: bool = False) -> None:
        """Return once the latest job has completed or stopped, printing its log lines then if `logs`;
        raise TransformJobFailed if it failed."""
        name = self.latest_transform_job
        reason = wait_for(self.session.sagemaker, "transform_job_completed_or_stopped", TransformJobName=name)
        if logs:
            for _, message in TrainingLogs(self.session.logs, name, TRANSFORM_LOG_GROUP).read():
                print(message, flush=True)
        if reason is not None:
            raise TransformJobFailed(name, reason)

    def _request(self, name: str, source: dict[str, Any], processing: dict[str, str]) -> dict[str, Any]:
        """CreateTransformJob's input for a job called `name`."""
        output = {"S3OutputPath": self.output_path or f"s3://{self.session.default_bucket()}/{name}"} | _present(
            Accept=self.accept, AssembleWith=self.assemble_with)
        return {"TransformJobName": name, "ModelName": self.model_name, "TransformInput": source,
                "TransformOutput": output,
                "TransformResources": {"InstanceType": self.instance_type, "InstanceCount": self.instance_count},
                } | _present(BatchStrategy=self.strategy, MaxPayloadInMB=self.max_payload,
                             MaxConcurrentTransforms=self.max_concurrent_transforms, Environment=self.env or None,
                             DataProcessing=processing or None)


def _present(**members: Any) -> dict[str, Any]:
    """The members that are not None."""
    return {key: value for key, value in members.items() if value is not None}
