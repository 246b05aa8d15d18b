"""The monitoring-schedule repository on every metadata backend: create, get, list by endpoint, transitions, delete."""

from __future__ import annotations

from typing import Any

import pytest

from modelbay.statuses import MonitoringScheduleStatus
from modelbay.store.metadata import (
    MetadataStore,
    MonitoringScheduleFilter,
    MonitoringScheduleNotFound,
    MonitoringScheduleRepository,
    RecordExists,
    StatusConflict,
)
from modelbay.store.metadata.lifecycle import IllegalTransition
from modelbay.store.metadata.monitoring_schedules import LIFECYCLE


def request(endpoint: str | None = None, definition: str | None = None) -> dict[str, Any]:
    """A CreateMonitoringSchedule request with an embedded job definition on `endpoint`, or one naming `definition`."""
    config: dict[str, Any] = {"ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}}
    if definition is not None:
        config |= {"MonitoringJobDefinitionName": definition, "MonitoringType": "ModelQuality"}
    else:
        config["MonitoringJobDefinition"] = {
            "MonitoringInputs": [{"EndpointInput": {"EndpointName": endpoint,
                                                    "LocalPath": "/opt/ml/processing/input"}}],
            "MonitoringOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                "S3Uri": "s3://b/reports", "LocalPath": "/opt/ml/processing/output"}}]},
            "MonitoringResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                      "VolumeSizeInGB": 20}},
            "MonitoringAppSpecification": {"ImageUri": "000000000000.dkr.ecr.us-east-1.amazonaws.com/analyzer"},
            "RoleArn": "arn:aws:iam::000000000000:role/SageMakerExecutionRole"}
    return {"MonitoringScheduleConfig": config}


@pytest.fixture
def schedules(store: MetadataStore) -> MonitoringScheduleRepository:
    return store.monitoring_schedules


def create(schedules: MonitoringScheduleRepository, name: str, body: dict[str, Any],
           endpoint_name: str | None = None) -> None:
    schedules.create(name, f"arn:aws:sagemaker:us-east-1:000000000000:monitoring-schedule/{name.lower()}", body,
                     endpoint_name)


def test_create_then_get_reads_what_the_schedule_monitors(schedules: MonitoringScheduleRepository) -> None:
    create(schedules, "s1", request(endpoint="ep"))
    schedule = schedules.get("s1")
    assert schedule is not None
    assert (schedule.status, schedule.endpoint_name, schedule.spec.monitoring_type,
            schedule.spec.schedule_expression) == ("Pending", "ep", "DataQuality", "cron(0 * ? * * *)")
    assert schedules.get("absent") is None
    with pytest.raises(RecordExists):
        create(schedules, "S1", request(endpoint="ep"))


def test_list_filters_by_endpoint_type_and_job_definition(schedules: MonitoringScheduleRepository) -> None:
    create(schedules, "a", request(endpoint="ep1"))
    create(schedules, "b", request(endpoint="ep2"))
    create(schedules, "c", request(definition="quality"), endpoint_name="ep1")

    def names(**given: Any) -> list[str]:
        return [schedule.name for schedule in schedules.list(MonitoringScheduleFilter(**given), "Name", True).items]

    assert names() == ["a", "b", "c"]
    assert names(endpoint_name="ep1") == ["a", "c"]
    assert names(endpoint_name="ep1", monitoring_type="DataQuality") == ["a"]
    assert names(job_definition_name="quality") == ["c"]
    assert names(endpoint_name="none") == []


def test_transitions_follow_the_lifecycle(schedules: MonitoringScheduleRepository) -> None:
    create(schedules, "s", request(endpoint="ep"))
    assert LIFECYCLE.ended == frozenset()  # a schedule is started and stopped again; only deletion ends it
    assert schedules.advance("s", MonitoringScheduleStatus.SCHEDULED).status == "Scheduled"
    with pytest.raises(IllegalTransition):
        schedules.advance("s", MonitoringScheduleStatus.FAILED)
    with pytest.raises(MonitoringScheduleNotFound):
        schedules.advance("absent", MonitoringScheduleStatus.SCHEDULED)


def test_delete_removes_the_schedule_and_its_tags_but_not_while_pending(
        store: MetadataStore, schedules: MonitoringScheduleRepository) -> None:
    create(schedules, "s", request(endpoint="ep"))
    with pytest.raises(StatusConflict) as refused:
        schedules.delete("s")
    assert refused.value.status == "Pending"
    schedule = schedules.advance("s", MonitoringScheduleStatus.SCHEDULED)
    store.tags.add(schedule.arn, [("team", "ml")])
    assert schedules.delete("s").name == "s"
    assert schedules.get("s") is None and store.tags.list(schedule.arn).items == []
    with pytest.raises(MonitoringScheduleNotFound):
        schedules.delete("s")


def test_update_stop_and_start_are_requests_the_status_allows(schedules: MonitoringScheduleRepository) -> None:
    create(schedules, "s", request(endpoint="ep"))
    with pytest.raises(StatusConflict):
        schedules.request_stop("s")  # Pending: not running yet
    schedules.advance("s", MonitoringScheduleStatus.SCHEDULED)
    assert schedules.request_stop("s").status == "Stopped"
    with pytest.raises(StatusConflict):
        schedules.request_stop("s")
    assert schedules.request_start("s").status == "Scheduled"
    updated = schedules.request_update("s", request(definition="def"), endpoint_name="other")
    assert (updated.status, updated.endpoint_name, updated.spec.job_definition_name) == ("Pending", "other", "def")
    assert [found.name for found in schedules.list(MonitoringScheduleFilter(job_definition_name="def")).items] == ["s"]
    with pytest.raises(StatusConflict):
        schedules.request_update("s", request(endpoint="ep"))
    with pytest.raises(MonitoringScheduleNotFound):
        schedules.request_start("absent")
    assert schedules.names_to_reconcile() == ["s"]
