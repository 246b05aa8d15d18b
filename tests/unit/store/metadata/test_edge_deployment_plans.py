"""Edge deployment plans on every metadata backend: their stages' lifecycles, stage selection, devices' deployments
and results."""

from __future__ import annotations

from typing import Any

import pytest

from modelbay.statuses import DeviceDeploymentStatus, EdgePackagingJobStatus, StageStatus
from modelbay.store.metadata import MetadataStore, StatusConflict
from modelbay.store.metadata.edge_deployment_plans import (
    DEVICE_LIFECYCLE,
    STAGE_LIFECYCLE,
    DeviceSelection,
    EdgeDeploymentPlanRepository,
    EdgeDeploymentStageNotFound,
    PlanFilter,
    PlanInUse,
    StageExists,
    deployment_name,
)
from modelbay.store.metadata.edge_packaging_jobs import EdgePackagingJobRepository
from modelbay.store.metadata.lifecycle import IllegalTransition

REQUEST = {"CompilationJobName": "compiled", "ModelName": "clf", "ModelVersion": "1.0",
           "RoleArn": "arn:aws:iam::000000000000:role/r", "OutputConfig": {"S3OutputLocation": "s3://b/edge"}}
FLEET_DEVICES = [f"dev-{n}" for n in range(10)]


@pytest.fixture
def jobs(store: MetadataStore) -> EdgePackagingJobRepository:
    return store.edge_packaging_jobs


@pytest.fixture
def plans(store: MetadataStore) -> EdgeDeploymentPlanRepository:
    return store.edge_deployment_plans


def _job(jobs: EdgePackagingJobRepository, name: str, request: dict[str, Any] = REQUEST) -> None:
    jobs.create(name, f"arn:aws:sagemaker:us-east-1:000000000000:edge-packaging-job/{name.lower()}", request)


def _stage(name: str, subset: str = "SELECTION", policy: str = "ROLLBACK_ON_FAILURE", **selection: Any
           ) -> dict[str, Any]:
    return {"StageName": name, "DeviceSelectionConfig": {"DeviceSubsetType": subset, **selection},
            "DeploymentConfig": {"FailureHandlingPolicy": policy}}


def _plan(plans: EdgeDeploymentPlanRepository, name: str, *stages: dict[str, Any]) -> None:
    plans.create(name, f"arn:aws:sagemaker:us-east-1:000000000000:edge-deployment/{name.lower()}", "fleet",
                 [{"ModelHandle": "clf", "EdgePackagingJobName": "pkg"}], stages)


def _completed_package(jobs: EdgePackagingJobRepository) -> None:
    _job(jobs, "pkg")
    jobs.advance("pkg", EdgePackagingJobStatus.INPROGRESS)
    jobs.advance("pkg", EdgePackagingJobStatus.COMPLETED, model_artifact="s3://b/edge/clf-1.0.tar.gz",
                 model_signature="c2ln", package_sha1="a" * 40)


def test_a_plan_keeps_its_stages_in_order_and_refuses_a_stage_name_twice(plans: EdgeDeploymentPlanRepository) -> None:
    _plan(plans, "plan", _stage("one", DeviceNames=["dev-1"]))
    plan = plans.add_stages("plan", [_stage("two", "PERCENTAGE", Percentage=50)])
    assert [(s.name, s.status) for s in plan.stages] == [("one", "READYTODEPLOY"), ("two", "READYTODEPLOY")]
    with pytest.raises(StageExists):
        plans.add_stages("plan", [_stage("one", DeviceNames=["dev-2"])])
    with pytest.raises(StageExists):
        _plan(plans, "other", _stage("x", DeviceNames=["a"]), _stage("x", DeviceNames=["b"]))
    assert plans.get("other") is None
    assert [p.name for p in plans.list(PlanFilter(fleet_name_contains="FLE")).items] == ["plan"]


