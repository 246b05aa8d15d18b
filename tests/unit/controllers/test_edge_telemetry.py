"""The MQTT telemetry subscriber against the real Mosquitto on 127.0.0.1:1883: heartbeats applied as SendHeartbeat
applies them, each message stored once and acknowledged to its device, samples written to the fleet's S3 location,
unknown devices and malformed messages dropped, what was published while the server was away delivered when it is
back, and an agent's publisher ending with every message stored once however long the server was absent."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from modelbay.config import Settings
from modelbay.controllers.edge_telemetry import (
    BadMessage,
    Message,
    TelemetrySubscriber,
    broker_address,
    parse,
    subscribed,
)
from modelbay.edge.outbox import Outbox
from modelbay.edge.publisher import Broker, Publisher
from modelbay.platform import Platform, open_platform
from tests.helpers import wait_until

BROKER = ("127.0.0.1", 1883)
BUCKET = "edge-output"


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    platform = open_platform(Settings(data_dir=tmp_path, mqtt_url=f"mqtt://{BROKER[0]}:{BROKER[1]}"))
    platform.objects.create_bucket(BUCKET, "us-east-1")
    yield platform
    platform.metadata.close()


@pytest.fixture
def fleet(platform: Platform) -> str:
    """A fleet with a unique name (so parallel runs never share topics) and its registered device cam-1."""
    name = "f" + uuid.uuid4().hex[:12]
    platform.metadata.device_fleets.create(name, f"arn:{name}", {"S3OutputLocation": f"s3://{BUCKET}/telemetry"})
    platform.metadata.devices.register(name, [{"DeviceName": "cam-1"}], {"cam-1": f"arn:{name}/cam-1"})
    return name


@pytest.fixture
def publisher() -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect(*BROKER)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def _publish(client: mqtt.Client, fleet: str, kind: str, seq: int, body: dict[str, Any],
             device: str = "cam-1") -> None:
    payload = json.dumps({"seq": seq, "time": time.time(), "body": body})
    client.publish(f"modelbay/edge/{fleet}/{device}/{kind}", payload, qos=1).wait_for_publish(10)


def _seqs(platform: Platform, fleet: str, device: str = "cam-1") -> list[int]:
    return [found.seq for found in platform.metadata.edge_telemetry.list(fleet, device)]


def _delivered(platform: Platform, client: mqtt.Client, fleet: str, seq: int, body: dict[str, Any]) -> None:
    """Publish heartbeat `seq` until the subscriber has stored it (its subscription is made in the background)."""
    def stored() -> bool:
        _publish(client, fleet, "heartbeat", seq, body)
        return seq in _seqs(platform, fleet)
    wait_until(stored, 20, f"heartbeat {seq} to be stored", every_s=0.2)


def test_a_heartbeat_is_applied_and_each_message_stored_once(
        platform: Platform, fleet: str, publisher: mqtt.Client) -> None:
    with subscribed(platform):
        _delivered(platform, publisher, fleet, 1, {"AgentVersion": "2.0", "Models": [
            {"ModelName": "det", "ModelVersion": "4", "LatestInference": 1_700_000_000.5}]})
        _publish(publisher, fleet, "metrics", 2, {"ModelName": "det", "ModelVersion": "4", "Metrics": []})
        _publish(publisher, fleet, "heartbeat", 1, {"AgentVersion": "9.9"})  # delivered again: ignored
        _publish(publisher, fleet, "heartbeat", 1, {"AgentVersion": "1.0"}, device="stranger")
        wait_until(lambda: _seqs(platform, fleet) == [1, 2], 20, "the metrics message to be stored")
    device = platform.metadata.devices.get(fleet, "cam-1")
    assert device is not None and device.agent_version == "2.0"
    assert [(m["ModelName"], m["ModelVersion"], m["LatestInference"].timestamp()) for m in device.models] == [
        ("det", "4", 1_700_000_000.5)]
    assert device.latest_heartbeat is not None
    assert _seqs(platform, fleet, "stranger") == []


class Heard:
    """The JSON payloads published on `topic`, in arrival order, by a subscriber of the test's own."""

    def __init__(self, topic: str) -> None:
        self.payloads: list[Any] = []
        ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = lambda _c, _u, message: self.payloads.append(json.loads(message.payload))
        self.client.connect(*BROKER)
        self.client.loop_start()
        assert ready.wait(10)

    def acked(self) -> list[int]:
        return [seq for payload in self.payloads for seq in payload["seqs"]]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_stored_messages_are_acknowledged_to_their_device_coalesced_and_a_duplicate_again(
        platform: Platform, fleet: str, publisher: mqtt.Client) -> None:
    acks = Heard(f"modelbay/edge/{fleet}/cam-1/ack")
    try:
        with subscribed(platform):
            _delivered(platform, publisher, fleet, 1, {"AgentVersion": "2.0"})
            wait_until(lambda: 1 in acks.acked(), 20, "heartbeat 1 to be acknowledged")
            before = len(acks.payloads)
            for seq in range(2, 152):
                publisher.publish(f"modelbay/edge/{fleet}/cam-1/metrics",
                                  json.dumps({"seq": seq, "time": time.time(), "body": {}}), qos=1)
            wait_until(lambda: set(range(2, 152)) <= set(acks.acked()), 30, "metrics 2..151 to be acknowledged")
            assert len(acks.payloads) - before < 150 / 2  # coalesced: many seqs an ack
            _publish(publisher, fleet, "metrics", 2, {})  # the agent missed the ack: acknowledged again
            wait_until(lambda: acks.acked().count(2) == 2, 20, "the duplicate to be acknowledged again")
    finally:
        acks.close()
    assert _seqs(platform, fleet) == list(range(1, 152))


