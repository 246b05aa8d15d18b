"""What a monitoring execution's analyzer leaves: its constraint violations in S3, its CloudWatch metrics on the host.

The violations file (`constraint_violations.json` in the execution's output) decides between Completed
and CompletedWithViolations. The metrics follow SageMaker's contract for monitoring containers: JSON
lines in files under `/opt/ml/output/metrics/cloudwatch/`, each
`{"MetricName", "Value", "Timestamp", "Dimensions": [{"Name", "Value"}], "Unit"?, "Namespace"?}`, published
in namespace `aws/sagemaker/Endpoints/data-metrics` unless the line names another. They are read from the
processing job's host directories, which outlive its instances.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelbay.monitoring.metrics import Aggregate, MetricKey, MetricStore
from modelbay.store.objects.base import ObjectStore, ObjectStoreError
from modelbay.store.objects.uris import S3Location, parse_uri

log = logging.getLogger(__name__)

VIOLATIONS_FILE = "constraint_violations.json"
METRICS_DIR = "output/metrics/cloudwatch"  # under each host's /opt/ml
NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"


def has_violations(objects: ObjectStore, output_uri: str) -> bool:
    """Whether the execution's constraint_violations.json lists any (an absent or unreadable file lists none)."""
    location = parse_uri(f"{output_uri.rstrip('/')}/{VIOLATIONS_FILE}")
    if not isinstance(location, S3Location):
        return False
    try:
        with objects.open(location.bucket, location.key) as found:
            report = json.loads(found.read())
    except (ObjectStoreError, ValueError):
        return False
    return bool(isinstance(report, dict) and report.get("violations"))


def record_metrics(metrics: MetricStore, hosts: list[Path], default_time: datetime) -> int:
    """Record every metric line the job's hosts (their /opt/ml directories) wrote; answer how many. A line that is
    not one is logged and skipped; one without a Timestamp is at `default_time`."""
    recorded = 0
    for host in hosts:
        for path in sorted(p for p in (host / METRICS_DIR).glob("**/*") if p.is_file()):
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    _record(metrics, json.loads(line), default_time)
                    recorded += 1
                except (ValueError, KeyError, TypeError) as err:
                    log.warning("skipping metric line %s of %s: %s: %s", number, path, type(err).__name__, err)
    return recorded


def _record(metrics: MetricStore, line: dict[str, Any], default_time: datetime) -> None:
    dimensions = {given["Name"]: str(given["Value"]) for given in line.get("Dimensions", [])}
    key = MetricKey.of(line.get("Namespace", NAMESPACE), str(line["MetricName"]), dimensions)
    unit, timestamp = str(line.get("Unit", "None")), _timestamp(line.get("Timestamp"), default_time)
    if "StatisticValues" in line:
        given = line["StatisticValues"]
        metrics.record_set(key, Aggregate(float(given["SampleCount"]), float(given["Sum"]), float(given["Minimum"]),
                                          float(given["Maximum"]), None), unit, timestamp)
    else:
        metrics.record(key, float(line["Value"]), unit, timestamp)


def _timestamp(given: Any, default_time: datetime) -> float:
    """Epoch seconds of a Timestamp given as epoch seconds or ISO 8601 (`Z` allowed), else of `default_time`."""
    if given is None:
        return default_time.timestamp()
    if isinstance(given, int | float):
        return float(given)
    moment = datetime.fromisoformat(str(given).replace("Z", "+00:00"))
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()
