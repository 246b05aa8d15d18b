"""The edge agent on a device (issue 20): start to first answer, local inference latency, telemetry throughput.

    .venv/bin/python benchmarks/edge_agent.py [--quick]

Trains a scikit-learn RandomForest (20 trees, depth 10, 20 features), compiles it for a Linux x86_64 device
(TargetPlatform) with the compiler program's own code, and lays it out in an agent's state directory as a
deployment leaves it (models/<handle>/<version>/, current.json naming it the handle's current model), so the agent
serves it with no server. Then, in one run:
(a) start to first answer: `modelbay edge-agent` spawned on a fresh copy of that state directory, with --mqtt to
    the broker and a server URL nothing answers (an offline start: the agent serves its last good models), timed
    until POST /models/<handle>/invocations first answers 200 (and until it prints its port); several starts;
(b) local inference: one CSV row per POST on a keep-alive connection to the last agent started, p50/p99 over many
    calls after a warm-up, beside the compiled model's own predict in this process (the floor);
(c) telemetry end to end through the Mosquitto broker on 127.0.0.1:1883: a `modelbay server` started here (free
    loopback port, temporary data directory, auth open, MODELBAY_MQTT_URL naming the broker) with a fleet and a
    registered device; metrics messages queued in an outbox (modelbay.edge.outbox: SQLite, a seq each), then
    forwarded by the agent's publisher (modelbay.edge.publisher: QoS 1, in seq order, a window of unacknowledged
    messages) and stored by the server's subscriber, which acknowledges them back: timed from the publisher's start
    until the outbox is empty (every message acknowledged by the server), then the server's stored telemetry of the
    device (GET /_modelbay/v1/edge/telemetry) checked: seq 1..N, each once, in order. A probe device's message is
    stored first, so the server's subscription (made in the background) is in place. (c) is skipped, with the
    reason, if no broker listens.
--quick: 2 starts, 300 calls, 500 messages (5, 3,000 and 5,000 otherwise). The machine's 2 cores are shared
with whatever else runs on it (agent, client, broker and subscriber included): the figures move between runs.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import numpy as np
from compilation import CASES, TRAIN, compile_in, make_data, run_python

from modelbay.edge.outbox import Outbox
from modelbay.edge.publisher import Broker, Publisher
from modelbay.edge.state import AgentState
from modelbay.sdk.signing import SignedCalls

BROKER = Broker("127.0.0.1", 1883)
FLEET, HANDLE, MODEL_NAME, MODEL_VERSION = "bench-fleet", "forest", "bench-forest", "1"
TREES = 20
EDGE_TARGET = {"TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"}}
START_TIMEOUT_S, DRAIN_TIMEOUT_S = 60.0, 120.0
KEYS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
SESSION = boto3.Session(KEYS["AWS_ACCESS_KEY_ID"], KEYS["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
TELEMETRY_DEVICE, PROBE_DEVICE = "bench-telemetry", "bench-probe"


@dataclass(frozen=True)
class Effort:
    starts: int
    warmup: int
    calls: int
    messages: int


FULL, QUICK = Effort(5, 100, 3000, 5000), Effort(2, 20, 300, 500)


@dataclass(frozen=True)
class Start:
    listening_s: float  # spawn → the agent printed its port
    first_answer_s: float  # spawn → the first 200 from invocations


@dataclass(frozen=True)
class Forwarding:
    messages: int
    queued_s: float  # putting them all in the outbox
    acknowledged_s: float  # publisher started → outbox empty (every message stored and acknowledged by the server)
    in_order: bool  # the server stored seq 1..N, each once, in order


def prepare(work: Path) -> tuple[Path, bytes]:
    """The compiled model's directory, and one CSV row."""
    make_data(work, 2000)
    case = next(case for case in CASES if case.name == "random-forest")
    run_python(Path(sys.executable), TRAIN, case.name, str(work), str(TREES))
    compiled = work / "compiled"
    compile_in(Path(sys.executable), EDGE_TARGET)(case, work / case.name / "model.tar.gz", compiled)
    row = np.load(work / "batch.npy")[0]
    return compiled, ",".join(f"{value:.6f}" for value in row).encode()