def test_starting_a_stage_selects_devices_no_earlier_stage_selected(plans: EdgeDeploymentPlanRepository) -> None:
    _plan(plans, "plan", _stage("first", DeviceNames=["dev-1", "dev-2", "gone"]),
          _stage("rest", "NAMECONTAINS", DeviceNameContains="dev"))
    started = plans.start_stage("plan", "first", FLEET_DEVICES)
    assert (started.status, started.pending, started.start_time is not None) == ("INPROGRESS", 2, True)
    plans.start_stage("plan", "rest", FLEET_DEVICES)
    assert [d.device_name for d in plans.stage_devices("plan", "first")] == ["dev-1", "dev-2"]
    assert len(plans.stage_devices("plan", "rest")) == 8
    with pytest.raises(StatusConflict):
        plans.start_stage("plan", "first", FLEET_DEVICES)
    with pytest.raises(EdgeDeploymentStageNotFound):
        plans.start_stage("plan", "nope", FLEET_DEVICES)


def test_a_percentage_picks_the_same_devices_each_time() -> None:
    half = DeviceSelection.from_wire({"DeviceSubsetType": "PERCENTAGE", "Percentage": 30})
    picked = half.pick(FLEET_DEVICES)
    assert len(picked) == 3 and picked == half.pick(list(reversed(FLEET_DEVICES)))
    assert len(half.pick(FLEET_DEVICES[:1])) == 1  # rounded up
    assert DeviceSelection.from_wire({"DeviceSubsetType": "PERCENTAGE", "Percentage": 0}).pick(FLEET_DEVICES) == []


def test_a_stage_that_selects_no_device_is_deployed_at_once(plans: EdgeDeploymentPlanRepository) -> None:
    _plan(plans, "plan", _stage("none", DeviceNames=["absent"]))
    stage = plans.start_stage("plan", "none", FLEET_DEVICES)
    assert stage.status == "DEPLOYED" and stage.status_message


def test_devices_get_the_stage_deployment_and_their_results_move_the_stage(
        plans: EdgeDeploymentPlanRepository, jobs: EdgePackagingJobRepository) -> None:
    _completed_package(jobs)
    _plan(plans, "plan", _stage("s", DeviceNames=["dev-1", "dev-2"]))
    plans.start_stage("plan", "s", FLEET_DEVICES)
    name = deployment_name("plan", "s")
    assert plans.deployments_for_device("fleet", "dev-1") == [{
        "DeploymentName": name, "Type": "Model", "FailureHandlingPolicy": "ROLLBACK_ON_FAILURE",
        "Definitions": [{"ModelHandle": "clf", "S3Url": "s3://b/edge/clf-1.0.tar.gz",
                         "Checksum": {"Type": "SHA1", "Sum": "a" * 40}, "State": "DEPLOY"}]}]
    assert plans.deployments_for_device("fleet", "dev-3") == []
    plans.record_device_result("fleet", "dev-1", {"DeploymentName": name, "DeploymentStatus": "SUCCESS"})
    plans.record_device_result("fleet", "dev-1", {"DeploymentName": name, "DeploymentStatus": "INPROGRESS"})
    plans.record_device_result("fleet", "dev-2", {"DeploymentName": "another", "DeploymentStatus": "SUCCESS"})
    plan = plans.get("plan")
    assert plan is not None and (plan.stages[0].status, plan.counts) == ("INPROGRESS", (1, 1, 0))
    plans.record_device_result("fleet", "dev-2", {"DeploymentName": name, "DeploymentStatus": "DEPLOYED"})
    plan = plans.get("plan")
    assert plan is not None and (plan.stages[0].status, plan.counts) == ("DEPLOYED", (2, 0, 0))
    assert [d.status for d in plans.stage_devices("plan", "s")] == ["DEPLOYED", "DEPLOYED"]


