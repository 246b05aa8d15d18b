"""The exposition parses with prometheus-client's own parser and says what the publishers and data captures counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelbay.config import Settings
from modelbay.monitoring import prometheus, shared_totals
from modelbay.monitoring.data_capture import DataCapture
from modelbay.monitoring.metrics import MetricStore
from modelbay.monitoring.publishing import TRAINING_NAMESPACE, InstanceUsage, InvocationMeter, Publisher
from modelbay.store.metadata import open_metadata_store
from modelbay.store.objects import LocalObjectStore


@pytest.fixture
def metrics(tmp_path: Path) -> Iterator[MetricStore]:
    metadata = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}")
    yield MetricStore(metadata.metrics)
    metadata.close()


@pytest.fixture
def publisher(metrics: MetricStore) -> Publisher:
    return Publisher(metrics, "eu-west-1")


@pytest.fixture
def capture(tmp_path: Path, metrics: MetricStore) -> Iterator[DataCapture]:
    """A data capture that writes only when closed, to bucket `captures`."""
    objects = LocalObjectStore(tmp_path / "objects")
    objects.create_bucket("captures", "eu-west-1")
    made = DataCapture(objects, metrics, flush_interval_s=3600.0, max_records=2)
    yield made
    made.close()


def scrape(publisher: Publisher, capture: DataCapture) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return samples(prometheus.exposition([prometheus.region_totals(publisher, capture)]))


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text.decode()) for sample in family.samples}


def invoked(publisher: Publisher, status: int, model_s: float) -> None:
    meter = InvocationMeter()
    meter.routed("v1", 1)
    meter.model_called()
    meter.model_s = model_s
    publisher.invoked("ep", meter, status)


def test_counters_and_histograms_per_variant_with_region_labels(publisher: Publisher,
                                                                 capture: DataCapture) -> None:
    for status, model_s in ((200, 0.003), (200, 0.2), (400, 0.003), (500, 0.003)):
        invoked(publisher, status, model_s)
    found = scrape(publisher, capture)
    labels = (("endpoint", "ep"), ("region", "eu-west-1"), ("variant", "v1"))
    assert found[("modelbay_endpoint_invocations_total", labels)] == 4
    assert found[("modelbay_endpoint_invocation_4xx_errors_total", labels)] == 1
    assert found[("modelbay_endpoint_invocation_5xx_errors_total", labels)] == 1
    assert found[("modelbay_endpoint_model_latency_seconds_bucket", (*labels[:1], ("le", "0.005"), *labels[1:]))] == 3
    assert found[("modelbay_endpoint_model_latency_seconds_bucket", (*labels[:1], ("le", "+Inf"), *labels[1:]))] == 4
    assert found[("modelbay_endpoint_model_latency_seconds_count", labels)] == 4
    assert found[("modelbay_endpoint_model_latency_seconds_sum", labels)] == pytest.approx(0.209)
    assert found[("modelbay_endpoint_overhead_latency_seconds_count", labels)] == 4


def test_instance_gauges_say_the_last_sample(publisher: Publisher, capture: DataCapture) -> None:
    publisher.instances_used((InstanceUsage(TRAINING_NAMESPACE, (("Host", "job/algo-1"),), "abc", 97.5, 12.0, 3.0),))
    found = scrape(publisher, capture)
    labels = (("endpoint", ""), ("host", "job/algo-1"), ("instance", "abc"), ("namespace", TRAINING_NAMESPACE),
              ("region", "eu-west-1"), ("variant", ""))
    assert found[("modelbay_instance_cpu_utilization_percent", labels)] == 97.5
    assert found[("modelbay_instance_memory_utilization_percent", labels)] == 12.0
    assert found[("modelbay_instance_disk_utilization_percent", labels)] == 3.0


def test_shadow_copies_dropped_count_on_when_the_routers_total_begins_again(publisher: Publisher,
                                                                           capture: DataCapture) -> None:
    for total in (2, 5, 1):  # 1: the shadow was published again
        publisher.copies_dropped([("ep", "shadow", total)])
    found = scrape(publisher, capture)
    labels = (("endpoint", "ep"), ("region", "eu-west-1"), ("variant", "shadow"))
    assert found[("modelbay_endpoint_shadow_copies_dropped_total", labels)] == 2 + 3 + 1


def test_data_capture_records_written_and_dropped_per_variant(publisher: Publisher, capture: DataCapture) -> None:
    capture.publish("ep", {"InitialSamplingPercentage": 100, "DestinationS3Uri": "s3://captures/x",
                           "CaptureOptions": [{"CaptureMode": "Input"}]})
    for _ in range(3):  # the queue holds 2
        chosen = capture.sample("ep")
        assert chosen is not None
        capture.offer(chosen, "v1", inference_id=None, request=b"1", request_type="text/csv", response=b"",
                      response_type=None)
    capture.close()  # the writer's last pass: written, drops counted
    found = scrape(publisher, capture)
    labels = (("endpoint", "ep"), ("region", "eu-west-1"), ("variant", "v1"))
    assert found[("modelbay_data_capture_written_records_total", labels)] == 2
    assert found[("modelbay_data_capture_dropped_records_total", labels)] == 1


def test_nothing_invoked_still_parses(publisher: Publisher, capture: DataCapture) -> None:
    assert scrape(publisher, capture) == {}


def test_the_front_door_processes_figures_add_up(publisher: Publisher, capture: DataCapture, metrics: MetricStore,
                                                 tmp_path: Path) -> None:
    other = Publisher(metrics, "eu-west-1")
    for counting, status in ((publisher, 200), (publisher, 500), (other, 200)):
        invoked(counting, status, 0.003)
    settings = [Settings(data_dir=tmp_path / "data", workers=2, worker=worker) for worker in range(2)]
    shared_totals.share(settings[1], prometheus.region_totals(other, capture))
    assert shared_totals.others(settings[1]) == []  # its own are not another's
    counted = [prometheus.region_totals(publisher, capture), *shared_totals.others(settings[0])]
    found = samples(prometheus.exposition(counted))
    labels = (("endpoint", "ep"), ("region", "eu-west-1"), ("variant", "v1"))
    assert found["modelbay_endpoint_invocations_total", labels] == 3
    assert found["modelbay_endpoint_invocation_5xx_errors_total", labels] == 1
    assert found["modelbay_endpoint_model_latency_seconds_count", labels] == 3
    shared_totals.clear(settings[0])
    assert shared_totals.others(settings[0]) == []
