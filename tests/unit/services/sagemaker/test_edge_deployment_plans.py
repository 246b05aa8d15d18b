"""Edge deployment plans, their stages and the fleet report as SageMaker's service functions: answers checked
against botocore's output shapes, refusals in SageMaker's words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from modelbay.services.base import Context
from modelbay.services.sagemaker.edge_deployment_plans import OPERATIONS
from modelbay.statuses import EdgePackagingJobStatus
from modelbay.store.metadata.edge_deployment_plans import deployment_name
from tests.unit.services.service_calls import ServiceCalls

SAGEMAKER = ServiceCalls("sagemaker", OPERATIONS)
DEVICES = ["cam-1", "cam-2", "cam-3", "door-1"]
MODELS = [{"ModelHandle": "detector", "EdgePackagingJobName": "pkg"}]


@pytest.fixture
def fleet(ctx: Context) -> str:
    """A fleet with DEVICES registered and a COMPLETED package "pkg"."""
    ctx.metadata.device_fleets.create("Cameras", "arn:aws:sagemaker:eu-west-1:123456789012:device-fleet/cameras",
                                      {"S3OutputLocation": "s3://b/edge"}, description="door cameras")
    ctx.metadata.devices.register("Cameras", [{"DeviceName": name} for name in DEVICES], {
        name: f"arn:aws:sagemaker:eu-west-1:123456789012:device-fleet/cameras/device/{name}" for name in DEVICES})
    jobs = ctx.metadata.edge_packaging_jobs
    jobs.create("pkg", "arn:aws:sagemaker:eu-west-1:123456789012:edge-packaging-job/pkg", {
        "CompilationJobName": "c", "ModelName": "detector", "ModelVersion": "1.0",
        "RoleArn": "arn:aws:iam::123456789012:role/r", "OutputConfig": {"S3OutputLocation": "s3://b/edge"}})
    jobs.advance("pkg", EdgePackagingJobStatus.INPROGRESS)
    jobs.advance("pkg", EdgePackagingJobStatus.COMPLETED, model_artifact="s3://b/edge/detector-1.0.tar.gz",
                 model_signature="c2ln", package_sha1="a" * 40)
    return "Cameras"


def _stage(name: str, **selection: Any) -> dict[str, Any]:
    return {"StageName": name, "DeviceSelectionConfig": selection,
            "DeploymentConfig": {"FailureHandlingPolicy": "ROLLBACK_ON_FAILURE"}}


def test_a_plan_rolls_out_stage_by_stage(ctx: Context, fleet: str) -> None:
    answer = SAGEMAKER.call(ctx, "CreateEdgeDeploymentPlan", EdgeDeploymentPlanName="rollout", ModelConfigs=MODELS,
                            DeviceFleetName=fleet, Stages=[_stage("canary", DeviceSubsetType="SELECTION",
                                                                  DeviceNames=["cam-1"])])
    assert answer["EdgeDeploymentPlanArn"] == "arn:aws:sagemaker:eu-west-1:123456789012:edge-deployment/rollout"
    SAGEMAKER.call(ctx, "CreateEdgeDeploymentStage", EdgeDeploymentPlanName="rollout",
                   Stages=[_stage("cams", DeviceSubsetType="NAMECONTAINS", DeviceNameContains="cam")])
    SAGEMAKER.call(ctx, "StartEdgeDeploymentStage", EdgeDeploymentPlanName="rollout", StageName="canary")
    SAGEMAKER.call(ctx, "StartEdgeDeploymentStage", EdgeDeploymentPlanName="rollout", StageName="cams")
    listed = SAGEMAKER.call(ctx, "ListStageDevices", EdgeDeploymentPlanName="rollout", StageName="cams")
    assert [d["DeviceName"] for d in listed["DeviceDeploymentSummaries"]] == ["cam-2", "cam-3"]
    assert listed["DeviceDeploymentSummaries"][0]["DeviceDeploymentStatus"] == "READYTODEPLOY"
    ctx.metadata.edge_deployment_plans.record_device_result(fleet, "cam-1", {
        "DeploymentName": deployment_name("rollout", "canary"), "DeploymentStatus": "SUCCESS"})
    plan = SAGEMAKER.call(ctx, "DescribeEdgeDeploymentPlan", EdgeDeploymentPlanName="rollout", MaxResults=1)
    assert [s["StageName"] for s in plan["Stages"]] == ["canary"] and plan["NextToken"] == "1"
    assert plan["Stages"][0]["DeploymentStatus"]["StageStatus"] == "DEPLOYED"
    assert (plan["EdgeDeploymentSuccess"], plan["EdgeDeploymentPending"], plan["EdgeDeploymentFailed"]) == (1, 2, 0)
    rest = SAGEMAKER.call(ctx, "DescribeEdgeDeploymentPlan", EdgeDeploymentPlanName="rollout", NextToken="1")
    assert [s["StageName"] for s in rest["Stages"]] == ["cams"] and "NextToken" not in rest
    canary = SAGEMAKER.call(ctx, "ListStageDevices", EdgeDeploymentPlanName="rollout", StageName="canary")
    assert canary["DeviceDeploymentSummaries"][0]["DeployedStageName"] == "canary"
    summaries = SAGEMAKER.call(ctx, "ListEdgeDeploymentPlans", DeviceFleetNameContains="cam")
    assert [p["EdgeDeploymentPlanName"] for p in summaries["EdgeDeploymentPlanSummaries"]] == ["rollout"]


def test_refusals(ctx: Context, fleet: str) -> None:
    plan: dict[str, Any] = {"EdgeDeploymentPlanName": "p", "ModelConfigs": MODELS, "DeviceFleetName": fleet}
    assert SAGEMAKER.error(ctx, "CreateEdgeDeploymentPlan", **plan | {"DeviceFleetName": "nope"})[0] == \
        "ResourceNotFound"
    missing = [{"ModelHandle": "m", "EdgePackagingJobName": "absent"}]
    assert "absent does not exist" in SAGEMAKER.error(ctx, "CreateEdgeDeploymentPlan",
                                                      **plan | {"ModelConfigs": missing})[2]
    assert "Percentage is required" in SAGEMAKER.error(ctx, "CreateEdgeDeploymentPlan", **plan | {
        "Stages": [_stage("s", DeviceSubsetType="PERCENTAGE")]})[2]
    SAGEMAKER.call(ctx, "CreateEdgeDeploymentPlan", **plan | {
        "Stages": [_stage("s", DeviceSubsetType="PERCENTAGE", Percentage=50)]})
    assert SAGEMAKER.error(ctx, "CreateEdgeDeploymentPlan", **plan)[0] == "ResourceInUse"
    assert "unique" in SAGEMAKER.error(ctx, "CreateEdgeDeploymentStage", EdgeDeploymentPlanName="p",
                                       Stages=[_stage("s", DeviceSubsetType="PERCENTAGE", Percentage=5)])[2]
    assert SAGEMAKER.error(ctx, "StartEdgeDeploymentStage", EdgeDeploymentPlanName="p",
                           StageName="x")[0] == "ResourceNotFound"
    SAGEMAKER.call(ctx, "StartEdgeDeploymentStage", EdgeDeploymentPlanName="p", StageName="s")
    assert SAGEMAKER.error(ctx, "StartEdgeDeploymentStage", EdgeDeploymentPlanName="p",
                           StageName="s")[0] == "ValidationException"
    assert SAGEMAKER.error(ctx, "DeleteEdgeDeploymentPlan", EdgeDeploymentPlanName="p")[0] == "ResourceInUse"
    assert SAGEMAKER.error(ctx, "DeleteEdgeDeploymentStage", EdgeDeploymentPlanName="p",
                           StageName="s")[0] == "ResourceInUse"
    assert SAGEMAKER.error(ctx, "DescribeEdgeDeploymentPlan", EdgeDeploymentPlanName="p",
                           NextToken="x")[0] == "ValidationException"
    SAGEMAKER.call(ctx, "StopEdgeDeploymentStage", EdgeDeploymentPlanName="p", StageName="s")
    SAGEMAKER.call(ctx, "DeleteEdgeDeploymentPlan", EdgeDeploymentPlanName="p")
    assert SAGEMAKER.error(ctx, "DescribeEdgeDeploymentPlan", EdgeDeploymentPlanName="p")[0] == "ResourceNotFound"


def test_the_fleet_report_counts_connected_devices_agents_and_models(ctx: Context, fleet: str) -> None:
    now = datetime.now(UTC)
    model = {"ModelName": "detector", "ModelVersion": "1.0", "LatestInference": now}
    ctx.metadata.devices.record_heartbeat(fleet, "cam-1", now, "1.2", [model])
    ctx.metadata.devices.record_heartbeat(fleet, "cam-2", datetime(2020, 1, 1, tzinfo=UTC), "1.2", [model])
    ctx.metadata.devices.record_heartbeat(fleet, "cam-3", now, "1.3", [])
    report = SAGEMAKER.call(ctx, "GetDeviceFleetReport", DeviceFleetName=fleet)
    assert report["DeviceStats"] == {"ConnectedDeviceCount": 2, "RegisteredDeviceCount": 4}
    assert report["AgentVersions"] == [{"Version": "1.2", "AgentCount": 2}, {"Version": "1.3", "AgentCount": 1}]
    assert report["ModelStats"] == [{"ModelName": "detector", "ModelVersion": "1.0", "OfflineDeviceCount": 1,
                                     "ConnectedDeviceCount": 1, "ActiveDeviceCount": 1, "SamplingDeviceCount": 0}]
    assert report["Description"] == "door cameras"
    assert SAGEMAKER.error(ctx, "GetDeviceFleetReport", DeviceFleetName="nope")[0] == "ResourceNotFound"
