"""A fleet of edge agents (`modelbay edge-agent` processes) deployed to by SageMaker Edge Manager's API.

A scikit-learn forest trained here is compiled (CreateCompilationJob), packaged twice (versions 1 and 2) and rolled
out by deployment plans: version 1 to one device, then the rest; version 2 to one device; each agent answers
locally with its version, as the forest predicts. One agent reaches the server and the broker through proxies the
test cuts: it keeps answering, queues its telemetry, and forwards it once back, the server holding every seq once,
in order. A corrupted package makes its agent keep the previous model and its stage device FAILED with the reason.

One server (with MQTT telemetry through the machine's Mosquitto), one compilation job, three agents for the module.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy
import pytest
from sklearn.ensemble import RandomForestClassifier

from tests.conftest import client
from tests.helpers import ROOT_SIGNED, ServerProcess, modelbay_server, wait_until
from tests.tcp_proxy import TcpProxy

ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
MQTT_PORT = 1883  # the machine's Mosquitto
FLEET = "edge-agents-fleet"
DEVICES = ("camera-1", "camera-2", "camera-3")  # camera-3 is the one cut off
ROWS = numpy.random.default_rng(3).uniform(-1, 1, size=(6, 4)).astype(numpy.float32)


@pytest.fixture(scope="module")
def edge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that subscribes to its agents' telemetry on the broker."""
    with modelbay_server(tmp_path_factory.mktemp("edge-server"),
                         env={"MODELBAY_MQTT_URL": f"mqtt://127.0.0.1:{MQTT_PORT}"}) as server:
        yield server


@pytest.fixture(scope="module")
def sagemaker(edge_server: ServerProcess) -> Any:
    return client(edge_server.url, "sagemaker")


@pytest.fixture(scope="module")
def s3(edge_server: ServerProcess) -> Any:
    return client(edge_server.url, "s3")


def _forest() -> tuple[bytes, RandomForestClassifier]:
    rng = numpy.random.default_rng(0)
    features = rng.uniform(-1, 1, size=(300, 4))
    forest = RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0)
    forest.fit(features, (features[:, 0] + features[:, 1] * features[:, 2] > 0).astype(int))
    model, archive = io.BytesIO(), io.BytesIO()
    joblib.dump(forest, model)
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.joblib")
        info.size = len(model.getvalue())
        tar.addfile(info, io.BytesIO(model.getvalue()))
    return archive.getvalue(), forest


@pytest.fixture(scope="module")
def packages(sagemaker: Any, s3: Any) -> dict[str, Any]:
    """The compiled forest packaged as versions 1, 2 and 3 (3's object then corrupted); the forest's answers."""
    archive, forest = _forest()
    s3.create_bucket(Bucket="edge-agents")
    s3.put_object(Bucket="edge-agents", Key="forest/model.tar.gz", Body=archive)
    sagemaker.create_compilation_job(
        CompilationJobName="edge-forest", RoleArn=ROLE, StoppingCondition={"MaxRuntimeInSeconds": 900},
        InputConfig={"S3Uri": "s3://edge-agents/forest/model.tar.gz", "Framework": "SKLEARN",
                     "DataInputConfig": json.dumps({"input": [1, 4]})},
        OutputConfig={"S3OutputLocation": "s3://edge-agents/compiled", "TargetPlatform": {"Os": "LINUX",
                                                                                           "Arch": "X86_64"}})
    job = wait_until(lambda: _ended(sagemaker.describe_compilation_job(CompilationJobName="edge-forest"),
                                    "CompilationJobStatus"), 300, "the compilation job")
    assert job["CompilationJobStatus"] == "COMPLETED", job.get("FailureReason")
    for version in ("1", "2", "3"):
        sagemaker.create_edge_packaging_job(
            EdgePackagingJobName=f"edge-forest-v{version}", CompilationJobName="edge-forest", ModelName="forest",
            ModelVersion=version, RoleArn=ROLE, OutputConfig={"S3OutputLocation": "s3://edge-agents/packages"})
    for version in ("1", "2", "3"):
        packaged = wait_until(partial(_packaged, sagemaker, f"edge-forest-v{version}"), 120, "packaging")
        assert packaged["EdgePackagingJobStatus"] == "COMPLETED", packaged.get("EdgePackagingJobStatusMessage")
    bad = sagemaker.describe_edge_packaging_job(EdgePackagingJobName="edge-forest-v3")["ModelArtifact"]
    bucket, key = bad.removeprefix("s3://").split("/", 1)
    s3.put_object(Bucket=bucket, Key=key, Body=s3.get_object(Bucket=bucket, Key=key)["Body"].read()[:-100])
    return {"labels": forest.predict(ROWS).tolist()}


def _packaged(sagemaker: Any, name: str) -> dict[str, Any] | None:
    return _ended(sagemaker.describe_edge_packaging_job(EdgePackagingJobName=name), "EdgePackagingJobStatus")


