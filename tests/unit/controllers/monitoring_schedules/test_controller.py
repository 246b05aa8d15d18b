"""The monitoring controller over a real store and object store, its clock injected and the processing jobs moved by
hand (the processing controller's part): executions at cron ticks and NOW, never twice, failed for want of data,
following their jobs to Completed or CompletedWithViolations, the analyzer's metrics recorded."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelbay.config import Settings
from modelbay.controllers.monitoring_schedules.controller import MonitoringScheduleController
from modelbay.controllers.monitoring_schedules.results import NAMESPACE
from modelbay.monitoring.metrics import MetricKey
from modelbay.platform import Platform, open_platform
from modelbay.statuses import MonitoringScheduleStatus, ProcessingJobStatus
from modelbay.store.metadata import EndpointSpec, MonitoringExecution, ProcessingJob
from modelbay.store.objects.base import ObjectMeta
from tests.helpers import SetClock
from tests.unit.store.metadata.test_monitoring_executions import definition

Clock = SetClock[datetime]  # a clock the test sets

SCHEDULE_ARN = "arn:aws:sagemaker:us-east-1:000000000000:monitoring-schedule/"
CAPTURE = "capture/ep/AllTraffic"


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    """A platform with endpoint "ep" capturing to s3://bkt/capture and job definition "def" monitoring it."""
    platform = open_platform(Settings(data_dir=tmp_path / "data"))
    platform.objects.create_bucket("bkt", "us-east-1")
    config = {"ProductionVariants": [{"VariantName": "AllTraffic"}], "DataCaptureConfig": {
        "EnableCapture": True, "DestinationS3Uri": "s3://bkt/capture", "InitialSamplingPercentage": 100,
        "CaptureOptions": [{"CaptureMode": "Input"}]}}
    platform.metadata.endpoints.create("ep", "arn:endpoint/ep", "cfg", [], EndpointSpec(config, {}))
    platform.metadata.data_quality_job_definitions.create("def", "arn:def", definition("ep"))
    return platform


@pytest.fixture
def clock() -> Clock:
    return SetClock(datetime.now(UTC))


@pytest.fixture
def controller(platform: Platform, clock: Clock) -> MonitoringScheduleController:
    return MonitoringScheduleController(platform, clock)


def schedule(platform: Platform, name: str, expression: str, **window: str) -> None:
    platform.metadata.monitoring_schedules.create(name, SCHEDULE_ARN + name, {"MonitoringScheduleConfig": {
        "MonitoringJobDefinitionName": "def", "MonitoringType": "DataQuality",
        "ScheduleConfig": {"ScheduleExpression": expression} | window}}, endpoint_name="ep")


def capture(platform: Platform, hour: datetime) -> None:
    """A captured record in the hour's folder."""
    platform.objects.put("bkt", f"{CAPTURE}/{hour:%Y/%m/%d/%H}/rec.jsonl", io.BytesIO(b"{}\n"), ObjectMeta())


def executions(platform: Platform, name: str) -> list[MonitoringExecution]:
    return platform.metadata.monitoring_executions.of_schedule(name)


def job_of(platform: Platform, execution: MonitoringExecution) -> ProcessingJob:
    job = platform.metadata.processing_jobs.get(execution.name)
    assert job is not None
    return job


