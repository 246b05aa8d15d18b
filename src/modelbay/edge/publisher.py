"""Forwarding the outbox to the server through an MQTT broker (paho-mqtt, QoS 1), in seq order, nothing lost.

A PUBACK only says the broker has a message, and a broker drops what it has queued for a subscriber past its limit
(Mosquitto: max_queued_messages, 1000), or while no session of the server exists. So the server acknowledges what
it stored on the device's ack topic ({"seqs": [...]}), and only that deletes a message from the outbox.

One thread owns the connection: it connects (a new paho client per connection, so only this code ever resends),
subscribes to the ack topic, then publishes the outbox's messages in seq order with at most `window` sent and not
acknowledged by the server (below the broker's queue for the server). When the oldest of them has waited
`resend_after_s`, it publishes the window again from it: a message dropped on the way is sent again, and the
server, which stores each (device, seq) once, acknowledges one it had again. When the connection drops it gives up
the window and, after a backoff (doubling up to max_backoff_s), reconnects and starts again from the oldest message
still in the outbox.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from modelbay.edge.outbox import Outbox

WINDOW = 200  # messages sent and not yet acknowledged by the server
RESEND_AFTER_S = 5.0  # the oldest of them waits this long for its acknowledgement before the window is sent again
_POLL_S = 0.25
log = logging.getLogger(__name__)


class BadBrokerUrl(ValueError):
    """An --mqtt value that is not mqtt://host[:port]."""


@dataclass(frozen=True)
class Broker:
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Broker:
        """mqtt://host[:port] (port 1883 by default); raise BadBrokerUrl."""
        parts = urlsplit(url)
        try:
            port = parts.port or 1883
        except ValueError:
            raise BadBrokerUrl(f"{url!r} has an invalid port") from None
        if parts.scheme != "mqtt" or not parts.hostname or parts.path not in ("", "/"):
            raise BadBrokerUrl(f"{url!r} is not mqtt://host[:port]")
        return cls(parts.hostname, port)


def topic(fleet: str, device: str, kind: str) -> str:
    return f"modelbay/edge/{fleet}/{device}/{kind}"


class Publisher:
    """Sends `outbox` to `broker` on a thread of its own until `stop`; deletes what the server acknowledges."""

    def __init__(self, outbox: Outbox, broker: Broker, fleet: str, device: str, window: int = WINDOW,
                 resend_after_s: float = RESEND_AFTER_S, min_backoff_s: float = 0.25,
                 max_backoff_s: float = 5.0) -> None:
        self._outbox, self._broker, self._fleet, self._device = outbox, broker, fleet, device
        self._window, self._resend_after_s = window, resend_after_s
        self._backoff = (min_backoff_s, max_backoff_s)
        self._events: queue.Queue[tuple[str, list[int]]] = queue.Queue()  # ("acked", seqs) | ("down" | "wake", [])
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edge-telemetry", daemon=True)
        self.is_connected = False

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Something was queued: send it now rather than at the next poll."""
        self._events.put(("wake", []))

    def stop(self, timeout_s: float = 5) -> None:
        self._stopped.set()
        self.wake()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        delay = self._backoff[0]
        while not self._stopped.is_set():
            client = self._connect()
            if client is None:
                self._stopped.wait(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            delay = self._backoff[0]
            try:
                self._forward(client)
            except Exception:  # the thread must outlive any one connection's trouble
                log.exception("forwarding telemetry failed")
            finally:
                self.is_connected = False
                client.disconnect()
                client.loop_stop()

    def _connect(self) -> mqtt.Client | None:
        """A client connected and subscribed to the ack topic, or None if the broker cannot be reached now."""
        subscribed = threading.Event()
        acks = topic(self._fleet, self._device, "ack")
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"modelbay-edge-{self._fleet}-{self._device}")
        client.max_inflight_messages_set(self._window)
        client.on_connect = lambda c, _u, _f, reason, _p: None if reason.is_failure else c.subscribe(acks, qos=1)
        client.on_subscribe = lambda _c, _u, _m, reasons, _p: (
            None if reasons[0].is_failure else subscribed.set())
        client.on_message = lambda _c, _u, message: self._acknowledged(bytes(message.payload))
        client.on_disconnect = lambda *_: self._events.put(("down", []))
        self._drain_events()
        try:
            client.connect(self._broker.host, self._broker.port, keepalive=10)
        except OSError as err:
            log.info("MQTT broker %s:%s unreachable: %s", self._broker.host, self._broker.port, err)
            return None
        client.loop_start()
        if not subscribed.wait(5):
            client.loop_stop()
            return None
        self.is_connected = True
        return client

    def _drain_events(self) -> None:
        while not self._events.empty():
            self._events.get_nowait()

    def _acknowledged(self, payload: bytes) -> None:
        """The server stored these seqs (paho's thread): they leave the outbox, and the window."""
        try:
            seqs = [int(seq) for seq in json.loads(payload)["seqs"]]
        except (ValueError, TypeError, KeyError) as err:
            log.warning("ignoring a malformed acknowledgement %r: %s", payload[:200], err)
            return
        self._outbox.delete(seqs)
        self._events.put(("acked", seqs))

    def _forward(self, client: mqtt.Client) -> None:
        """Publish in seq order while connected, at most `window` unacknowledged; send the window again from the
        oldest when it has waited `resend_after_s`."""
        window: dict[int, float] = {}  # seq → when published, in seq order
        sent = 0  # the highest seq published since the window was last started again
        while not self._stopped.is_set():
            if window and time.monotonic() - next(iter(window.values())) > self._resend_after_s:
                sent = next(iter(window)) - 1
                log.info("seq %d not acknowledged after %.1f s: sending from it again", sent + 1, self._resend_after_s)
                window.clear()
            for message in self._outbox.after(sent, self._window - len(window)):
                info = client.publish(topic(self._fleet, self._device, message.kind), message.payload, qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    return
                window[message.seq], sent = time.monotonic(), message.seq
            try:
                event, seqs = self._events.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if event == "down":
                return
            for seq in seqs:
                window.pop(seq, None)