def _ended(found: dict[str, Any], member: str) -> dict[str, Any] | None:
    return found if found[member] in ("COMPLETED", "FAILED", "STOPPED") else None


class Agent:
    """A `modelbay edge-agent` process; its API and MQTT traffic go through proxies when `proxied`."""

    def __init__(self, name: str, server: ServerProcess, home: Path, proxied: bool) -> None:
        self.name, self.home = name, home
        self.invocations = 0  # each captured as a sample (--capture-percent 100)
        self.api = TcpProxy(int(server.url.rsplit(":", 1)[1])) if proxied else None
        self.mqtt = TcpProxy(MQTT_PORT) if proxied else None
        self.api_url = f"http://{self.api.url}" if self.api else server.url
        self.mqtt_url = f"mqtt://{self.mqtt.url}" if self.mqtt else f"mqtt://127.0.0.1:{MQTT_PORT}"
        self.proc, self.url = self.start()

    def start(self) -> tuple[subprocess.Popen[bytes], str]:
        with open(self.home / "stdout", "wb") as out, open(self.home / "stderr", "ab") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "modelbay", "edge-agent", "--device", self.name, "--fleet", FLEET,
                 "--endpoint-url", self.api_url, "--mqtt", self.mqtt_url, "--state-dir", str(self.home / "state"),
                 "--heartbeat-s", "0.5", "--capture-percent", "100"], stdout=out, stderr=err)
        listening = wait_until(lambda: self._port() or proc.poll() is not None, 60, f"{self.name} to listen")
        assert proc.poll() is None, (self.home / "stderr").read_text()[-3000:]
        return proc, f"http://127.0.0.1:{listening}"

    def restart(self) -> None:
        """SIGTERM (a clean stop), then start again on the same state dir."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=30) == 0
        self.proc, self.url = self.start()

    def _port(self) -> int | None:
        for line in (self.home / "stdout").read_text().splitlines():
            if line.startswith("edge agent listening on 127.0.0.1:"):
                return int(line.rsplit(":", 1)[1])
        return None

    def versions(self) -> dict[str, str]:
        found = httpx.get(f"{self.url}/models", timeout=5).json()["Models"]
        return {model["ModelHandle"]: model["ModelVersion"] for model in found}

    def predict(self) -> list[Any]:
        answer = httpx.post(f"{self.url}/models/forest/invocations", json={"instances": ROWS.tolist()}, timeout=5)
        assert answer.status_code == 200, answer.text
        self.invocations += 1
        predictions: list[Any] = answer.json()["predictions"]
        return predictions

    def cut(self) -> None:
        assert self.api is not None and self.mqtt is not None
        self.api.cut()
        self.mqtt.cut()

    def restore(self) -> None:
        assert self.api is not None and self.mqtt is not None
        self.api.restore()
        self.mqtt.restore()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        finally:
            for proxy in (self.api, self.mqtt):
                if proxy is not None:
                    proxy.cut()


@pytest.fixture(scope="module")
def agents(edge_server: ServerProcess, sagemaker: Any, packages: dict[str, Any],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Agent]]:
    sagemaker.create_device_fleet(DeviceFleetName=FLEET, RoleArn=ROLE,
                                  OutputConfig={"S3OutputLocation": "s3://edge-agents/fleet"})
    sagemaker.register_devices(DeviceFleetName=FLEET, Devices=[{"DeviceName": name} for name in DEVICES])
    started: dict[str, Agent] = {}
    try:
        for name in DEVICES:
            started[name] = Agent(name, edge_server, tmp_path_factory.mktemp(name), proxied=name == DEVICES[2])
        yield started
    finally:
        exits = {name: agent.stop() for name, agent in started.items()}
    assert exits == dict.fromkeys(DEVICES, 0)  # SIGTERM stops each cleanly


def _plan(sagemaker: Any, name: str, version: str, stages: dict[str, list[str]]) -> None:
    sagemaker.create_edge_deployment_plan(
        EdgeDeploymentPlanName=name, DeviceFleetName=FLEET,
        ModelConfigs=[{"ModelHandle": "forest", "EdgePackagingJobName": f"edge-forest-v{version}"}],
        Stages=[{"StageName": stage, "DeviceSelectionConfig": {"DeviceSubsetType": "SELECTION", "DeviceNames": names},
                 "DeploymentConfig": {"FailureHandlingPolicy": "ROLLBACK_ON_FAILURE"}}
                for stage, names in stages.items()])


def _stage_devices(sagemaker: Any, plan: str, stage: str) -> dict[str, dict[str, Any]]:
    found = sagemaker.list_stage_devices(EdgeDeploymentPlanName=plan, StageName=stage)["DeviceDeploymentSummaries"]
    return {device["DeviceName"]: device for device in found}


def _rolled_out(sagemaker: Any, plan: str, stage: str, agents: dict[str, Agent], expected: dict[str, str]) -> None:
    """Start the stage; wait until every agent serves `expected`'s version (absent: nothing) and it is DEPLOYED."""
    sagemaker.start_edge_deployment_stage(EdgeDeploymentPlanName=plan, StageName=stage)
    for name, agent in agents.items():
        wanted = {"forest": expected[name]} if name in expected else {}
        wait_until(partial(_serves, agent, wanted), 60, f"{name} to serve {wanted}")
    wait_until(lambda: all(d["DeviceDeploymentStatus"] == "DEPLOYED"
                           for d in _stage_devices(sagemaker, plan, stage).values()), 30, f"{stage} deployed")


