from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from modelbay.edge.deployments import Deployer
from modelbay.edge.models import ModelTable
from modelbay.edge.state import AgentState
from tests.unit.edge.packaging import load_fake, package

KEY = Ed25519PrivateKey.generate()


class Bucket:
    """Package objects by s3:// URL, as the deployer downloads them."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.offline = False

    def put(self, url: str, data: bytes) -> dict[str, str]:
        self.objects[url] = data
        return {"Type": "SHA1", "Sum": hashlib.sha1(data).hexdigest()}

    def download(self, url: str, into: Path) -> None:
        if self.offline:
            raise EndpointConnectionError(endpoint_url=url)
        into.write_bytes(self.objects[url])


def _deployment(name: str, definitions: list[dict[str, Any]], policy: str = "ROLLBACK_ON_FAILURE") -> dict[str, Any]:
    return {"DeploymentName": name, "Type": "Model", "FailureHandlingPolicy": policy, "Definitions": definitions}


def _definition(bucket: Bucket, handle: str, version: str, **model: Any) -> dict[str, Any]:
    url = f"s3://b/{handle}-{version}.tar.gz"
    checksum = bucket.put(url, package(KEY, version=version, model=model))
    return {"ModelHandle": handle, "S3Url": url, "Checksum": checksum, "State": "DEPLOY"}


@pytest.fixture
def bucket() -> Bucket:
    return Bucket()


def _deployer(tmp_path: Path, bucket: Bucket, table: ModelTable) -> Deployer:
    return Deployer(tmp_path, AgentState.read(tmp_path), table, bucket.download, KEY.public_key, load_fake)


def test_a_deployment_swaps_its_models_in_and_is_applied_once(tmp_path: Path, bucket: Bucket) -> None:
    table = ModelTable()
    deployer = _deployer(tmp_path, bucket, table)
    deployment = _deployment("plan-stage1", [_definition(bucket, "forest", "1", scale=2)])
    assert deployer.apply([deployment]) == 1
    assert deployer.apply([deployment]) == 0
    served = table.current["forest"]
    assert (served.name, served.version, served.path) == ("forest", "1", tmp_path / "models" / "forest" / "1")
    state = AgentState.read(tmp_path)
    assert state.models == {"forest": {"ModelName": "forest", "ModelVersion": "1", "Path": str(served.path)}}
    [result] = state.unreported
    assert result["DeploymentStatus"] == "DEPLOYED"
    assert result["DeploymentModels"][0] == {"ModelHandle": "forest", "DesiredState": "DEPLOY", "State": "DEPLOY",
                                             "Status": "SUCCESS", "ModelName": "forest", "ModelVersion": "1"}


@pytest.mark.parametrize("bad", ["health", "checksum", "signature"])
def test_a_failed_deployment_rolls_back_to_the_previous_model(tmp_path: Path, bucket: Bucket, bad: str) -> None:
    table = ModelTable()
    deployer = _deployer(tmp_path, bucket, table)
    deployer.apply([_deployment("v1", [_definition(bucket, "forest", "1", scale=2)])])
    before = table.current["forest"]
    definition = _definition(bucket, "forest", "2", broken=bad == "health")
    if bad == "checksum":
        definition["Checksum"]["Sum"] = "0" * 40
    if bad == "signature":
        bucket.objects[definition["S3Url"]] = package(Ed25519PrivateKey.generate(), version="2")
        definition["Checksum"] = bucket.put(definition["S3Url"], bucket.objects[definition["S3Url"]])
    deployer.apply([_deployment("v2", [definition, _definition(bucket, "other", "1")])])
    assert table.current == {"forest": before}  # "other" succeeded but is rolled back with it
    result = AgentState.read(tmp_path).unreported[-1]
    assert result["DeploymentStatus"] == "FAILED"
    reason = {"health": "health check", "checksum": "is not the checksum", "signature": "does not verify"}[bad]
    assert reason in result["DeploymentStatusMessage"]
    assert "rolled back" in result["DeploymentStatusMessage"]
    assert [model["Status"] for model in result["DeploymentModels"]] == ["FAIL", "SUCCESS"]
    assert sorted(p.name for p in (tmp_path / "models").glob("*/*")) == ["1"]  # v2's files are gone


def test_do_nothing_keeps_what_succeeded(tmp_path: Path, bucket: Bucket) -> None:
    table = ModelTable()
    deployer = _deployer(tmp_path, bucket, table)
    deployer.apply([_deployment("v1", [_definition(bucket, "forest", "1", broken=True),
                                       _definition(bucket, "other", "1")], policy="DO_NOTHING")])
    assert set(table.current) == {"other"}
    assert AgentState.read(tmp_path).unreported[-1]["DeploymentStatus"] == "FAILED"


def test_unreachable_storage_is_no_failure_and_the_deployment_is_tried_again(tmp_path: Path, bucket: Bucket) -> None:
    table = ModelTable()
    deployer = _deployer(tmp_path, bucket, table)
    deployment = _deployment("v1", [_definition(bucket, "forest", "1")])
    bucket.offline = True
    with pytest.raises(EndpointConnectionError):
        deployer.apply([deployment])
    assert AgentState.read(tmp_path).applied == {}
    bucket.offline = False
    assert deployer.apply([deployment]) == 1
    assert "forest" in table.current


def test_a_restarted_agent_serves_the_last_good_models(tmp_path: Path, bucket: Bucket) -> None:
    _deployer(tmp_path, bucket, ModelTable()).apply([_deployment("v1", [_definition(bucket, "forest", "1", scale=5)])])
    table = ModelTable()
    _deployer(tmp_path, Bucket(), table).restore()
    assert table.current["forest"].version == "1"
    assert table.current["forest"].model.predict(table.current["forest"].model.sample_input()).tolist() == [15, 15]
    shutil.rmtree(tmp_path / "models")
    damaged = ModelTable()
    _deployer(tmp_path, Bucket(), damaged).restore()  # a model that no longer loads is left out, not fatal
    assert dict(damaged.current) == {}


def test_undeploy_removes_the_handle(tmp_path: Path, bucket: Bucket) -> None:
    table = ModelTable()
    deployer = _deployer(tmp_path, bucket, table)
    deployer.apply([_deployment("v1", [_definition(bucket, "forest", "1")])])
    deployer.apply([_deployment("gone", [{"ModelHandle": "forest", "State": "UNDEPLOY"}])])
    assert dict(table.current) == {}
    assert AgentState.read(tmp_path).models == {}
