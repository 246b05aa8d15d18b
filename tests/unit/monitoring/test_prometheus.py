"""The exposition parses with prometheus-client's own parser and says what the publishers counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelbay.monitoring import prometheus
from modelbay.monitoring.metrics import MetricStore
from modelbay.monitoring.publishing import TRAINING_NAMESPACE, InstanceUsage, InvocationMeter, Publisher
from modelbay.store.metadata import open_metadata_store


@pytest.fixture
def publisher(tmp_path: Path) -> Iterator[Publisher]:
    metadata = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}")
    yield Publisher(MetricStore(metadata.metrics), "eu-west-1")
    metadata.close()


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text.decode()) for sample in family.samples}


def invoked(publisher: Publisher, status: int, model_s: float) -> None:
    meter = InvocationMeter()
    meter.routed("v1", 1)
    meter.model_called()
    meter.model_s = model_s
    publisher.invoked("ep", meter, status)


def test_counters_and_histograms_per_variant_with_region_labels(publisher: Publisher) -> None:
    for status, model_s in ((200, 0.003), (200, 0.2), (400, 0.003), (500, 0.003)):
        invoked(publisher, status, model_s)
    found = samples(prometheus.exposition([publisher]))
    labels = (("endpoint", "ep"), ("region", "eu-west-1"), ("variant", "v1"))
    assert found[("modelbay_endpoint_invocations_total", labels)] == 4
    assert found[("modelbay_endpoint_invocation_4xx_errors_total", labels)] == 1
    assert found[("modelbay_endpoint_invocation_5xx_errors_total", labels)] == 1
    assert found[("modelbay_endpoint_model_latency_seconds_bucket", (*labels[:1], ("le", "0.005"), *labels[1:]))] == 3
    assert found[("modelbay_endpoint_model_latency_seconds_bucket", (*labels[:1], ("le", "+Inf"), *labels[1:]))] == 4
    assert found[("modelbay_endpoint_model_latency_seconds_count", labels)] == 4
    assert found[("modelbay_endpoint_model_latency_seconds_sum", labels)] == pytest.approx(0.209)
    assert found[("modelbay_endpoint_overhead_latency_seconds_count", labels)] == 4


def test_instance_gauges_say_the_last_sample(publisher: Publisher) -> None:
    publisher.instances_used((InstanceUsage(TRAINING_NAMESPACE, (("Host", "job/algo-1"),), "abc", 97.5, 12.0, 3.0),))
    found = samples(prometheus.exposition([publisher]))
    labels = (("endpoint", ""), ("host", "job/algo-1"), ("instance", "abc"), ("namespace", TRAINING_NAMESPACE),
              ("region", "eu-west-1"), ("variant", ""))
    assert found[("modelbay_instance_cpu_utilization_percent", labels)] == 97.5
    assert found[("modelbay_instance_memory_utilization_percent", labels)] == 12.0
    assert found[("modelbay_instance_disk_utilization_percent", labels)] == 3.0


def test_nothing_invoked_still_parses(publisher: Publisher) -> None:
    assert samples(prometheus.exposition([publisher])) == {}