def _serves(agent: Agent, wanted: dict[str, str]) -> bool:
    return agent.versions() == wanted


def _telemetry(server: ServerProcess, device: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server.url}/_modelbay/v1/edge/telemetry", params={"fleet": FLEET, "device": device},
                       auth=ROOT_SIGNED, timeout=10)
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()["Telemetry"]
    return found


def test_a_fleet_rolls_out_by_stages_survives_a_cut_and_rolls_back_a_bad_package(
        edge_server: ServerProcess, sagemaker: Any, packages: dict[str, Any], agents: dict[str, Agent]) -> None:
    first, second, third = DEVICES
    # STEP 1: version 1, to one device by selection, then to the rest; each answers as the forest does
    _plan(sagemaker, "forest-v1", "1", {"canary": [first], "rest": [second, third]})
    _rolled_out(sagemaker, "forest-v1", "canary", agents, {first: "1"})
    _rolled_out(sagemaker, "forest-v1", "rest", agents, dict.fromkeys(DEVICES, "1"))
    for agent in agents.values():
        assert agent.predict() == packages["labels"]
    plan = sagemaker.describe_edge_deployment_plan(EdgeDeploymentPlanName="forest-v1")
    assert [stage["DeploymentStatus"]["StageStatus"] for stage in plan["Stages"]] == ["DEPLOYED", "DEPLOYED"]

    # STEP 2: the third agent is cut off; it keeps answering and queues its telemetry meanwhile
    agents[third].cut()
    for _ in range(5):
        assert agents[third].predict() == packages["labels"]
    _plan(sagemaker, "forest-v2", "2", {"second": [second]})
    _rolled_out(sagemaker, "forest-v2", "second", agents, {first: "1", second: "2", third: "1"})
    assert agents[second].predict() == packages["labels"]

    # STEP 3: back online, it forwards what it queued: every seq from 1 once, in order
    assert sum(m["Kind"] == "samples" for m in _telemetry(edge_server, third)) < agents[third].invocations
    agents[third].restore()
    wait_until(lambda: sum(m["Kind"] == "samples" for m in _telemetry(edge_server, third))
               == agents[third].invocations, 60, "the samples queued while cut off to arrive")
    stored = _telemetry(edge_server, third)
    assert [message["Seq"] for message in stored] == list(range(1, len(stored) + 1))
    assert {message["Kind"] for message in stored} == {"heartbeat", "metrics", "samples"}
    device = sagemaker.describe_device(DeviceName=third, DeviceFleetName=FLEET)  # its heartbeats were applied
    assert [(m["ModelName"], m["ModelVersion"]) for m in device["Models"]] == [("forest", "1")]

    # STEP 4: a corrupted package: its agent keeps version 1, and the stage device is FAILED with the reason
    _plan(sagemaker, "forest-v3", "3", {"bad": [first]})
    sagemaker.start_edge_deployment_stage(EdgeDeploymentPlanName="forest-v3", StageName="bad")
    failed = wait_until(lambda: _stage_devices(sagemaker, "forest-v3", "bad")[first]["DeviceDeploymentStatus"]
                        == "FAILED" and _stage_devices(sagemaker, "forest-v3", "bad")[first], 60, "the failure")
    assert isinstance(failed, dict)
    assert "is not the checksum" in failed["DeviceDeploymentStatusMessage"]
    assert "rolled back" in failed["DeviceDeploymentStatusMessage"]
    assert agents[first].versions() == {"forest": "1"}
    assert agents[first].predict() == packages["labels"]


def test_an_agent_restarted_offline_serves_its_last_good_model(agents: dict[str, Agent]) -> None:
    agent = agents[DEVICES[2]]
    wait_until(lambda: agent.versions() == {"forest": "1"}, 60, "version 1")
    agent.cut()
    try:
        agent.restart()
        assert agent.versions() == {"forest": "1"}
        assert len(agent.predict()) == len(ROWS)
    finally:
        agent.restore()


def test_an_agent_of_a_device_not_registered_exits_saying_so(edge_server: ServerProcess, agents: Any,
                                                            tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "modelbay", "edge-agent", "--device", "stranger", "--fleet", FLEET,
                           "--endpoint-url", edge_server.url, "--state-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "'stranger' is NOT_REGISTERED in fleet" in done.stdout
