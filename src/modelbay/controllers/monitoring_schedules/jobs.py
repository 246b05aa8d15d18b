"""The processing job of a monitoring execution, as SageMaker makes it: the analyzer over the endpoint's captured data.

Its inputs are the capture folders (`<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/`, one per hour,
UTC) whose hour overlaps the execution's window, each staged under the job definition's EndpointInput
LocalPath keeping that layout, and the baseline's constraints and statistics files (and the record
preprocessor and post-analytics scripts, if any); its environment is what SageMaker sets for the
analyzer; its output goes to `<S3Uri>/<endpoint>/<schedule>/yyyy/mm/dd/hh`, where the SDK's
`latest_monitoring_*` read it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from modelbay import schedules
from modelbay.controllers.staging import StagingError, input_sources
from modelbay.store.metadata import MonitoringJobSpec, MonitoringSchedule
from modelbay.store.objects.base import ObjectStore

DEFAULT_START, DEFAULT_END = "-PT1H", "PT0H"  # the window when ScheduleConfig gives none: the hour before
CAPTURE_FORMAT = {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}
OUTPUT_NAME = "monitoring_output"
HOUR = timedelta(hours=1)
# Where the files the job definition names are staged, and the environment variable telling the analyzer.
_STAGED_FILES = (("constraints_uri", "baseline_constraints", "/opt/ml/processing/baseline/constraints"),
                 ("statistics_uri", "baseline_statistics", "/opt/ml/processing/baseline/stats"),
                 ("record_preprocessor_uri", "record_preprocessor_script", "/opt/ml/processing/code/preprocessing"),
                 ("post_analytics_processor_uri", "post_analytics_processor_script",
                  "/opt/ml/processing/code/postprocessing"))


@dataclass(frozen=True)
class Execution:
    """One execution to run: its schedule, its scheduled time and the window of captured data it analyzes."""

    schedule: MonitoringSchedule
    job: MonitoringJobSpec
    scheduled_time: datetime
    start: datetime
    end: datetime

    @classmethod
    def at(cls, schedule: MonitoringSchedule, job: MonitoringJobSpec, scheduled_time: datetime) -> Execution:
        spec = schedule.spec
        return cls(schedule, job, scheduled_time,
                   scheduled_time + schedules.offset(spec.data_analysis_start_time or DEFAULT_START),
                   scheduled_time + schedules.offset(spec.data_analysis_end_time or DEFAULT_END))

    @property
    def name(self) -> str:
        """The processing job's name, as SageMaker's (model-monitoring-<yyyymmddHHMM>-<24 hex>); the same for the
        same schedule and scheduled time, so an execution is never made twice."""
        identity = f"{self.schedule.arn}|{self.schedule.creation_time.isoformat()}|{self.scheduled_time.isoformat()}"
        return f"model-monitoring-{self.scheduled_time:%Y%m%d%H%M}-{hashlib.sha256(identity.encode()).hexdigest()[:24]}"

    @property
    def arn(self) -> str:
        return f"{self.schedule.arn.rsplit(':', 1)[0]}:processing-job/{self.name}"

    @property
    def output_uri(self) -> str:
        return (f"{self.job.output['S3Uri'].rstrip('/')}/{self.job.endpoint_name}/{self.schedule.name}/"
                f"{self.scheduled_time:%Y/%m/%d/%H}")


def capture_inputs(objects: ObjectStore, execution: Execution, capture_uri: str,
                   variants: list[str]) -> list[dict[str, Any]]:
    """A ProcessingInput per variant and hour of the window that holds captured data (none: the window had none)."""
    endpoint, found = execution.job.endpoint_name, []
    for variant in variants:
        for hour in _hours(execution.start, execution.end):
            folder = f"{endpoint}/{variant}/{hour:%Y/%m/%d/%H}"
            uri = f"{capture_uri.rstrip('/')}/{folder}/"
            if _holds_data(objects, uri):
                found.append(_input(f"endpoint-{variant}-{hour:%Y%m%d%H}", uri,
                                    f"{execution.job.input_path.rstrip('/')}/{folder}"))
    return found


def processing_request(execution: Execution, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The CreateProcessingJob request (as the service stores one) of the execution, over its capture `inputs`."""
    job = execution.job
    staged = [(env, f"{local}/{uri.rsplit('/', 1)[-1]}", _input(env, uri, local))
              for member, env, local in _STAGED_FILES if (uri := getattr(job, member)) is not None]
    app = {"ImageUri": job.image_uri} | ({"ContainerEntrypoint": list(job.entrypoint)} if job.entrypoint else {}) | (
        {"ContainerArguments": list(job.arguments)} if job.arguments else {})
    request: dict[str, Any] = {
        "ProcessingInputs": inputs + [given for _, _, given in staged],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": OUTPUT_NAME, "AppManaged": False, "S3Output": {
            "S3Uri": execution.output_uri, "LocalPath": job.output["LocalPath"], "S3UploadMode": "EndOfJob"}}]},
        "ProcessingResources": {"ClusterConfig": job.cluster},
        "StoppingCondition": {"MaxRuntimeInSeconds": job.max_runtime_in_seconds},
        "AppSpecification": app,
        "Environment": _environment(execution) | {env: path for env, path, _ in staged} | job.environment,
        "RoleArn": job.role_arn}
    return request | ({"NetworkConfig": job.network_config} if job.network_config else {})


def _environment(execution: Execution) -> dict[str, str]:
    """What SageMaker tells its analyzer of an execution (the job definition's Environment may override it)."""
    return {"dataset_format": json.dumps(CAPTURE_FORMAT), "dataset_source": execution.job.input_path,
            "output_path": execution.job.output["LocalPath"], "publish_cloudwatch_metrics": "Enabled",
            "sagemaker_endpoint_name": execution.job.endpoint_name,
            "sagemaker_monitoring_schedule_name": execution.schedule.name,
            # captured records carry whole seconds: one of the end's own second came before the end, so it is in
            "start_time": _iso(execution.start), "end_time": _iso(_next_second(execution.end)),
            "metric_time": _iso(execution.scheduled_time)}


def _input(name: str, uri: str, local_path: str) -> dict[str, Any]:
    return {"InputName": name, "AppManaged": False, "S3Input": {
        "S3Uri": uri, "LocalPath": local_path, "S3DataType": "S3Prefix", "S3InputMode": "File",
        "S3DataDistributionType": "FullyReplicated"}}


def _hours(start: datetime, end: datetime) -> list[datetime]:
    """The UTC hours that overlap [start, end)."""
    hour, found = start.replace(minute=0, second=0, microsecond=0), []
    while hour < end:
        found.append(hour)
        hour += HOUR
    return found


def _holds_data(objects: ObjectStore, uri: str) -> bool:
    try:
        return next(iter(input_sources(objects, {"S3Uri": uri})), None) is not None
    except StagingError:  # no such bucket: no data
        return False


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _next_second(moment: datetime) -> datetime:
    """`moment` rounded up to a whole second."""
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)
