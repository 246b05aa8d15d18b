"""The monitoring-execution and data-quality-job-definition repositories on every metadata backend."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from modelbay.statuses import MonitoringExecutionStatus
from modelbay.store.metadata import JobDefinitionFilter, MetadataStore, MonitoringExecutionFilter, RecordExists
from modelbay.store.metadata.lifecycle import IllegalTransition
from tests.helpers import T0

ARN = "arn:aws:sagemaker:us-east-1:000000000000:processing-job/"


def definition(endpoint: str) -> dict[str, Any]:
    """A CreateDataQualityJobDefinition request (as the service stores it) over `endpoint`."""
    return {"DataQualityAppSpecification": {"ImageUri": "analyzer", "Environment": {"x": "1"}},
            "DataQualityJobInput": {"EndpointInput": {"EndpointName": endpoint,
                                                      "LocalPath": "/opt/ml/processing/input/endpoint"}},
            "DataQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                "S3Uri": "s3://bkt/reports", "LocalPath": "/opt/ml/processing/output"}}]},
            "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 20}},
            "DataQualityBaselineConfig": {"ConstraintsResource": {"S3Uri": "s3://bkt/base/constraints.json"}},
            "RoleArn": "arn:aws:iam::000000000000:role/r"}


def execution(store: MetadataStore, name: str, schedule: str = "s", minutes: int = 0) -> None:
    store.monitoring_executions.create(name, ARN + name, schedule, T0 + timedelta(minutes=minutes), "DataQuality",
                                       "ep", "def")


def test_definitions_are_listed_by_endpoint_and_read_as_a_monitoring_job(store: MetadataStore) -> None:
    store.data_quality_job_definitions.create("d1", "arn:d1", definition("ep"))
    store.data_quality_job_definitions.create("d2", "arn:d2", definition("other"))
    page = store.data_quality_job_definitions.list(JobDefinitionFilter(endpoint_name="ep"))
    assert [found.name for found in page.items] == ["d1"]
    job = page.items[0].spec
    assert (job.endpoint_name, job.input_path, job.constraints_uri, job.statistics_uri, job.environment,
            job.max_runtime_in_seconds) == ("ep", "/opt/ml/processing/input/endpoint", "s3://bkt/base/constraints.json",
                                            None, {"x": "1"}, 3600)


def test_an_execution_is_made_once_and_moves_as_its_lifecycle_allows(store: MetadataStore) -> None:
    execution(store, "e1")
    with pytest.raises(RecordExists):
        execution(store, "e1")
    executions = store.monitoring_executions
    assert executions.schedules_running() == ["s"]
    moved = executions.advance("e1", MonitoringExecutionStatus.PENDING, processing_job_arn=ARN + "e1")
    assert (moved.status, moved.processing_job_arn) == ("Pending", ARN + "e1")
    executions.advance("e1", MonitoringExecutionStatus.IN_PROGRESS)
    ended = executions.advance("e1", MonitoringExecutionStatus.FAILED, failure_reason="boom")
    assert (ended.status, ended.failure_reason, ended.processing_job_arn) == ("Failed", "boom", ARN + "e1")
    with pytest.raises(IllegalTransition):
        executions.advance("e1", MonitoringExecutionStatus.IN_PROGRESS)
    assert executions.schedules_running() == []


def test_executions_are_listed_by_schedule_and_scheduled_time_and_deleted_with_it(store: MetadataStore) -> None:
    for name, schedule, minutes in (("e1", "s", 0), ("e2", "s", 60), ("e3", "t", 60)):
        execution(store, name, schedule, minutes)
    executions = store.monitoring_executions
    latest = executions.latest("s")
    assert latest is not None and latest.name == "e2"
    after = executions.list(MonitoringExecutionFilter(schedule_name="s", scheduled_after=T0 + timedelta(minutes=1)))
    assert [found.name for found in after.items] == ["e2"]
    assert [found.name for found in executions.of_schedule("s", running=True)] == ["e1", "e2"]
    assert [found.name for found in executions.delete_of("s")] == ["e1", "e2"]
    assert executions.latest("s") is None and executions.latest("t") is not None