def state_dir(compiled: Path, into: Path) -> Path:
    """A state directory as a deployment of the compiled model leaves it: its files in models/<handle>/<version>/,
    current.json naming them the handle's current model."""
    model_dir = into / "models" / HANDLE / MODEL_VERSION
    shutil.copytree(compiled, model_dir)
    AgentState(models={HANDLE: {"ModelName": MODEL_NAME, "ModelVersion": MODEL_VERSION,
                                "Path": str(model_dir)}}).save(into)
    return into


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def broker_listens() -> bool:
    try:
        socket.create_connection((BROKER.host, BROKER.port), timeout=2).close()
    except OSError:
        return False
    return True


def spawn(state_dir: Path, device: str, mqtt: bool) -> subprocess.Popen[str]:
    """`modelbay edge-agent` offline: its server URL is a port nothing listens on."""
    command = [sys.executable, "-m", "modelbay", "edge-agent", "--device", device, "--fleet", FLEET,
               "--endpoint-url", f"http://127.0.0.1:{free_port()}", "--port", "0", "--state-dir", str(state_dir),
               "--heartbeat-s", "60"]
    if mqtt:
        command += ["--mqtt", f"mqtt://{BROKER.host}:{BROKER.port}"]
    env = {**os.environ, **KEYS}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)


def listening_port(agent: subprocess.Popen[str]) -> int:
    """The port the agent prints once it serves (its stdout read until then; EOF: it ended)."""
    assert agent.stdout is not None
    timer = threading.Timer(START_TIMEOUT_S, agent.kill)  # a hung start ends the read with EOF
    timer.start()
    try:
        for line in agent.stdout:
            if line.startswith("edge agent listening on "):
                return int(line.rsplit(":", 1)[1])
    finally:
        timer.cancel()
    raise RuntimeError(f"the edge agent ended before it listened (exit status {agent.wait()})")


def invoke(connection: http.client.HTTPConnection, row: bytes) -> tuple[int, bytes]:
    connection.request("POST", f"/models/{HANDLE}/invocations", body=row, headers={"Content-Type": "text/csv"})
    answer = connection.getresponse()
    return answer.status, answer.read()


def start_once(state_dir: Path, device: str, row: bytes, mqtt: bool) -> tuple[Start, subprocess.Popen[str], int]:
    """Spawn an agent and time it to its first answer; the agent is left running."""
    started = time.perf_counter()
    agent = spawn(state_dir, device, mqtt)
    port = listening_port(agent)
    listening = time.perf_counter() - started
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while (status := invoke(connection, row)[0]) != 200:
        if time.perf_counter() - started > START_TIMEOUT_S:
            raise RuntimeError(f"the edge agent still answers {status} after {START_TIMEOUT_S:.0f} s")
    connection.close()
    return Start(listening, time.perf_counter() - started), agent, port


def stop(agent: subprocess.Popen[str]) -> None:
    agent.send_signal(signal.SIGTERM)
    agent.wait(timeout=60)


