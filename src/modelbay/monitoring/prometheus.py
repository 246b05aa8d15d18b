"""The published metrics in Prometheus's exposition format, for an existing Prometheus and Grafana to scrape.

Per endpoint variant (labels `region`, `endpoint`, `variant`), since the server started:
`modelbay_endpoint_invocations_total`, `modelbay_endpoint_invocation_4xx_errors_total`,
`modelbay_endpoint_invocation_5xx_errors_total` (counters) and `modelbay_endpoint_model_latency_seconds`,
`modelbay_endpoint_overhead_latency_seconds` (histograms), as the CloudWatch metrics of the same names count them
(publishing.py); per shadow variant, `modelbay_endpoint_shadow_copies_dropped_total` (the copies the router dropped,
CloudWatch's ShadowCopiesDropped). Per variant of an endpoint that captures data (data_capture.py), the records
`modelbay_data_capture_written_records_total` (written to S3) and `modelbay_data_capture_dropped_records_total`
(CloudWatch's DroppedRecords, there per endpoint). Per instance (labels `region`, `namespace`, `endpoint`,
`variant`, `host`, `instance`): `modelbay_instance_cpu_utilization_percent`, `..._memory_utilization_percent` and
`..._disk_utilization_percent` gauges, the last sample's. The figures are read at scrape time from the running totals
the publishers and the data captures keep: a request pays nothing for Prometheus beyond them.

A server of several front-door processes (front_door_workers.py) counts in each: a scrape, which any of them may
answer, adds up what each counted (each process's RegionTotals, shared_totals.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from modelbay.monitoring.data_capture import CaptureTotals, DataCapture
from modelbay.monitoring.publishing import LATENCY_BOUNDS_S, InstanceUsage, Publisher, VariantTotals

__all__ = ["CONTENT_TYPE", "RegionTotals", "exposition", "region_totals"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_VARIANT_LABELS = ["region", "endpoint", "variant"]
_INSTANCE_LABELS = ["region", "namespace", "endpoint", "variant", "host", "instance"]


@dataclass(frozen=True)
class RegionTotals:
    """What one process counted in one region since it started: the exposition's figures."""

    region: str
    variants: tuple[tuple[str, str, VariantTotals], ...]  # (endpoint, variant, totals)
    dropped_copies: tuple[tuple[str, str, int], ...]  # (endpoint, shadow variant, copies dropped)
    captures: tuple[CaptureTotals, ...]
    usage: tuple[InstanceUsage, ...]  # the last sample's, where this process samples (the one leading)


def region_totals(publisher: Publisher, capture: DataCapture) -> RegionTotals:
    """What a region's publisher and data capture have counted so far."""
    return RegionTotals(publisher.region, tuple(publisher.variant_totals()), tuple(publisher.copies_dropped_totals()),
                        tuple(capture.totals()), publisher.instance_usage())