def test_an_agent_ends_with_every_message_stored_once_though_the_server_was_away(
        platform: Platform, fleet: str, tmp_path: Path) -> None:
    sent, outbox = Heard(f"modelbay/edge/{fleet}/cam-1/metrics"), Outbox(tmp_path / "outbox.sqlite")
    for n in range(40):
        outbox.put("metrics", {"n": n})
    agent = Publisher(outbox, Broker(*BROKER), fleet, "cam-1", window=25, resend_after_s=0.5)
    agent.start()
    try:  # no session of the server at the broker yet: what the agent publishes reaches no server
        wait_until(lambda: [p["seq"] for p in sent.payloads].count(1) >= 2, 20, "the window to be sent again")
        assert len(outbox) == 40 and max(p["seq"] for p in sent.payloads) == 25
        with subscribed(platform):
            wait_until(lambda: len(outbox) == 0, 30, "every message to be acknowledged")
    finally:
        agent.stop()
        outbox.close()
        sent.close()
    assert _seqs(platform, fleet) == list(range(1, 41))


def test_a_sample_is_written_to_the_fleet_output_location(
        platform: Platform, fleet: str, publisher: mqtt.Client) -> None:
    sample = {"ModelName": "det", "ModelVersion": "4", "InferenceId": "i-1", "Input": "AAE=",
              "InputContentType": "application/octet-stream", "Output": "Ag==", "OutputContentType": "text/csv"}
    with subscribed(platform):
        _delivered(platform, publisher, fleet, 1, {"AgentVersion": "2.0"})
        _publish(publisher, fleet, "samples", 2, sample)

        def written() -> list[str]:
            return [info.key for info in platform.objects.list(BUCKET, f"telemetry/{fleet}/cam-1/samples/").objects]
        keys = wait_until(written, 20, "the sample to be written")
    assert isinstance(keys, list) and [key.rsplit("/", 1)[1] for key in keys] == ["2.jsonl"]
    reader = platform.objects.open(BUCKET, keys[0])
    try:
        line = json.loads(reader.read())
    finally:
        reader.close()
    assert line | {"Time": None} == sample | {"Seq": 2, "Time": None}
    assert _seqs(platform, fleet) == [1, 2]


