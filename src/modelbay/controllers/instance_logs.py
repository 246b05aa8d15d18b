"""An instance's log: shipped to the log store as SageMaker names it, and (for training) read for metrics.

Each training instance's stdout and stderr go to group `/aws/sagemaker/TrainingJobs`, stream
`<job>/algo-<n>-<epoch seconds of the instance's start>`; the lines shipped are returned, so the training
controller reads its MetricDefinitions' values in them as they come; batch transform ships its instances'
logs with `ship_log` under names of its own, endpoints too. The byte offset shipped so far is kept in the
log stream, written with the lines shipped (LogStore.ship), so a pass, a restarted server or a new leader (which
adopts the instance, on Ray) ships only what is new, never a line twice; and only whole lines until the instance
has ended.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from modelbay.monitoring.logs import LogStore
from modelbay.runtime.base import Instance
from modelbay.store.metadata.training_jobs import MetricDatum, MetricDefinition

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TAIL_LINES = 20


def stream_name(job_name: str, instance: Instance) -> str:
    return f"{job_name}/{instance.labels['host']}-{int(instance.started_at.timestamp())}"


# How far this server shipped each stream. A stream whose store records less was deleted meanwhile (DeleteLogGroup, as
# the SageMaker SDK's clean-up calls while an endpoint's instances drain): its lines are not sent again.
_shipped_here: dict[tuple[str, str, Path], int] = {}


def ship_log(logs: LogStore, group: str, stream: str, instance: Instance) -> list[str]:
    """Append the instance's log lines not shipped yet to `stream` of `group` and return them (none if another
    shipper got there first, or if the stream was deleted after this server shipped to it); the stream records how
    far its log is shipped (every instance's log alike)."""
    offset, shipped_here = logs.shipped(group, stream), (group, stream, instance.log_path)
    if offset < _shipped_here.get(shipped_here, 0):
        return []
    with open(instance.log_path, "rb") as log:
        log.seek(offset)
        data = log.read()
    # while the instance runs, a line still being written waits for the next pass
    whole = data[:data.rfind(b"\n") + 1] if instance.is_alive else data
    if not whole:
        return []
    lines = whole.decode(errors="replace").splitlines()
    if not logs.ship(group, stream, lines, offset, offset + len(whole)):
        return []
    _shipped_here[shipped_here] = offset + len(whole)
    return lines


def final_metrics(definitions: Sequence[MetricDefinition], log_paths: Iterable[Path]) -> list[MetricDatum]:
    """The last value each MetricDefinition's regex (first group, else the whole match) finds in the logs."""
    found: dict[str, float] = {}
    for path in log_paths:
        with open(path, errors="replace") as log:
            found |= metric_values(definitions, log)
    now = datetime.now(UTC)
    return [MetricDatum(name, value, now) for name, value in found.items()]


def metric_values(definitions: Sequence[MetricDefinition], lines: Iterable[str]) -> dict[str, float]:
    """The last value each MetricDefinition's regex (first group, else the whole match) finds in `lines`."""
    patterns = [(d.name, re.compile(d.regex)) for d in definitions]
    found: dict[str, float] = {}
    for line in lines:
        for name, pattern in patterns:
            value = _value(pattern.search(line))
            if value is not None:
                found[name] = value
    return found


def log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of a log (read from its end, not whole)."""
    with open(path, "rb") as log:
        log.seek(0, 2)
        log.seek(max(0, log.tell() - 8192))
        text = log.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _value(match: re.Match[str] | None) -> float | None:
    if match is None:
        return None
    try:
        return float(match.group(1) if match.groups() else match.group(0))
    except (TypeError, ValueError):
        return None