def test_a_failure_fails_a_rollback_stage_at_once_and_withdraws_its_deployment(
        plans: EdgeDeploymentPlanRepository) -> None:
    _plan(plans, "plan", _stage("s", DeviceNames=["dev-1", "dev-2"]))
    plans.start_stage("plan", "s", FLEET_DEVICES)
    plans.record_device_result("fleet", "dev-1", {"DeploymentName": deployment_name("plan", "s"),
                                                  "DeploymentModels": [{"ModelHandle": "clf", "Status": "FAIL",
                                                                        "StatusReason": "bad signature"}]})
    plan = plans.get("plan")
    assert plan is not None and plan.stages[0].status == "FAILED" and "dev-1" in (plan.stages[0].status_message or "")
    assert plans.stage_devices("plan", "s")[0].status_message == "clf: bad signature"
    assert plans.deployments_for_device("fleet", "dev-2") == []


def test_a_do_nothing_stage_fails_once_every_device_reported(plans: EdgeDeploymentPlanRepository) -> None:
    _plan(plans, "plan", _stage("s", policy="DO_NOTHING", DeviceNames=["dev-1", "dev-2"]))
    plans.start_stage("plan", "s", FLEET_DEVICES)
    name = deployment_name("plan", "s")
    plans.record_device_result("fleet", "dev-1", {"DeploymentName": name, "DeploymentStatus": "FAIL"})
    plan = plans.get("plan")
    assert plan is not None and plan.stages[0].status == "INPROGRESS"
    plans.record_device_result("fleet", "dev-2", {"DeploymentName": name, "DeploymentStatus": "SUCCESS"})
    plan = plans.get("plan")
    assert plan is not None and (plan.stages[0].status, plan.counts) == ("FAILED", (1, 0, 1))
    assert len(plans.deployments_for_device("fleet", "dev-2")) == 1  # left in place to investigate


def test_stopping_a_stage_ends_it_and_its_devices_stopped(plans: EdgeDeploymentPlanRepository) -> None:
    _plan(plans, "plan", _stage("s", DeviceNames=["dev-1"]), _stage("later", DeviceNames=["dev-2"]))
    with pytest.raises(StatusConflict):
        plans.stop_stage("plan", "s")  # not started
    plans.start_stage("plan", "s", FLEET_DEVICES)
    with pytest.raises(PlanInUse):
        plans.delete("plan")
    stopped = plans.stop_stage("plan", "s")
    assert stopped.status == "STOPPED"
    assert [d.status for d in plans.stage_devices("plan", "s")] == ["STOPPED"]
    assert plans.deployments_for_device("fleet", "dev-1") == []
    plans.record_device_result("fleet", "dev-1", {"DeploymentName": deployment_name("plan", "s"),
                                                  "DeploymentStatus": "SUCCESS"})  # too late: ignored
    assert [d.status for d in plans.stage_devices("plan", "s")] == ["STOPPED"]
    plans.delete_stage("plan", "later")
    with pytest.raises(PlanInUse):
        plans.delete_stage("plan", "s")
    plans.delete("plan")
    assert plans.get("plan") is None


def test_the_stage_and_device_lifecycles() -> None:
    assert STAGE_LIFECYCLE.ended == {StageStatus.STOPPED}
    assert set(STAGE_LIFECYCLE.moves) == set(StageStatus)
    assert DEVICE_LIFECYCLE.ended == {DeviceDeploymentStatus.STOPPED}
    assert set(DEVICE_LIFECYCLE.moves) == set(DeviceDeploymentStatus)
    with pytest.raises(IllegalTransition):
        STAGE_LIFECYCLE.check("s", StageStatus.READYTODEPLOY, StageStatus.DEPLOYED)


def test_a_long_deployment_name_stays_within_63_characters_and_unique() -> None:
    long_plan, long_stage = "p" * 63, "s" * 63
    names = {deployment_name(long_plan, long_stage), deployment_name(long_plan, long_stage[:-1])}
    assert len(names) == 2 and all(len(name) <= 63 for name in names)
    assert deployment_name("plan", "stage") == "plan-stage"