def exposition(counted: Iterable[RegionTotals]) -> bytes:
    """The metrics of what the processes counted in each region, added up, in the text exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Published(list(counted)))
    return generate_latest(registry)


class _Published(Collector):
    def __init__(self, counted: Sequence[RegionTotals]) -> None:
        self.counted = counted

    def collect(self) -> Iterator[Metric]:
        yield from self._variant_metrics()
        yield self._shadow_drops()
        yield from self._capture_metrics()
        yield from self._instance_metrics()

    def _variant_metrics(self) -> Iterator[Metric]:
        counters = {field: CounterMetricFamily(f"modelbay_endpoint_{name}", about, labels=_VARIANT_LABELS)
                    for field, name, about in (
                        ("invocations", "invocations", "Invocations of the variant (InvokeEndpoint, streamed, async)."),
                        ("errors_4xx", "invocation_4xx_errors", "Invocations the model answered with a 4xx status."),
                        ("errors_5xx", "invocation_5xx_errors",
                         "Invocations the model answered with a 5xx status, or not at all."))}
        model = HistogramMetricFamily("modelbay_endpoint_model_latency_seconds",
                                      "How long the model's containers took, as the router saw them.",
                                      labels=_VARIANT_LABELS)
        overhead = HistogramMetricFamily("modelbay_endpoint_overhead_latency_seconds",
                                         "The rest of an invocation's time in modelbay.", labels=_VARIANT_LABELS)
        summed: dict[tuple[str, str, str], VariantTotals] = {}
        for totals in self.counted:
            for endpoint, variant, counted in totals.variants:
                summed[totals.region, endpoint, variant] = counted.plus(summed.get((totals.region, endpoint, variant)))
        for labels, counted in summed.items():
            for field, family in counters.items():
                family.add_metric(list(labels), getattr(counted, field))
            model.add_metric(list(labels), _buckets(counted.model_buckets), counted.model_sum_s)
            overhead.add_metric(list(labels), _buckets(counted.overhead_buckets), counted.overhead_sum_s)
        yield from counters.values()
        yield model
        yield overhead

    def _shadow_drops(self) -> Metric:
        dropped = CounterMetricFamily("modelbay_endpoint_shadow_copies_dropped",
                                      "Copies of invocations the shadow variant was due that the router dropped.",
                                      labels=_VARIANT_LABELS)
        summed: Counter[tuple[str, str, str]] = Counter()
        for totals in self.counted:
            for endpoint, variant, count in totals.dropped_copies:
                summed[totals.region, endpoint, variant] += count
        for labels, count in summed.items():
            dropped.add_metric(list(labels), count)
        return dropped

    def _capture_metrics(self) -> Iterator[Metric]:
        written = CounterMetricFamily("modelbay_data_capture_written_records",
                                      "Captured invocations written to the DataCaptureConfig's S3 destination.",
                                      labels=_VARIANT_LABELS)
        dropped = CounterMetricFamily("modelbay_data_capture_dropped_records",
                                      "Sampled invocations not captured: queue full, body too large, or not writable.",
                                      labels=_VARIANT_LABELS)
        summed: dict[tuple[str, str, str], Counter[str]] = {}
        for totals in self.counted:
            for capture in totals.captures:
                counts = summed.setdefault((totals.region, capture.endpoint, capture.variant), Counter())
                counts.update(written=capture.written, dropped=capture.dropped)
        for labels, counts in summed.items():
            written.add_metric(list(labels), counts["written"])
            dropped.add_metric(list(labels), counts["dropped"])
        yield written
        yield dropped

    def _instance_metrics(self) -> Iterator[Metric]:
        gauges = [(GaugeMetricFamily(f"modelbay_instance_{name}_utilization_percent", about, labels=_INSTANCE_LABELS),
                   field) for name, field, about in (
            ("cpu", "cpu_percent", "CPU used over the last sample, 100 per vCPU busy (SageMaker's CPUUtilization)."),
            ("memory", "memory_percent", "Resident memory, in percent of the instance type's."),
            ("disk", "disk_percent", "The scratch volume's use, in percent of its size."))]
        for totals in self.counted:
            for usage in totals.usage:
                labels = [totals.region, *_instance_labels(usage)]
                for family, field in gauges:
                    value = getattr(usage, field)
                    if value is not None:
                        family.add_metric(labels, value)
        for family, _ in gauges:
            yield family


def _buckets(counts: Sequence[int]) -> list[tuple[str, float]]:
    """Per-bucket counts as Prometheus's cumulative `le` buckets."""
    cumulative, buckets = 0, []
    for bound, count in zip(LATENCY_BOUNDS_S, counts, strict=True):
        cumulative += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(cumulative)))
    return buckets


def _instance_labels(usage: InstanceUsage) -> list[str]:
    """namespace, endpoint, variant, host, instance ("" where the namespace has no such dimension)."""
    dimensions = dict(usage.dimensions)
    return [usage.namespace, dimensions.get("EndpointName", ""), dimensions.get("VariantName", ""),
            dimensions.get("Host", ""), usage.instance]