def starts(compiled: Path, work: Path, row: bytes, effort: Effort,
           mqtt: bool) -> tuple[list[Start], subprocess.Popen[str], int]:
    """`effort.starts` timed starts, each on a fresh state directory; the last agent is left running (returned with
    its port)."""
    timed: list[Start] = []
    for number in range(effort.starts):
        start, agent, port = start_once(state_dir(compiled, work / f"agent-{number}"), f"bench-device-{number}", row,
                                        mqtt)
        timed.append(start)
        if number < effort.starts - 1:
            stop(agent)
    return timed, agent, port


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def local_latency(port: int, row: bytes, effort: Effort) -> tuple[list[float], bytes]:
    """Single-row invocations on one keep-alive connection: the times, and the last answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(effort.warmup):
        invoke(connection, row)
    times = []
    for _ in range(effort.calls):
        began = time.perf_counter()
        status, answer = invoke(connection, row)
        times.append(time.perf_counter() - began)
        if status != 200:
            raise RuntimeError(f"the agent answered {status}: {answer[:200]!r}")
    connection.close()
    return times, answer


def predict_floor(model_dir: Path, row: bytes, effort: Effort) -> tuple[list[float], Any]:
    """The compiled model's predict of the same row in this process: the times, and its answer."""
    from modelbay.container import compiled_models
    model = compiled_models.load(model_dir)
    rows = np.array([[float(value) for value in row.split(b",")]], dtype=np.float32)
    for _ in range(effort.warmup):
        model.predict(rows)
    times = []
    for _ in range(effort.calls):
        began = time.perf_counter()
        model.predict(rows)
        times.append(time.perf_counter() - began)
    return times, model.predict(rows)[0]


@contextmanager
def telemetry_server(scratch: Path) -> Iterator[str]:
    """`modelbay server` subscribed to the broker, on a free loopback port with a data directory in `scratch`, auth
    open; its fleet has the devices TELEMETRY_DEVICE and PROBE_DEVICE. Yields its URL."""
    address = scratch / "address"
    env = {**os.environ, **KEYS, "MODELBAY_MQTT_URL": f"mqtt://{BROKER.host}:{BROKER.port}", "MODELBAY_AUTH": "open"}
    command = [sys.executable, "-m", "modelbay", "server", "--host", "127.0.0.1", "--port", "0", "--data-dir",
               str(scratch / "data"), "--address-file", str(address), "--quiet"]
    with open(scratch / "server.log", "wb") as log, subprocess.Popen(command, stdout=log, stderr=log, env=env) as proc:
        try:
            began = time.monotonic()
            while not address.exists():
                if proc.poll() is not None or time.monotonic() - began > START_TIMEOUT_S:
                    raise RuntimeError(f"modelbay server did not start: {(scratch / 'server.log').read_text()[-2000:]}")
                time.sleep(0.05)
            url = address.read_text().strip()
            sagemaker = SESSION.client("sagemaker", endpoint_url=url)
            sagemaker.create_device_fleet(DeviceFleetName=FLEET, OutputConfig={"S3OutputLocation": "s3://bench/edge"})
            sagemaker.register_devices(DeviceFleetName=FLEET, Devices=[
                {"DeviceName": TELEMETRY_DEVICE}, {"DeviceName": PROBE_DEVICE}])
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def drain(outbox: Outbox, device: str, resend_after_s: float) -> float:
    """Forward `outbox` as `device` until the server has acknowledged every message; the seconds it took."""
    publisher = Publisher(outbox, BROKER, FLEET, device, resend_after_s=resend_after_s)
    began = time.perf_counter()
    publisher.start()
    try:
        while len(outbox):
            if time.perf_counter() - began > DRAIN_TIMEOUT_S:
                raise RuntimeError(f"the outbox still holds {len(outbox)} messages after {DRAIN_TIMEOUT_S:.0f} s")
            time.sleep(0.005)
        return time.perf_counter() - began
    finally:
        publisher.stop()


def stored_seqs(url: str, device: str) -> list[int]:
    answer = httpx.get(f"{url}/_modelbay/v1/edge/telemetry", params={"fleet": FLEET, "device": device},
                       auth=SignedCalls(SESSION), timeout=30)
    answer.raise_for_status()
    return [message["Seq"] for message in answer.json()["Telemetry"]]


