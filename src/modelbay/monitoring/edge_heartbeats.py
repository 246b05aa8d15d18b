"""What an edge device's heartbeat changes, whether it came by SendHeartbeat (services/sagemaker_edge.py) or over
MQTT (controllers/edge_telemetry.py): one function, so both paths record exactly the same.

A heartbeat records on the device its time, the agent's version and the models it runs (DescribeDevice,
ListDevices); its AgentMetrics and each model's ModelMetrics become CloudWatch metrics under EDGE_NAMESPACE, with the
fleet and device (and model) as dimensions; its DeploymentResult moves the deployment stage the device is in
(store/metadata/edge_deployment_plans.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from modelbay.monitoring.metrics import MetricStore
from modelbay.store.metadata import MetadataStore
from modelbay.store.metadata.device_fleets import DeviceRecord
from modelbay.store.metadata.metrics import MetricKey

EDGE_NAMESPACE = "/aws/sagemaker/Edge"


def apply_heartbeat(metadata: MetadataStore, metrics: MetricStore, fleet: str, device: str,
                    heartbeat: Mapping[str, Any], time: datetime | None = None) -> DeviceRecord:
    """Record SendHeartbeat's input members (but the device's names; timestamps as datetimes) sent at `time`
    (None: now, by the store's clock). Raises DeviceNotFound, recording nothing, for a device not registered in
    the fleet."""
    record = metadata.devices.record_heartbeat(fleet, device, time, heartbeat["AgentVersion"],
                                               heartbeat.get("Models"))
    dimensions = {"DeviceFleetName": fleet, "DeviceName": device}
    _record_metrics(metrics, heartbeat.get("AgentMetrics", []), dimensions)
    for model in heartbeat.get("Models", []):
        named = {key: model[key] for key in ("ModelName", "ModelVersion") if key in model}
        _record_metrics(metrics, model.get("ModelMetrics", []), dimensions | named)
    result = heartbeat.get("DeploymentResult")
    if result is not None:
        metadata.edge_deployment_plans.record_device_result(fleet, device, result)
    return record


def _record_metrics(metrics: MetricStore, values: list[Mapping[str, Any]], dimensions: dict[str, str]) -> None:
    """EdgeMetrics as CloudWatch metrics; an EdgeMetric's own Dimension is one more dimension, "Dimension"."""
    for value in values:
        if "MetricName" not in value or "Value" not in value:
            continue  # every EdgeMetric member is optional: one without a name or value says nothing
        extra = {"Dimension": value["Dimension"]} if value.get("Dimension") else {}
        stamp = value.get("Timestamp")
        metrics.record(MetricKey.of(EDGE_NAMESPACE, value["MetricName"], dimensions | extra), float(value["Value"]),
                       timestamp=None if stamp is None else stamp.timestamp())
