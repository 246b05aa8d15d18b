"""What an edge agent reports: heartbeats, per-model metrics and captured samples (the bodies of interface 7).

Invocations are counted per model as they are answered (on the HTTP server's event loop: a few additions under a
lock); every heartbeat interval `Telemetry.report` turns the counts since the last report into a heartbeat body
(SendHeartbeat's members: AgentVersion, AgentMetrics, Models with LatestInference, LatestSampleTime and
ModelMetrics, DeploymentResult) and one metrics body per model invoked. With an outbox (--mqtt), a sampled
fraction (--capture-percent) of invocations is queued as `samples` messages as it happens. Timestamps are epoch
seconds.
"""

from __future__ import annotations

import base64
import random
import resource
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from modelbay.edge.models import LoadedModel
from modelbay.edge.outbox import Outbox


@dataclass
class _Counts:
    """One model version's invocations since the last report, and when it last answered or was sampled."""

    invocations: int = 0
    errors: int = 0
    latency_s: float = 0.0
    latest_inference: float | None = None
    latest_sample: float | None = None


@dataclass(frozen=True)
class Report:
    heartbeat: dict[str, Any]
    metrics: list[dict[str, Any]] = field(default_factory=list)


class Telemetry:
    """Counts invocations, captures samples into `outbox` (if any), and makes each interval's report."""

    def __init__(self, agent_version: str, outbox: Outbox | None, capture_percent: float,
                 chance: random.Random | None = None) -> None:
        self._version, self._outbox, self._capture = agent_version, outbox, capture_percent / 100
        self._chance = chance or random.Random()
        self._counts: dict[tuple[str, str], _Counts] = {}
        self._lock = threading.Lock()

    def record(self, model: LoadedModel, latency_s: float, failed: bool, request: bytes, content_type: str,
               answer: bytes, answer_type: str) -> None:
        """Count one invocation of `model`; sample it at the capture percentage."""
        now = time.time()
        sampled = self._outbox is not None and not failed and self._chance.random() < self._capture
        with self._lock:
            counts = self._counts.setdefault((model.name, model.version), _Counts())
            counts.invocations += 1
            counts.errors += failed
            counts.latency_s += latency_s
            counts.latest_inference = now
            if sampled:
                counts.latest_sample = now
        if sampled and self._outbox is not None:
            self._outbox.put("samples", {
                "ModelName": model.name, "ModelVersion": model.version, "InferenceId": str(uuid.uuid4()),
                "Input": base64.b64encode(request).decode(), "InputContentType": content_type,
                "Output": base64.b64encode(answer).decode(), "OutputContentType": answer_type}, at=now)

    def report(self, served: Mapping[str, LoadedModel], result: Mapping[str, Any] | None,
               queued: int) -> Report:
        """The heartbeat body (with `result` as its DeploymentResult) and the metrics bodies for the interval
        ending now; the counts start again from zero. `queued`: the outbox's backlog, an agent metric."""
        now = time.time()
        with self._lock:
            counts, self._counts = self._counts, {
                key: _Counts(latest_inference=c.latest_inference, latest_sample=c.latest_sample)
                for key, c in self._counts.items()}
        models, metrics = [], []
        for key in sorted({(m.name, m.version) for m in served.values()}):
            found = counts.get(key, _Counts())
            model_metrics = _model_metrics(found, now)
            models.append({"ModelName": key[0], "ModelVersion": key[1], "ModelMetrics": model_metrics}
                          | _present(LatestInference=found.latest_inference, LatestSampleTime=found.latest_sample))
            if found.invocations:
                metrics.append({"ModelName": key[0], "ModelVersion": key[1], "Metrics": model_metrics})
        heartbeat = {"AgentVersion": self._version, "AgentMetrics": _agent_metrics(len(served), queued, now),
                     "Models": models} | _present(DeploymentResult=result)
        return Report(heartbeat, metrics)


def _model_metrics(counts: _Counts, now: float) -> list[dict[str, Any]]:
    latency_ms = counts.latency_s * 1000 / counts.invocations if counts.invocations else 0.0
    return [{"MetricName": name, "Value": float(value), "Timestamp": now}
            for name, value in (("Invocations", counts.invocations), ("InvocationErrors", counts.errors),
                                ("ModelLatency", latency_ms))]


def _agent_metrics(models: int, queued: int, now: float) -> list[dict[str, Any]]:
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux gives KiB
    return [{"Dimension": "Agent", "MetricName": name, "Value": float(value), "Timestamp": now}
            for name, value in (("LoadedModels", models), ("QueuedMessages", queued), ("MaxMemoryMB", rss_mb))]


def _present(**members: Any) -> dict[str, Any]:
    return {name: value for name, value in members.items() if value is not None}
