"""Edge packaging and deployment through boto3 against a real server: an XGBoost model compiled for ml_c5 by the real
compiler, packaged and signed (the signature verified with the key GET /_modelbay/v1/edge/packaging-key serves), a
plan of two stages whose first stage gives a selected device its deployment (GetDeployments of the sagemaker-edge
client), and the device's heartbeat reporting it DEPLOYED, which ListStageDevices and the plan show."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from typing import Any

import httpx
import xgboost

from modelbay.security.edge_signing import is_signed
from tests.conftest import client
from tests.helpers import ROOT_SIGNED, ServerProcess, bad_request, wait_until
from tests.integration.models import ROLE
from tests.integration.test_compilation_jobs import _archive, _data, create, wait_for_end

ENDED = ("COMPLETED", "FAILED", "STOPPED")


def _compiled(sagemaker: Any, s3: Any, bucket: str, name: str) -> None:
    features, labels = _data()
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 3}, xgboost.DMatrix(features, labels),
                            num_boost_round=5)
    s3.put_object(Bucket=bucket, Key="model/model.tar.gz",
                  Body=_archive({"xgboost-model": bytes(booster.save_raw(raw_format="ubj"))}))
    create(sagemaker, name, f"s3://{bucket}/model/model.tar.gz", "XGBOOST", f"s3://{bucket}/compiled/")
    assert wait_for_end(sagemaker, name)["CompilationJobStatus"] == "COMPLETED"


def _packaged(sagemaker: Any, bucket: str, name: str, compilation: str) -> dict[str, Any]:
    sagemaker.create_edge_packaging_job(
        EdgePackagingJobName=name, CompilationJobName=compilation, ModelName="detector", ModelVersion="1.0",
        RoleArn=ROLE, OutputConfig={"S3OutputLocation": f"s3://{bucket}/edge"})
    wait_until(lambda: sagemaker.describe_edge_packaging_job(EdgePackagingJobName=name)["EdgePackagingJobStatus"]
               in ENDED, 60, f"{name} to end", every_s=0.25)
    described: dict[str, Any] = sagemaker.describe_edge_packaging_job(EdgePackagingJobName=name)
    return described


def test_a_compiled_model_is_packaged_signed_and_deployed_to_a_stage_of_devices(
        server: ServerProcess, sagemaker: Any, s3: Any, bucket: str, unique: str) -> None:
    edge = client(server.url, "sagemaker-edge")
    _compiled(sagemaker, s3, bucket, unique)
    job = _packaged(sagemaker, bucket, unique, unique)
    assert (job["EdgePackagingJobStatus"], job["ModelArtifact"]) == (
        "COMPLETED", f"s3://{bucket}/edge/detector-1.0.tar.gz")
    package = s3.get_object(Bucket=bucket, Key="edge/detector-1.0.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(package), mode="r:gz") as archive:
        manifest = archive.extractfile("edge-package.json").read()  # type: ignore[union-attr]
    assert "neo-manifest.json" in json.loads(manifest)["Files"]
    key = httpx.get(f"{server.url}/_modelbay/v1/edge/packaging-key", auth=ROOT_SIGNED, timeout=10)
    assert is_signed(manifest, job["ModelSignature"], key.json()["PublicKeyPem"])
    assert httpx.get(f"{server.url}/_modelbay/v1/edge/packaging-key", timeout=10).status_code == 403  # unsigned

    devices = [f"{unique}-cam-{n}" for n in range(3)]  # device names are unique in an account
    sagemaker.create_device_fleet(DeviceFleetName=unique, OutputConfig={"S3OutputLocation": f"s3://{bucket}/fleet"})
    sagemaker.register_devices(DeviceFleetName=unique, Devices=[{"DeviceName": name} for name in devices])
    sagemaker.create_edge_deployment_plan(
        EdgeDeploymentPlanName=unique, DeviceFleetName=unique,
        ModelConfigs=[{"ModelHandle": "detector", "EdgePackagingJobName": unique}],
        Stages=[{"StageName": "canary", "DeviceSelectionConfig": {"DeviceSubsetType": "SELECTION",
                                                                  "DeviceNames": [devices[0]]}},
                {"StageName": "rest", "DeviceSelectionConfig": {"DeviceSubsetType": "PERCENTAGE", "Percentage": 100}}])
    sagemaker.start_edge_deployment_stage(EdgeDeploymentPlanName=unique, StageName="canary")
    assert edge.get_deployments(DeviceFleetName=unique, DeviceName=devices[1])["Deployments"] == []
    [deployment] = edge.get_deployments(DeviceFleetName=unique, DeviceName=devices[0])["Deployments"]
    [definition] = deployment["Definitions"]
    assert (definition["ModelHandle"], definition["S3Url"], definition["Checksum"]) == (
        "detector", job["ModelArtifact"], {"Type": "SHA1", "Sum": hashlib.sha1(package).hexdigest()})  # noqa: S324

    edge.send_heartbeat(DeviceFleetName=unique, DeviceName=devices[0], AgentVersion="1.0",
                        Models=[{"ModelName": "detector", "ModelVersion": "1.0"}],
                        DeploymentResult={"DeploymentName": deployment["DeploymentName"],
                                          "DeploymentStatus": "SUCCESS"})
    [device] = sagemaker.list_stage_devices(EdgeDeploymentPlanName=unique, StageName="canary")[
        "DeviceDeploymentSummaries"]
    assert (device["DeviceName"], device["DeviceDeploymentStatus"]) == (devices[0], "DEPLOYED")
    plan = sagemaker.describe_edge_deployment_plan(EdgeDeploymentPlanName=unique)
    assert [s["DeploymentStatus"]["StageStatus"] for s in plan["Stages"]] == ["DEPLOYED", "READYTODEPLOY"]
    assert plan["EdgeDeploymentSuccess"] == 1
    report = sagemaker.get_device_fleet_report(DeviceFleetName=unique)
    assert report["DeviceStats"] == {"ConnectedDeviceCount": 1, "RegisteredDeviceCount": 3}
    assert bad_request(sagemaker.delete_edge_deployment_stage, EdgeDeploymentPlanName=unique,
                       StageName="canary")["Code"] == "ResourceInUse"
