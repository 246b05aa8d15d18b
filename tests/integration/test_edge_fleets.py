"""Edge Manager's fleets and devices through boto3, as an agent and its operator use them: a fleet and its devices
registered with the sagemaker client, heartbeats sent with the sagemaker-edge client (endpoint_url only) and seen in
DescribeDevice, and a server subscribed to the MQTT broker (MODELBAY_MQTT_URL) recording a published heartbeat,
shown by `modelbay edge`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import client
from tests.helpers import ROOT_SIGNED, ServerProcess, bad_request, modelbay_server, wait_until

OUTPUT = {"S3OutputLocation": "s3://edge-output/fleets"}


@pytest.fixture(scope="module")
def mqtt_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server subscribed to the Mosquitto broker on 127.0.0.1:1883."""
    with modelbay_server(tmp_path_factory.mktemp("edge-server"), env={"MODELBAY_MQTT_URL": "mqtt://127.0.0.1:1883"}
                         ) as proc:
        yield proc


@pytest.fixture
def fleet(mqtt_server: ServerProcess, unique: str) -> str:
    """A fleet with one device, both named `unique` (device names are unique in an account)."""
    sagemaker = client(mqtt_server.url, "sagemaker")
    sagemaker.create_device_fleet(DeviceFleetName=unique, OutputConfig=OUTPUT)
    sagemaker.register_devices(DeviceFleetName=unique, Devices=[{"DeviceName": unique, "IotThingName": "thing-1"}])
    return unique


def test_a_heartbeat_sent_by_the_edge_api_shows_in_describe_device(mqtt_server: ServerProcess, fleet: str) -> None:
    sagemaker, edge = client(mqtt_server.url, "sagemaker"), client(mqtt_server.url, "sagemaker-edge")
    assert edge.get_device_registration(DeviceFleetName=fleet, DeviceName=fleet)["DeviceRegistration"] == (
        "REGISTERED")
    edge.send_heartbeat(DeviceFleetName=fleet, DeviceName=fleet, AgentVersion="1.0",
                        Models=[{"ModelName": "detector", "ModelVersion": "2"}])
    device = sagemaker.describe_device(DeviceFleetName=fleet, DeviceName=fleet)
    assert (device["AgentVersion"], device["Models"], device["IotThingName"]) == (
        "1.0", [{"ModelName": "detector", "ModelVersion": "2"}], "thing-1")
    assert device["LatestHeartbeat"] >= device["RegistrationTime"]
    assert edge.get_deployments(DeviceFleetName=fleet, DeviceName=fleet)["Deployments"] == []
    refused = bad_request(edge.send_heartbeat, DeviceFleetName=fleet, DeviceName="cam-9", AgentVersion="1.0")
    assert refused["Code"] == "ValidationException"
    listed = sagemaker.list_devices(DeviceFleetName=fleet)["DeviceSummaries"]
    assert [d["DeviceName"] for d in listed] == [fleet]
    assert bad_request(sagemaker.delete_device_fleet, DeviceFleetName=fleet)["Code"] == "ResourceInUse"


def test_a_heartbeat_published_over_mqtt_is_recorded(mqtt_server: ServerProcess, fleet: str) -> None:
    sagemaker = client(mqtt_server.url, "sagemaker")
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2)
    publisher.connect("127.0.0.1", 1883)
    publisher.loop_start()
    body: dict[str, Any] = {"AgentVersion": "3.1", "Models": [{"ModelName": "detector", "ModelVersion": "7"}]}

    def recorded() -> bool:  # published again until the server's subscription (made in the background) has it
        payload = json.dumps({"seq": 1, "time": time.time(), "body": body})
        publisher.publish(f"modelbay/edge/{fleet}/{fleet}/heartbeat", payload, qos=1).wait_for_publish(10)
        return sagemaker.describe_device(DeviceFleetName=fleet, DeviceName=fleet).get("AgentVersion") == "3.1"

    try:
        wait_until(recorded, 30, "the MQTT heartbeat to be recorded", every_s=0.25)
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    answer = httpx.get(f"{mqtt_server.url}/_modelbay/v1/edge/telemetry", params={"fleet": fleet, "device": fleet},
                       auth=ROOT_SIGNED, timeout=10)
    answer.raise_for_status()
    assert [(m["Seq"], m["Kind"], m["Body"]["AgentVersion"]) for m in answer.json()["Telemetry"]] == [
        (1, "heartbeat", "3.1")]
    assert httpx.get(f"{mqtt_server.url}/_modelbay/v1/edge/telemetry", timeout=10).status_code == 403  # unsigned
    shown = _cli(mqtt_server.url, "edge", "devices", "--fleet", fleet, "--json")
    assert [(d["DeviceName"], d["AgentVersion"]) for d in shown] == [(fleet, "3.1")]
    telemetry = _cli(mqtt_server.url, "edge", "telemetry", "--fleet", fleet, "--device", fleet, "--json")
    assert [m["Seq"] for m in telemetry] == [1]


def _cli(url: str, *args: str) -> Any:
    done = subprocess.run([sys.executable, "-m", "modelbay", *args, "--url", url], capture_output=True, text=True,
                          check=True, timeout=60)
    return json.loads(done.stdout)
