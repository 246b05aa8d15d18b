"""The CloudWatch metrics file of a monitoring execution, as SageMaker's analyzer emits them for data quality.

One PutMetricData datum a line in `/opt/ml/output/metrics/cloudwatch/cloudwatch_metrics.jsonl`, for the namespace
`aws/sagemaker/Endpoints/data-metrics` (the platform publishes them there): `feature_data_<f>` with the
StatisticValues of a numerical feature's values, `feature_non_null_<f>` its completeness (0 to 1), and
`feature_baseline_drift_<f>` its distance to the baseline (violations.Findings.drift). Dimensions Endpoint and
MonitoringSchedule where known.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

METRICS_DIR = "output/metrics/cloudwatch"  # under /opt/ml
METRICS_FILE = "cloudwatch_metrics.jsonl"


def metric_data(statistics: dict[str, Any], drift: dict[str, float], timestamp: datetime,
                dimensions: dict[str, str]) -> list[dict[str, Any]]:
    """The data of every feature in a statistics document, with its drift where measured."""
    stamp = timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    wire = [{"Name": name, "Value": value} for name, value in dimensions.items()]
    count = statistics["dataset"]["item_count"]
    data: list[dict[str, Any]] = []

    def datum(metric: str, **value: Any) -> None:
        data.append({"MetricName": metric, "Timestamp": stamp, "Dimensions": wire, **value})
    for feature in statistics["features"]:
        name = feature["name"]
        numerical = feature.get("numerical_statistics")
        common = (numerical or feature.get("string_statistics") or {}).get("common", {})
        if numerical and common.get("num_present"):
            datum(f"feature_data_{name}", StatisticValues={
                "SampleCount": float(common["num_present"]), "Sum": numerical["sum"],
                "Minimum": numerical["min"], "Maximum": numerical["max"]})
        datum(f"feature_non_null_{name}", Value=common.get("num_present", 0) / count if count else 0.0)
        if name in drift:
            datum(f"feature_baseline_drift_{name}", Value=drift[name])
    return data


def write_metrics(opt_ml: Path, data: list[dict[str, Any]]) -> Path:
    """Write `data` as the metrics file under `opt_ml`; its path."""
    folder = opt_ml / METRICS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / METRICS_FILE
    path.write_text("".join(json.dumps(datum) + "\n" for datum in data))
    return path
