"""The server's MQTT subscriber of edge agents' telemetry (heartbeats, metrics, samples), when
`Settings.mqtt_url` names a broker (mqtt://host:port).

Agents publish on `modelbay/edge/<fleet>/<device>/<kind>` at QoS 1 a JSON payload
{"seq": <per device, from 1>, "time": <epoch seconds>, "body": {...}}. Each message is stored once
(store/metadata/edge_telemetry.py: TelemetryRepository, by fleet, device and seq: a message the broker delivers again
is stored no second time); a heartbeat's body is applied as SendHeartbeat applies its input
(monitoring/edge_heartbeats.py); a sample is also written to the fleet's S3OutputLocation as a JSON line, at
`<location>/<fleet>/<device>/samples/<yyyy>/<mm>/<dd>/<hh>/<seq>.jsonl`. A message of a device not registered
in the region's fleet is dropped (logged once per device).

Messages are stored in batches, off paho's network thread: its callback only parses a message (a malformed one, a
heartbeat's body included, is dropped before anything is stored) and queues it; one writer thread (TelemetryWriter)
takes what is queued (up to BATCH messages, or what arrived within GATHER_S of the first) and stores it in one
transaction (TelemetryRepository.append_many), then applies the heartbeats newly stored (in seq order per device),
writes the samples, and acknowledges the batch.

Each message stored (or found stored already: the agent resends what it has no acknowledgement of) is acknowledged
to its device on `modelbay/edge/<fleet>/<device>/ack`, QoS 1, as {"seqs": [...]}, one acknowledgement per device a
batch: the agent deletes a message from its outbox only then, so a message the broker dropped (its queue for this
subscriber is bounded) or delivered while the server was down is sent again until stored. The subscription names the
three telemetry kinds, so the server does not receive its own acknowledgements.

The session is persistent (MQTT 5, clean start off) under a client id fixed per data directory and region, so what
agents publish while the server is down is queued at the broker and delivered when it is back; it expires after
SESSION_EXPIRY_S without the server, so a data directory deleted or a server gone for good leaves no session behind
at the broker collecting every device's messages (agents resend what was never acknowledged, so none is lost).
The subscriber acknowledges a message to the broker too (manual_ack) only once it is stored (or dropped), and
not when the store failed: the broker delivers it again in the next session. So the queue between the threads
holds only messages the broker has in flight to the subscriber, as many as its limit of those (Mosquitto:
max_inflight_messages) and the agents' windows allow.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from time import monotonic
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from modelbay.monitoring.edge_heartbeats import apply_heartbeat
from modelbay.platform import Platform
from modelbay.store.metadata.device_fleets import DeviceNotFound
from modelbay.store.metadata.edge_telemetry import Telemetry
from modelbay.store.objects.base import ObjectMeta
from modelbay.store.objects.uris import S3Location, parse_uri

log = logging.getLogger(__name__)

KINDS = frozenset({"heartbeat", "metrics", "samples"})
TOPICS = [(f"modelbay/edge/+/+/{kind}", 1) for kind in sorted(KINDS)]
BATCH = 500  # a transaction stores at most this many messages,
GATHER_S = 0.003  # or what arrived within this long of the first
DEFAULT_PORT = 1883
_KEEPALIVE_S = 30
SESSION_EXPIRY_S = 3600  # how long the broker keeps the subscriber's session (and queue) while it is away
# SendHeartbeat's timestamp members, which a heartbeat's body gives as epoch seconds
_MODEL_TIMES = ("LatestSampleTime", "LatestInference")
_RESULT_TIMES = ("DeploymentStartTime", "DeploymentEndTime")


class BadMessage(ValueError):
    """A message that is not telemetry as agents send it; the message says why."""


def broker_address(url: str) -> tuple[str, int]:
    """The host and port of mqtt://host[:port]; ValueError for another URL."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ValueError(f"unsupported MQTT URL {url!r}: expected mqtt://host:port")
    return parts.hostname, parts.port or DEFAULT_PORT


def client_id(platform: Platform) -> str:
    """The session's id: one per data directory and region, the same at every start."""
    settings = platform.settings
    place = hashlib.sha256(f"{settings.data_dir.resolve()} {settings.region}".encode()).hexdigest()[:20]
    return f"modelbay-{place}"


@dataclass(frozen=True)
class Message:
    """A telemetry message as parsed: what is stored, and a heartbeat's SendHeartbeat members (None for another
    kind), read before anything is stored."""

    telemetry: Telemetry
    heartbeat: dict[str, Any] | None


def parse(topic: str, payload: bytes) -> Message | None:
    """The message on `topic`; None for an acknowledgement (the server's own, which a session subscribed by an
    earlier version to every kind receives). Raises BadMessage for one that is not telemetry as agents send it."""
    if topic.endswith("/ack"):
        return None
    fleet, device, kind = _topic(topic)
    seq, time, body = _payload(payload)
    heartbeat = heartbeat_input(body) if kind == "heartbeat" else None
    return Message(Telemetry(fleet, device, seq, kind, time, body), heartbeat)