def test_a_cron_schedule_runs_once_at_its_tick_over_the_hour_before(platform: Platform, clock: Clock,
                                                                     controller: MonitoringScheduleController) -> None:
    schedule(platform, "hourly", "cron(0 * ? * * *)")
    controller.reconcile("hourly")  # Scheduled now: the cron's ticks count from here
    tick = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    capture(platform, tick - timedelta(hours=1))
    found = platform.metadata.monitoring_schedules.get("hourly")
    assert found is not None and found.status is MonitoringScheduleStatus.SCHEDULED
    assert executions(platform, "hourly") == []  # before the tick
    clock.now = tick + timedelta(seconds=5)
    controller.reconcile("hourly")
    controller.reconcile("hourly")
    [execution] = executions(platform, "hourly")
    assert (execution.scheduled_time, execution.status, execution.endpoint_name) == (tick, "Pending", "ep")
    assert execution.name.startswith(f"model-monitoring-{tick:%Y%m%d%H%M}-")
    request = job_of(platform, execution).request
    folder = f"ep/AllTraffic/{tick - timedelta(hours=1):%Y/%m/%d/%H}"
    assert [(given["S3Input"]["S3Uri"], given["S3Input"]["LocalPath"]) for given in request["ProcessingInputs"]] == [
        (f"s3://bkt/capture/{folder}/", f"/opt/ml/processing/input/endpoint/{folder}"),
        ("s3://bkt/base/constraints.json", "/opt/ml/processing/baseline/constraints")]
    assert request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == (
        f"s3://bkt/reports/ep/hourly/{tick:%Y/%m/%d/%H}")
    env = request["Environment"]
    assert json.loads(env["dataset_format"]) == {
        "sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}
    assert {key: env[key] for key in ("dataset_source", "output_path", "sagemaker_endpoint_name",
                                      "sagemaker_monitoring_schedule_name", "start_time", "end_time",
                                      "baseline_constraints", "publish_cloudwatch_metrics", "x")} == {
        "dataset_source": "/opt/ml/processing/input/endpoint", "output_path": "/opt/ml/processing/output",
        "sagemaker_endpoint_name": "ep", "sagemaker_monitoring_schedule_name": "hourly",
        "start_time": f"{tick - timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}", "end_time": f"{tick:%Y-%m-%dT%H:%M:%SZ}",
        "baseline_constraints": "/opt/ml/processing/baseline/constraints/constraints.json",
        "publish_cloudwatch_metrics": "Enabled", "x": "1"}
    clock.now = tick + timedelta(minutes=30)  # not a tick: nothing more
    controller.reconcile("hourly")
    assert len(executions(platform, "hourly")) == 1


def test_a_now_schedule_runs_once_at_once_over_its_window(platform: Platform, clock: Clock,
                                                          controller: MonitoringScheduleController) -> None:
    clock.now = datetime.now(UTC) + timedelta(seconds=1)
    capture(platform, clock.now - timedelta(hours=2))
    schedule(platform, "once", "NOW", DataAnalysisStartTime="-PT3H", DataAnalysisEndTime="-PT1H")
    for _ in range(3):
        controller.reconcile("once")
        clock.now += timedelta(hours=1)
    [execution] = executions(platform, "once")
    assert execution.processing_job_arn is not None
    env = job_of(platform, execution).request["Environment"]
    end = execution.scheduled_time - timedelta(hours=1)  # a time with microseconds: the whole second after it
    rounded_up = end.replace(microsecond=0) + timedelta(seconds=1)
    assert end.microsecond and env["end_time"] == f"{rounded_up:%Y-%m-%dT%H:%M:%SZ}"


def test_no_captured_data_in_the_window_fails_the_execution_without_a_job(
        platform: Platform, clock: Clock, controller: MonitoringScheduleController) -> None:
    clock.now = datetime.now(UTC) + timedelta(seconds=1)
    capture(platform, clock.now - timedelta(hours=5))  # outside the window
    schedule(platform, "empty", "NOW", DataAnalysisStartTime="-PT1H", DataAnalysisEndTime="-PT0H")
    controller.reconcile("empty")
    [execution] = executions(platform, "empty")
    assert (execution.status, execution.failure_reason, execution.processing_job_arn) == (
        "Failed", "Job inputs had no data", None)
    assert platform.metadata.processing_jobs.get(execution.name) is None


def run_to_end(platform: Platform, clock: Clock, controller: MonitoringScheduleController, name: str,
               violations: list[dict[str, Any]] | None = None, metrics: list[dict[str, Any]] | None = None,
               ending: ProcessingJobStatus = ProcessingJobStatus.COMPLETED) -> MonitoringExecution:
    """Run a NOW schedule's execution: its job started, its analyzer's outputs left, its job ended as `ending`."""
    clock.now = datetime.now(UTC) + timedelta(seconds=1)
    capture(platform, clock.now)
    capture(platform, clock.now - timedelta(hours=1))
    schedule(platform, name, "NOW", DataAnalysisStartTime="-PT1H", DataAnalysisEndTime="-PT0H")
    controller.reconcile(name)
    [execution] = executions(platform, name)
    jobs = platform.metadata.processing_jobs
    jobs.advance(execution.name, ProcessingJobStatus.IN_PROGRESS)
    controller.reconcile(name)
    assert executions(platform, name)[0].status == "InProgress"
    output = job_of(platform, execution).spec.outputs[0].s3_uri.removeprefix("s3://bkt/")
    if violations is not None:
        platform.objects.put("bkt", f"{output}/constraint_violations.json",
                             io.BytesIO(json.dumps({"violations": violations}).encode()), ObjectMeta())
    if metrics is not None:
        folder = platform.settings.data_dir / "processing" / execution.name / "algo-1" / "output/metrics/cloudwatch"
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text("\n".join(json.dumps(line) for line in metrics) + "\nnot json\n")
    jobs.advance(execution.name, ending, failure_reason="AlgorithmError: boom" if ending == "Failed" else None)
    assert name in controller.names()
    controller.reconcile(name)
    return executions(platform, name)[0]


def test_violations_end_the_execution_completed_with_violations_and_its_metrics_are_recorded(
        platform: Platform, clock: Clock, controller: MonitoringScheduleController) -> None:
    when = datetime.now(UTC).replace(microsecond=0)
    metric = {"MetricName": "feature_baseline_drift_age", "Value": 0.7, "Timestamp": when.isoformat(),
              "Dimensions": [{"Name": "Endpoint", "Value": "ep"}, {"Name": "MonitoringSchedule", "Value": "drift"}]}
    ended = run_to_end(platform, clock, controller, "drift", violations=[
        {"feature_name": "age", "constraint_check_type": "baseline_drift_check", "description": "drifted"}],
        metrics=[metric, metric | {"MetricName": "feature_data_age", "Value": None, "StatisticValues": {
            "SampleCount": 4, "Sum": 10.0, "Minimum": 1.0, "Maximum": 4.0}}])
    assert ended.status == "CompletedWithViolations"
    platform.metrics.flush()
    key = MetricKey.of(NAMESPACE, "feature_baseline_drift_age", {"Endpoint": "ep", "MonitoringSchedule": "drift"})
    data = MetricKey.of(NAMESPACE, "feature_data_age", {"Endpoint": "ep", "MonitoringSchedule": "drift"})
    assert sorted(found.key.name for found in platform.metrics.metrics(NAMESPACE)) == [key.name, data.name]
    [point] = platform.metrics.series(key, when - timedelta(minutes=1), when + timedelta(minutes=1), 60).points
    assert point.aggregate.maximum == 0.7
    [point] = platform.metrics.series(data, when - timedelta(minutes=1), when + timedelta(minutes=1), 60).points
    assert (point.aggregate.sample_count, point.aggregate.sum) == (4, 10.0)


def test_no_violations_end_it_completed_and_a_failed_job_fails_it_with_its_reason(
        platform: Platform, clock: Clock, controller: MonitoringScheduleController) -> None:
    assert run_to_end(platform, clock, controller, "clean", violations=[]).status == "Completed"
    failed = run_to_end(platform, clock, controller, "broken", ending=ProcessingJobStatus.FAILED)
    assert (failed.status, failed.failure_reason) == ("Failed", "AlgorithmError: boom")
    assert platform.metadata.monitoring_executions.schedules_running() == []


def test_a_deleted_schedules_executions_are_removed_and_their_jobs_stopped(
        platform: Platform, clock: Clock, controller: MonitoringScheduleController) -> None:
    clock.now = datetime.now(UTC) + timedelta(seconds=1)
    capture(platform, clock.now)
    schedule(platform, "gone", "NOW", DataAnalysisStartTime="-PT1H", DataAnalysisEndTime="-PT0H")
    controller.reconcile("gone")
    [execution] = executions(platform, "gone")
    platform.metadata.monitoring_schedules.delete("gone")
    controller.reconcile("gone")
    assert executions(platform, "gone") == []
    assert job_of(platform, execution).status == "Stopping"


def test_a_baselining_jobs_outputs_are_the_baseline_a_definition_names_by_job(
        platform: Platform, clock: Clock, controller: MonitoringScheduleController) -> None:
    platform.metadata.processing_jobs.create("baselining", "arn:baselining", {
        "AppSpecification": {"ImageUri": "analyzer"}, "ProcessingOutputConfig": {"Outputs": [{
            "OutputName": "results", "S3Output": {"S3Uri": "s3://bkt/baseline/", "LocalPath": "/opt/ml/processing/o",
                                                  "S3UploadMode": "EndOfJob"}}]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 1}}})
    by_job = definition("ep")
    by_job["DataQualityBaselineConfig"] = {"BaseliningJobName": "baselining"}
    platform.metadata.data_quality_job_definitions.create("by-job", "arn:by-job", by_job)
    clock.now = datetime.now(UTC) + timedelta(seconds=1)
    capture(platform, clock.now)
    platform.metadata.monitoring_schedules.create("b", SCHEDULE_ARN + "b", {"MonitoringScheduleConfig": {
        "MonitoringJobDefinitionName": "by-job", "ScheduleConfig": {
            "ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H", "DataAnalysisEndTime": "PT0H"}}})
    controller.reconcile("b")
    [execution] = executions(platform, "b")
    env = job_of(platform, execution).request["Environment"]
    assert (env["baseline_constraints"], env["baseline_statistics"]) == (
        "/opt/ml/processing/baseline/constraints/constraints.json", "/opt/ml/processing/baseline/stats/statistics.json")
    uris = [given["S3Input"]["S3Uri"] for given in job_of(platform, execution).request["ProcessingInputs"]]
    assert uris[1:] == ["s3://bkt/baseline/constraints.json", "s3://bkt/baseline/statistics.json"]
