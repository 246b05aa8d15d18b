"""The publisher against the machine's Mosquitto (127.0.0.1:1883), some tests through a proxy they cut, with a small
server of the test's own (Server: stores each seq once and acknowledges it as the real one does); each test's
topics are its own (a unique fleet)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from modelbay.edge.outbox import Outbox
from modelbay.edge.publisher import BadBrokerUrl, Broker, Publisher
from tests.helpers import wait_until
from tests.tcp_proxy import TcpProxy

BROKER = Broker("127.0.0.1", 1883)
KINDS = ("heartbeat", "metrics", "samples")


class Server:
    """Receives one fleet's telemetry: every arrival as (topic, seq) in `received`, each seq once in `stored`, which
    it acknowledges (again for a seq stored before) on the device's ack topic when `acking`. A seq in `lose` is
    ignored the first time it arrives, as if the broker had dropped it."""

    def __init__(self, fleet: str, acking: bool = True, lose: frozenset[int] = frozenset()) -> None:
        self.received: list[tuple[str, int]] = []
        self.stored: list[int] = []
        self.acking, self._lose = acking, set(lose)
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe([(f"modelbay/edge/{fleet}/+/{kind}", 1) for kind in KINDS])
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = lambda _c, _u, message: self._arrived(message.topic, json.loads(message.payload))
        self.client.connect(BROKER.host, BROKER.port)
        self.client.loop_start()
        assert subscribed.wait(10)

    def _arrived(self, topic: str, payload: dict[str, int]) -> None:
        seq = payload["seq"]
        self.received.append((topic, seq))
        if seq in self._lose:
            self._lose.remove(seq)
            return
        if seq not in self.stored:
            self.stored.append(seq)
        if self.acking:
            self.client.publish(topic.rsplit("/", 1)[0] + "/ack", json.dumps({"seqs": [seq]}), qos=1)

    def seqs(self) -> list[int]:
        return [seq for _, seq in self.received]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def fleet() -> str:
    return "f" + uuid.uuid4().hex[:10]


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    yield outbox
    outbox.close()


def _queue(outbox: Outbox, count: int) -> None:
    for n in range(count):
        outbox.put(KINDS[n % 3], {"n": n})


def test_queued_messages_are_sent_in_order_and_deleted_once_the_server_acknowledges(
        outbox: Outbox, fleet: str) -> None:
    server = Server(fleet)
    _queue(outbox, 50)
    publisher = Publisher(outbox, BROKER, fleet, "cam-1")
    publisher.start()
    try:
        wait_until(lambda: len(outbox) == 0, 20, "the outbox to empty")
    finally:
        publisher.stop()
        server.close()
    assert server.seqs() == list(range(1, 51))
    assert server.received[1] == (f"modelbay/edge/{fleet}/cam-1/metrics", 2)


def test_what_the_server_did_not_acknowledge_stays_and_is_sent_again_within_the_window(
        outbox: Outbox, fleet: str) -> None:
    server = Server(fleet, acking=False)
    _queue(outbox, 30)
    publisher = Publisher(outbox, BROKER, fleet, "cam-1", window=10, resend_after_s=0.5)
    publisher.start()
    try:
        wait_until(lambda: server.seqs().count(1) >= 2, 20, "the window to be sent again")
        assert max(server.seqs()) == 10 and len(outbox) == 30  # the broker's PUBACKs deleted nothing
        server.acking = True
        wait_until(lambda: len(outbox) == 0, 20, "the outbox to empty")
    finally:
        publisher.stop()
        server.close()
    assert server.stored == list(range(1, 31))


def test_messages_lost_on_the_way_are_sent_again_until_stored_each_once(outbox: Outbox, fleet: str) -> None:
    server = Server(fleet, lose=frozenset({1, 7, 8, 33, 60}))
    _queue(outbox, 60)
    publisher = Publisher(outbox, BROKER, fleet, "cam-1", window=20, resend_after_s=0.5)
    publisher.start()
    try:
        wait_until(lambda: len(outbox) == 0, 30, "the outbox to empty")
    finally:
        publisher.stop()
        server.close()
    assert sorted(server.stored) == list(range(1, 61))  # each seq stored once, the lost ones too
    assert server.seqs().count(1) >= 2  # lost the first time, then sent again


def test_offline_messages_wait_and_are_forwarded_in_order_once_back(outbox: Outbox, fleet: str) -> None:
    server, proxy = Server(fleet), TcpProxy(1883)
    publisher = Publisher(outbox, Broker("127.0.0.1", proxy.port), fleet, "cam-2", max_backoff_s=0.5)
    publisher.start()
    try:
        outbox.put("heartbeat", {})
        publisher.wake()
        wait_until(lambda: len(outbox) == 0, 20, "the first message to be acknowledged")
        proxy.cut()
        wait_until(lambda: not publisher.is_connected, 20, "the publisher to notice")
        for _ in range(20):
            outbox.put("metrics", {})
            publisher.wake()
        assert len(outbox) == 20 and server.seqs() == [1]  # nothing can leave while cut off
        proxy.restore()
        wait_until(lambda: len(outbox) == 0, 20, "the backlog to be forwarded and acknowledged")
    finally:
        publisher.stop()
        proxy.cut()
        server.close()
    assert server.seqs() == list(range(1, 22))


@pytest.mark.parametrize("url", ["http://h:1", "mqtt://", "mqtt://h:x", "mqtt://h/path"])
def test_a_broker_url_must_be_mqtt_host_port(url: str) -> None:
    with pytest.raises(BadBrokerUrl):
        Broker.parse(url)
    assert Broker.parse("mqtt://10.0.0.1") == Broker("10.0.0.1", 1883)