class TelemetrySubscriber:
    """Stores the region's telemetry messages a batch at a time (`store`); `acknowledge(fleet, device, seqs)` is
    called for each device's messages of the batch, stored now or before."""

    def __init__(self, platform: Platform, acknowledge: Callable[[str, str, list[int]], None]) -> None:
        self._platform = platform
        self._acknowledge = acknowledge
        self._unknown: set[tuple[str, str]] = set()  # devices whose messages were dropped: logged once each

    def store(self, batch: Sequence[Message]) -> None:
        """Store the batch in one transaction, apply what it newly stored, and acknowledge it; a failing store
        raises its error, having acknowledged nothing. A message of a device not registered is dropped."""
        known = self._registered(batch)
        fresh = self._platform.metadata.edge_telemetry.append_many([message.telemetry for message in known])
        stored = sorted((message for message, new in zip(known, fresh, strict=True) if new),
                        key=lambda message: (message.telemetry.fleet, message.telemetry.device, message.telemetry.seq))
        for message in stored:
            self._apply(message)
        seqs: dict[tuple[str, str], list[int]] = {}
        for message in known:
            seqs.setdefault((message.telemetry.fleet, message.telemetry.device), []).append(message.telemetry.seq)
        for (fleet, device), numbers in seqs.items():
            self._acknowledge(fleet, device, numbers)

    def _registered(self, batch: Sequence[Message]) -> list[Message]:
        """The messages of devices registered in their fleets (one look-up a device)."""
        devices = {(message.telemetry.fleet, message.telemetry.device) for message in batch}
        registered = {(fleet, device) for fleet, device in devices
                      if self._platform.metadata.devices.get(fleet, device) is not None}
        for fleet, device in devices - registered:
            self._drop(fleet, device)
        return [message for message in batch if (message.telemetry.fleet, message.telemetry.device) in registered]

    def _apply(self, message: Message) -> None:
        """A stored heartbeat applied, a stored sample written. A failure is logged: the message is stored, so a
        copy delivered again would not be applied either."""
        telemetry = message.telemetry
        try:
            if message.heartbeat is not None:
                self._heartbeat(telemetry.fleet, telemetry.device, telemetry.time, message.heartbeat)
            elif telemetry.kind == "samples":
                self._sample(telemetry.fleet, telemetry.device, telemetry.seq, telemetry.time, telemetry.body)
        except Exception:
            log.exception("applying %s %d of device %s in fleet %s failed", telemetry.kind, telemetry.seq,
                          telemetry.device, telemetry.fleet)

    def _heartbeat(self, fleet: str, device: str, time: datetime, heartbeat: Mapping[str, Any]) -> None:
        try:
            apply_heartbeat(self._platform.metadata, self._platform.metrics, fleet, device, heartbeat, time)
        except DeviceNotFound:
            self._drop(fleet, device)  # deregistered since it was looked up

    def _sample(self, fleet: str, device: str, seq: int, time: datetime, body: Mapping[str, Any]) -> None:
        found = self._platform.metadata.device_fleets.get(fleet)
        if found is None:
            return
        location = parse_uri(found.output_config["S3OutputLocation"])
        if not isinstance(location, S3Location):
            return
        prefix = location.key.rstrip("/")
        key = f"{prefix + '/' if prefix else ''}{fleet}/{device}/samples/{time:%Y/%m/%d/%H}/{seq}.jsonl"
        line = json.dumps(dict(body) | {"Seq": seq, "Time": time.timestamp()}, separators=(",", ":")) + "\n"
        kms_key = found.output_config.get("KmsKeyId")
        headers = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}
        self._platform.objects.put(location.bucket, key, io.BytesIO(line.encode()),
                                   ObjectMeta(content_type="application/jsonlines", headers=headers),
                                   self._platform.kms)

    def _drop(self, fleet: str, device: str) -> None:
        if (fleet, device) not in self._unknown:
            self._unknown.add((fleet, device))
            log.warning("dropping MQTT telemetry of device %s: it is not registered in fleet %s", device, fleet)


def heartbeat_input(body: Mapping[str, Any]) -> dict[str, Any]:
    """SendHeartbeat's input members from a heartbeat body, its epoch-seconds timestamps as datetimes.
    Raises BadMessage for a body without an AgentVersion or with a member of the wrong type."""
    if not isinstance(body.get("AgentVersion"), str):
        raise BadMessage("a heartbeat's body needs an AgentVersion string")
    try:
        heartbeat = {"AgentVersion": body["AgentVersion"],
                     "AgentMetrics": [_metric(metric) for metric in body.get("AgentMetrics", [])],
                     "Models": [_times(model, _MODEL_TIMES) | {"ModelMetrics": [
                         _metric(metric) for metric in model.get("ModelMetrics", [])]} for model in body.get(
                         "Models", [])]}
        if isinstance(body.get("DeploymentResult"), Mapping):
            heartbeat["DeploymentResult"] = _times(body["DeploymentResult"], _RESULT_TIMES)
    except (TypeError, ValueError, AttributeError, OverflowError) as error:
        raise BadMessage(f"a heartbeat's body is not SendHeartbeat's members: {error}") from None
    return heartbeat