def test_what_is_published_while_the_server_is_away_is_delivered_when_it_is_back(
        platform: Platform, fleet: str, publisher: mqtt.Client) -> None:
    with subscribed(platform):
        _delivered(platform, publisher, fleet, 1, {"AgentVersion": "1.0"})
    _publish(publisher, fleet, "heartbeat", 2, {"AgentVersion": "1.1"})  # queued at the broker for the session
    with subscribed(platform):
        wait_until(lambda: _seqs(platform, fleet) == [1, 2], 20, "the queued heartbeat to be delivered")
    device = platform.metadata.devices.get(fleet, "cam-1")
    assert device is not None and device.agent_version == "1.1"


def _message(fleet: str, device: str, seq: int, kind: str = "metrics") -> Message:
    body = {"AgentVersion": f"1.{seq}"} if kind == "heartbeat" else {"n": seq}
    payload = json.dumps({"seq": seq, "time": seq, "body": body}).encode()
    message = parse(f"modelbay/edge/{fleet}/{device}/{kind}", payload)
    assert message is not None
    return message


def test_a_batch_of_several_devices_is_stored_once_a_seq_and_acknowledged_per_device(
        platform: Platform, fleet: str) -> None:
    platform.metadata.devices.register(fleet, [{"DeviceName": "cam-2"}], {"cam-2": f"arn:{fleet}/cam-2"})
    acked: list[tuple[str, list[int]]] = []
    subscriber = TelemetrySubscriber(platform, lambda _fleet, device, seqs: acked.append((device, seqs)))
    first = [_message(fleet, device, seq, "heartbeat" if seq % 50 == 0 else "metrics")
             for seq in range(1, 201) for device in ("cam-1", "cam-2", "stranger")]
    subscriber.store(first + first[:30])  # duplicates inside the batch
    assert _seqs(platform, fleet) == _seqs(platform, fleet, "cam-2") == list(range(1, 201))
    assert dict(acked) == {"cam-1": list(range(1, 201)) + list(range(1, 11)),
                           "cam-2": list(range(1, 201)) + list(range(1, 11))}
    acked.clear()
    subscriber.store([_message(fleet, "cam-2", seq) for seq in (150, 201, 3, 201)])  # and across batches
    assert _seqs(platform, fleet, "cam-2") == list(range(1, 202))
    assert acked == [("cam-2", [150, 201, 3, 201])]
    assert _seqs(platform, fleet, "stranger") == []
    device = platform.metadata.devices.get(fleet, "cam-1")
    assert device is not None and device.agent_version == "1.200"  # its heartbeats applied


def test_malformed_messages_are_refused_before_anything_is_stored(platform: Platform, fleet: str) -> None:
    assert parse(f"modelbay/edge/{fleet}/cam-1/ack", b'{"seqs": [1]}') is None  # the server's own: ignored
    good = json.dumps({"seq": 1, "time": 1.0, "body": {"AgentVersion": "1"}}).encode()
    for topic, payload in [(f"modelbay/edge/{fleet}/cam-1/other", good), (f"modelbay/edge/{fleet}/cam-1", good),
                           (f"modelbay/edge/{fleet}/cam-1/heartbeat", b"not json"),
                           (f"modelbay/edge/{fleet}/cam-1/heartbeat", b'{"seq": 0, "time": 1, "body": {}}'),
                           (f"modelbay/edge/{fleet}/cam-1/heartbeat", b'{"seq": 1, "time": "now", "body": {}}'),
                           (f"modelbay/edge/{fleet}/cam-1/heartbeat",
                            b'{"seq": 1, "time": 1, "body": {"AgentVersion": "1", "Models": 3}}')]:
        with pytest.raises(BadMessage):
            parse(topic, payload)
    with pytest.raises(BadMessage, match="AgentVersion"):
        parse(f"modelbay/edge/{fleet}/cam-1/heartbeat", b'{"seq": 2, "time": 1, "body": {}}')


def test_the_broker_address_is_read_from_an_mqtt_url() -> None:
    assert broker_address("mqtt://broker.local") == ("broker.local", 1883)
    assert broker_address("mqtt://127.0.0.1:1884") == ("127.0.0.1", 1884)
    with pytest.raises(ValueError, match="mqtt://host:port"):
        broker_address("http://127.0.0.1:1883")
