"""The agent's control pass without MQTT: heartbeats by SendHeartbeat, a deployment's result kept until one is
answered, and a device the server does not know."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from modelbay.edge.agent import Agent, AgentOptions
from modelbay.edge.registration import NotRegistered
from tests.unit.edge.packaging import load_fake, package, public_pem

KEY = Ed25519PrivateKey.generate()
PACKAGE = package(KEY, version="7", model={"scale": 2})


class FakeEdge:
    """The sagemaker-edge client: one deployment of PACKAGE; `offline` makes every call fail to connect."""

    def __init__(self) -> None:
        self.offline, self.registration, self.heartbeats = False, "REGISTERED", []
        self.deployment = {"DeploymentName": "plan-stage", "Type": "Model", "FailureHandlingPolicy":
                           "ROLLBACK_ON_FAILURE", "Definitions": [{
                               "ModelHandle": "forest", "S3Url": "s3://b/forest-7.tar.gz", "State": "DEPLOY",
                               "Checksum": {"Type": "SHA1", "Sum": hashlib.sha1(PACKAGE).hexdigest()}}]}

    def _call(self) -> None:
        if self.offline:
            raise EndpointConnectionError(endpoint_url="http://server")

    def get_device_registration(self, **_: Any) -> dict[str, Any]:
        self._call()
        return {"DeviceRegistration": self.registration}

    def get_deployments(self, **_: Any) -> dict[str, Any]:
        self._call()
        return {"Deployments": [self.deployment]}

    def send_heartbeat(self, **heartbeat: Any) -> dict[str, Any]:
        self._call()
        self.heartbeats.append(heartbeat)
        return {}


class FakeS3:
    def download_file(self, bucket: str, key: str, into: str) -> None:
        Path(into).write_bytes(PACKAGE)


class FakeSession:
    def __init__(self) -> None:
        self.edge = FakeEdge()

    def client(self, service: str, **_: Any) -> Any:
        return self.edge if service == "sagemaker-edge" else FakeS3()


@pytest.fixture
def agent(tmp_path: Path) -> Agent:
    (tmp_path / "packaging-key.pem").write_text(public_pem(KEY))  # pinned already: no fetch
    return Agent(AgentOptions("camera-1", "cameras", "http://server", tmp_path), FakeSession(), load_fake)  # type: ignore[arg-type]  # a fake session


def test_a_deployment_result_waits_for_a_heartbeat_that_is_answered(agent: Agent) -> None:
    edge: FakeEdge = agent._edge
    agent.control_pass()
    assert agent.table.current["forest"].version == "7"
    [heartbeat] = edge.heartbeats
    assert heartbeat["DeviceName"] == "camera-1" and heartbeat["DeploymentResult"]["DeploymentStatus"] == "DEPLOYED"
    assert (heartbeat["Models"][0]["ModelName"], heartbeat["Models"][0]["ModelVersion"]) == ("forest", "7")
    edge.offline = True
    agent.control_pass()  # offline: nothing raised, the model keeps serving
    assert len(edge.heartbeats) == 1 and "forest" in agent.table.current
    edge.offline = False
    agent.control_pass()
    assert "DeploymentResult" not in edge.heartbeats[-1]  # reported once, then forgotten


def test_a_refused_heartbeat_leaves_the_result_for_the_next(agent: Agent) -> None:
    edge: FakeEdge = agent._edge
    agent.control_pass()
    edge.heartbeats.clear()
    edge.deployment = {**edge.deployment, "DeploymentName": "plan-stage-2"}
    edge.send_heartbeat = _refused  # type: ignore[method-assign]  # the heartbeat fails after the deployment
    agent.control_pass()  # logged; the agent goes on
    del edge.send_heartbeat
    agent.control_pass()
    assert edge.heartbeats[0]["DeploymentResult"]["DeploymentName"] == "plan-stage-2"


def _refused(**_: Any) -> dict[str, Any]:
    raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"},
                       "ResponseMetadata": {"HTTPStatusCode": 400}}, "SendHeartbeat")


def test_a_device_the_server_does_not_know_is_refused(agent: Agent) -> None:
    agent._edge.registration = "DEREGISTERED"
    with pytest.raises(NotRegistered, match="'camera-1' is DEREGISTERED in fleet 'cameras'"):
        agent.control_pass()