def _metric(metric: Mapping[str, Any]) -> dict[str, Any]:
    found = _times(metric, ("Timestamp",))
    if "Value" in found:
        found["Value"] = float(found["Value"])
    return found


def _times(members: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {key: _epoch(value) if key in names else value for key, value in members.items()}


def _epoch(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a timestamp is epoch seconds, not {value!r}")
    return datetime.fromtimestamp(value, UTC)


def _topic(topic: str) -> tuple[str, str, str]:
    parts = topic.split("/")
    if len(parts) != 5 or parts[:2] != ["modelbay", "edge"] or parts[4] not in KINDS or not all(parts[2:4]):
        raise BadMessage(f"topic {topic!r} is not modelbay/edge/<fleet>/<device>/<{'|'.join(sorted(KINDS))}>")
    return parts[2], parts[3], parts[4]


def _payload(payload: bytes) -> tuple[int, datetime, dict[str, Any]]:
    try:
        message = json.loads(payload)
        seq, time, body = message["seq"], message["time"], message["body"]
    except (ValueError, TypeError, KeyError):
        raise BadMessage("the payload is not JSON with seq, time and body") from None
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1 or not isinstance(body, dict):
        raise BadMessage("seq must be a positive integer and body an object")
    try:
        return seq, _epoch(time), body
    except (TypeError, ValueError, OverflowError) as error:
        raise BadMessage(str(error)) from None


class TelemetryWriter:
    """The thread that stores what paho's network thread queues (`received`), a batch at a time, and acknowledges
    each message to the broker once stored (or dropped)."""

    def __init__(self, client: mqtt.Client, subscriber: TelemetrySubscriber) -> None:
        self._client = client
        self._subscriber = subscriber
        self._queue: queue.SimpleQueue[tuple[Message, mqtt.MQTTMessage] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="edge-telemetry-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Store what is queued, and stop the thread (what arrives later is acknowledged to no one: the broker
        delivers it again in the next session)."""
        self._queue.put(None)
        self._thread.join()

    def received(self, delivered: mqtt.MQTTMessage) -> None:
        """paho's on_message: parse and queue (a message that is not telemetry is dropped and acknowledged)."""
        try:
            message = parse(delivered.topic, bytes(delivered.payload))
        except BadMessage as error:
            log.warning("dropping MQTT message on %s: %s", delivered.topic, error)
            message = None
        if message is None:
            self._client.ack(delivered.mid, delivered.qos)
        else:
            self._queue.put((message, delivered))

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._gather()
            if batch:
                self._write(batch)

    def _gather(self) -> tuple[list[tuple[Message, mqtt.MQTTMessage]], bool]:
        """Up to BATCH queued messages, waiting for the first and then up to GATHER_S for more; and whether stop
        was called."""
        batch: list[tuple[Message, mqtt.MQTTMessage]] = []
        deadline = None
        while len(batch) < BATCH:
            try:
                item = self._queue.get(timeout=None if deadline is None else max(0.0, deadline - monotonic()))
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
            if deadline is None:
                deadline = monotonic() + GATHER_S
        return batch, False

    def _write(self, batch: list[tuple[Message, mqtt.MQTTMessage]]) -> None:
        try:
            self._subscriber.store([message for message, _ in batch])
        except Exception:
            log.exception("storing %d MQTT messages failed; the broker will deliver them again", len(batch))
            return
        for _, delivered in batch:
            self._client.ack(delivered.mid, delivered.qos)


def _publish_ack(client: mqtt.Client, fleet: str, device: str, seqs: list[int]) -> None:
    client.publish(f"modelbay/edge/{fleet}/{device}/ack", json.dumps({"seqs": seqs}), qos=1)


@contextlib.contextmanager
def subscribed(platform: Platform) -> Iterator[None]:
    """While in it, the region's telemetry is received from the broker of `Settings.mqtt_url` (nothing without
    one). The connection is made, and remade when lost, in paho's network thread: a broker down at start is
    retried, never fatal."""
    url = platform.settings.mqtt_url
    if url is None:
        yield
        return
    host, port = broker_address(url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id(platform), protocol=mqtt.MQTTv5,
                         manual_ack=True)
    writer = TelemetryWriter(client, TelemetrySubscriber(
        platform, lambda fleet, device, seqs: _publish_ack(client, fleet, device, seqs)))
    client.on_connect = lambda client, userdata, flags, reason, properties: client.subscribe(TOPICS)
    client.on_message = lambda client, userdata, message: writer.received(message)
    writer.start()
    session = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho leaves it unannotated
    session.SessionExpiryInterval = SESSION_EXPIRY_S
    client.connect_async(host, port, keepalive=_KEEPALIVE_S, clean_start=False, properties=session)
    client.loop_start()
    try:
        yield
    finally:
        writer.stop()
        client.disconnect()
        client.loop_stop()
