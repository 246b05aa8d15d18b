"""The SageMaker SDK's DefaultModelMonitor schedule flow, unchanged, against a real server: a baseline suggested from
a CSV, an endpoint capturing invocations whose `age` has drifted far from it, a one-time (NOW) schedule over the
last hour of captured data. Its execution ends CompletedWithViolations, the SDK reads the violations (age's
baseline_drift_check), its feature_baseline_drift_age metric is in CloudWatch and an alarm on it goes to ALARM;
stopping, starting and deleting the schedule (and its job definition) go through the SDK too."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sagemaker as sagemaker_sdk
from sagemaker.model_monitor import CronExpressionGenerator, DefaultModelMonitor
from sagemaker.model_monitor.dataset_format import DatasetFormat

from modelbay.runtime.environments import FrameworkEnvironments
from modelbay.runtime.frameworks import choose
from modelbay.sdk import Session
from tests.conftest import client
from tests.helpers import SHARED_ENVIRONMENTS, ServerProcess, wait_until
from tests.integration.models import echo_model
from tests.integration.test_data_capture import capture_config, records, sdk_session  # noqa: F401 - a fixture
from tests.integration.test_endpoints import IN_SERVICE

ROLE = "arn:aws:iam::000000000000:role/SageMakerExecutionRole"
NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
CAPTURED = 40
ENDED = ("Completed", "CompletedWithViolations", "Failed", "Stopped")


def capturing_endpoint(session: Session, sagemaker: Any, sdk: sagemaker_sdk.Session, name: str,
                       destination: str, tmp_path: Path) -> None:
    """An echo endpoint capturing every invocation to `destination`, InService."""
    model = echo_model(session, tmp_path).create()
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
        DataCaptureConfig=capture_config(sdk, True, 100, destination))
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=IN_SERVICE)


@pytest.mark.filterwarnings("ignore:.* is part of the SageMaker Python SDK v2")
def test_a_now_schedule_finds_a_drifted_feature_and_its_metric_raises_an_alarm(
        server: ServerProcess, session: Session, sagemaker: Any, s3: Any, unique: str, tmp_path: Path,
        sdk_session: sagemaker_sdk.Session) -> None:  # noqa: F811 - the fixture imported above
    FrameworkEnvironments(SHARED_ENVIRONMENTS).ensure(choose("model-monitor", None).recipe)  # built once, beforehand
    s3.create_bucket(Bucket=unique)
    destination = f"s3://{unique}/capture"
    capturing_endpoint(session, sagemaker, sdk_session, unique, destination, tmp_path)

    # STEP 1: the baseline, suggested by the analyzer from a CSV of ages 20 to 69
    (tmp_path / "train.csv").write_text("age,city\n" + "".join(
        f"{20 + i % 50},{['Paris', 'Rome', 'Oslo'][i % 3]}\n" for i in range(200)))
    monitor = DefaultModelMonitor(role=ROLE, instance_count=1, instance_type="ml.m5.xlarge",
                                  sagemaker_session=sdk_session)
    monitor.suggest_baseline(baseline_dataset=str(tmp_path / "train.csv"),
                             dataset_format=DatasetFormat.csv(header=True), wait=True, logs=False)

    # STEP 2: invocations with ages 200 and more, captured
    runtime = client(server.url, "sagemaker-runtime")
    for i, city in zip(range(CAPTURED), itertools.cycle(["Paris", "Rome", "Oslo"]), strict=False):
        runtime.invoke_endpoint(EndpointName=unique, Body=f"{200 + i},{city}", ContentType="text/csv")
    wait_until(lambda: len(list(records(sdk_session, f"{destination}/{unique}/"))) >= CAPTURED, 60,
               "the captured records")

    # STEP 3: a one-time schedule over the last hour; its execution finds the drift
    monitor.create_monitoring_schedule(endpoint_input=unique, output_s3_uri=f"s3://{unique}/reports",
                                       monitor_schedule_name=unique,
                                       schedule_cron_expression=CronExpressionGenerator.now(),
                                       data_analysis_start_time="-PT1H", data_analysis_end_time="-PT0H")

    def last_execution() -> dict[str, Any] | None:
        summary: dict[str, Any] | None = monitor.describe_schedule().get("LastMonitoringExecutionSummary")
        return summary if summary and summary["MonitoringExecutionStatus"] in ENDED else None

    try:
        execution: Any = wait_until(last_execution, 120, "the monitoring execution to end", every_s=0.5)
    except TimeoutError:
        raise AssertionError(f"no execution ended: {monitor.describe_schedule()}") from None
    assert execution["MonitoringExecutionStatus"] == "CompletedWithViolations", execution
    [listed] = monitor.list_executions()
    assert listed.describe()["ProcessingJobStatus"] == "Completed"
    violations = monitor.latest_monitoring_constraint_violations().body_dict["violations"]
    assert ("age", "baseline_drift_check") in {(v["feature_name"], v["constraint_check_type"]) for v in violations}
    assert monitor.latest_monitoring_statistics().body_dict["dataset"]["item_count"] == CAPTURED

    # STEP 4: the drift metric in CloudWatch, and an alarm on it
    cloudwatch = client(server.url, "cloudwatch")
    metric = {"Namespace": NAMESPACE, "MetricName": "feature_baseline_drift_age",
              "Dimensions": [{"Name": "Endpoint", "Value": unique}, {"Name": "MonitoringSchedule", "Value": unique}]}
    now = datetime.now(UTC)
    data = cloudwatch.get_metric_data(MetricDataQueries=[{"Id": "drift", "MetricStat": {
        "Metric": metric, "Period": 60, "Stat": "Maximum"}}], StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=1))["MetricDataResults"][0]
    assert data["Values"] and max(data["Values"]) > 0.1, data
    cloudwatch.put_metric_alarm(AlarmName=unique, ComparisonOperator="GreaterThanThreshold", Threshold=0.1,
                                EvaluationPeriods=1, Period=60, Statistic="Maximum", **metric)
    alarm: dict[str, Any] = {}

    def in_alarm() -> bool:
        alarm.update(cloudwatch.describe_alarms(AlarmNames=[unique])["MetricAlarms"][0])
        return alarm["StateValue"] == "ALARM"
    try:
        wait_until(in_alarm, 90, "the drift alarm")
    except TimeoutError:
        raise AssertionError(f"the drift alarm did not fire: {alarm}; the metric: {data}") from None

    # STEP 5: stop, start and delete, as the SDK does them
    monitor.stop_monitoring_schedule()
    assert monitor.describe_schedule()["MonitoringScheduleStatus"] == "Stopped"
    monitor.start_monitoring_schedule()
    assert monitor.describe_schedule()["MonitoringScheduleStatus"] == "Scheduled"
    monitor.delete_monitoring_schedule()
    assert sagemaker.list_monitoring_schedules(EndpointName=unique)["MonitoringScheduleSummaries"] == []
    assert sagemaker.list_data_quality_job_definitions(EndpointName=unique)["JobDefinitionSummaries"] == []
    sagemaker.delete_endpoint(EndpointName=unique)