def forwarding(work: Path, messages: int) -> Forwarding:
    """Queue `messages` metrics messages, then forward them all to a server, through the broker, until acknowledged."""
    with telemetry_server(work) as url:
        probe = Outbox(work / "probe.sqlite")
        probe.put("metrics", {})
        drain(probe, PROBE_DEVICE, resend_after_s=0.5)  # the server is subscribed once it has acknowledged this
        probe.close()
        outbox = Outbox(work / "outbox.sqlite")
        began = time.perf_counter()
        for _ in range(messages):
            now = time.time()
            outbox.put("metrics", {"ModelName": MODEL_NAME, "ModelVersion": MODEL_VERSION, "Metrics": [
                {"MetricName": name, "Value": value, "Timestamp": now}
                for name, value in (("Invocations", 12.0), ("InvocationErrors", 0.0), ("ModelLatency", 0.04))]})
        queued_s = time.perf_counter() - began
        acknowledged_s = drain(outbox, TELEMETRY_DEVICE, resend_after_s=5.0)
        outbox.close()
        return Forwarding(messages, queued_s, acknowledged_s,
                          stored_seqs(url, TELEMETRY_DEVICE) == list(range(1, messages + 1)))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f}"


def report(timed: list[Start], http_times: list[float], floor: list[float], agreed: bool, agent_mb: float,
           telemetry: Forwarding | str, mqtt: bool) -> None:
    print(f"edge agent, sklearn RandomForest ({TREES} trees, depth 10, 20 features) compiled for LINUX X86_64 "
          "(native code)")
    print(f"{'(milliseconds)':52} {'median':>8} {'min':>8} {'max':>8}")
    for label, values in (
            (f"(a) start to listening ({len(timed)} starts{', --mqtt' if mqtt else ''})",
             [s.listening_s for s in timed]),
            ("    start to first answer", [s.first_answer_s for s in timed])):
        print(f"{label:52} {ms(statistics.median(values))} {ms(min(values))} {ms(max(values))}")
    print(f"{'(milliseconds)':52} {'p50':>8} {'p99':>8}")
    print(f"{f'(b) POST invocations, one CSV row ({len(http_times)} calls)':52} {ms(percentile(http_times, 0.5))} "
          f"{ms(percentile(http_times, 0.99))}")
    print(f"{'    its predict alone, in process (the floor)':52} {ms(percentile(floor, 0.5))} "
          f"{ms(percentile(floor, 0.99))}")
    print(f"    the agent's answers {'equal' if agreed else 'DIFFER from'} the in-process predict; the agent's "
          f"resident memory after the calls: {agent_mb:.0f} MB")
    if isinstance(telemetry, str):
        print(f"(c) telemetry: skipped: {telemetry}")
    else:
        t = telemetry
        print(f"(c) telemetry, {t.messages} metrics messages through MQTT (QoS 1, {BROKER.host}:{BROKER.port}) to "
              "a modelbay server:")
        print(f"    queued in the outbox (SQLite):              {t.messages / t.queued_s:10,.0f} messages/s")
        print(f"    outbox to stored and acknowledged (empty):  {t.messages / t.acknowledged_s:10,.0f} messages/s "
              f"({t.acknowledged_s:.2f} s)")
        print(f"    stored by the server: seq 1..{t.messages} each once, in order: {'yes' if t.in_order else 'NO'}")
    print("Measured on a 2-core machine shared with other work (agent, client, broker and server on it too): the "
          "figures move between runs.")


def main(quick: bool) -> None:
    effort = QUICK if quick else FULL
    mqtt = broker_listens()
    with tempfile.TemporaryDirectory(prefix="edge-agent-bench-") as scratch:
        work = Path(scratch)
        compiled, row = prepare(work)
        timed, agent, port = starts(compiled, work, row, effort, mqtt)
        try:
            http_times, answer = local_latency(port, row, effort)
            agent_mb = rss_mb(agent.pid)
        finally:
            stop(agent)
        floor, expected = predict_floor(compiled, row, effort)
        agreed = answer.decode().strip() == str(expected)
        telemetry: Forwarding | str = (forwarding(work, effort.messages) if mqtt else
                                       f"no MQTT broker listens on {BROKER.host}:{BROKER.port}")
    report(timed, http_times, floor, agreed, agent_mb, telemetry, mqtt)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer starts, calls and messages (a smoke run, ~30 s)")
    main(parser.parse_args().quick)
