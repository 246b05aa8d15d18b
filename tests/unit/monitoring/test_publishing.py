"""What the Publisher records per invocation, per instance sample and per training metric, read back from the store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from modelbay.monitoring.metrics import MetricKey, MetricStore
from modelbay.monitoring.publishing import (
    ENDPOINTS_NAMESPACE,
    INVOCATIONS_NAMESPACE,
    TRAINING_NAMESPACE,
    InstanceUsage,
    InvocationMeter,
    Publisher,
)
from modelbay.store.metadata import open_metadata_store
from modelbay.store.metadata.metrics import Aggregate
from tests.helpers import T0, SetClock

Clock = SetClock[datetime]  # a clock the test sets

VARIANT = {"EndpointName": "ep", "VariantName": "v1"}


@pytest.fixture
def clock() -> Clock:
    return SetClock(T0)


@pytest.fixture
def publisher(tmp_path: Path, clock: Clock) -> Iterator[Publisher]:
    metadata = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}")
    yield Publisher(MetricStore(metadata.metrics, clock), "us-east-1")
    metadata.close()


def meter(model_s: float | None, variant: str | None = "v1", instances: int = 2) -> InvocationMeter:
    """A meter as the router leaves it: routed to `variant`, the model timed at `model_s` (None: never reached)."""
    made = InvocationMeter()
    if variant is not None:
        made.routed(variant, instances)
    if model_s is not None:
        made.model_called()
        made.model_s = model_s
    return made


def total(publisher: Publisher, name: str, dimensions: dict[str, str] | None = None,
          namespace: str = INVOCATIONS_NAMESPACE) -> Aggregate:
    publisher.flush()
    series = publisher.metrics.series(MetricKey.of(namespace, name, dimensions or VARIANT), T0 - timedelta(hours=1),
                                      T0 + timedelta(seconds=1), 3600)
    assert len(series.points) == 1, f"{name}: {series.points}"
    return series.points[0].aggregate


def test_invocations_count_every_answer_and_errors_by_the_models_status(publisher: Publisher) -> None:
    for status in (200, 200, 404, 500, 0):
        publisher.invoked("ep", meter(0.002), status)
    assert total(publisher, "Invocations").sum == 5
    errors_4xx, errors_5xx = total(publisher, "Invocation4XXErrors"), total(publisher, "Invocation5XXErrors")
    assert (errors_4xx.sum, errors_4xx.sample_count) == (1, 5)  # a 0 or 1 per invocation: Average is the rate
    assert (errors_5xx.sum, errors_5xx.sample_count) == (2, 5)  # no answer at all counts as a 5XX
    assert total(publisher, "InvocationsPerInstance").sum == pytest.approx(2.5)  # 1 / 2 instances each


def test_model_latency_is_the_models_time_in_microseconds_and_overhead_the_rest(publisher: Publisher) -> None:
    answered = meter(0.004)
    answered.started = time.perf_counter() - 0.005  # the handler began 5 ms ago, the model took 4 of them
    publisher.invoked("ep", answered, 200)
    assert total(publisher, "ModelLatency").sum == pytest.approx(4000)
    overhead = total(publisher, "OverheadLatency").sum
    assert 1000 <= overhead < 1000 + 50_000  # plus the moment this test took


def test_an_invocation_answered_elsewhere_is_recorded_from_its_figures(publisher: Publisher) -> None:
    publisher.record("ep", "v1", instances=4, status=200, model_s=0.003, overhead_s=0.0005)  # as HAProxy's log says
    assert total(publisher, "ModelLatency").sum == pytest.approx(3000)
    assert total(publisher, "OverheadLatency").sum == pytest.approx(500)
    assert total(publisher, "InvocationsPerInstance").sum == pytest.approx(0.25)


def test_no_model_latency_when_no_model_had_the_request_and_nothing_when_no_variant_did(publisher: Publisher) -> None:
    publisher.invoked("ep", meter(None), 0)  # no instance reachable
    publisher.invoked("ep", meter(None, variant=None), 0)  # e.g. TargetVariant named none: not recorded
    assert total(publisher, "Invocations").sum == 1
    assert total(publisher, "OverheadLatency").sample_count == 1
    publisher.flush()
    assert not [m for m in publisher.metrics.metrics(name="ModelLatency")]


def test_recording_off_records_nothing(publisher: Publisher) -> None:
    publisher.is_recording = False
    publisher.invoked("ep", meter(0.001), 200)
    publisher.flush()
    assert publisher.metrics.metrics() == [] and publisher.variant_totals() == []


def test_totals_count_for_prometheus_with_latency_buckets(publisher: Publisher) -> None:
    for status, model_s in ((200, 0.0004), (503, 0.02)):
        publisher.invoked("ep", meter(model_s), status)
    [(endpoint, variant, totals)] = publisher.variant_totals()
    assert (endpoint, variant, totals.invocations, totals.errors_4xx, totals.errors_5xx) == ("ep", "v1", 2, 0, 1)
    assert totals.model_buckets[0] == 1 and totals.model_buckets[5] == 1  # le 0.0005 and le 0.025
    assert totals.model_sum_s == pytest.approx(0.0204)


def test_instance_usage_is_published_in_percent_and_kept_for_prometheus(publisher: Publisher) -> None:
    usage = InstanceUsage(ENDPOINTS_NAMESPACE, tuple(VARIANT.items()), "i-1", 150.0, 40.0, None)
    publisher.instances_used((usage,))
    assert total(publisher, "CPUUtilization", namespace=ENDPOINTS_NAMESPACE).sum == 150
    assert total(publisher, "MemoryUtilization", namespace=ENDPOINTS_NAMESPACE).sum == 40
    assert not publisher.metrics.metrics(name="DiskUtilization")  # unknown: not published
    assert publisher.instance_usage() == (usage,)


def test_training_metrics_go_to_the_jobs_namespace_by_its_name(publisher: Publisher) -> None:
    publisher.training_metrics("job-1", {"loss": 0.25})
    assert total(publisher, "loss", {"TrainingJobName": "job-1"}, TRAINING_NAMESPACE).maximum == 0.25


def test_each_second_keeps_its_own_invocations_across_flushes(publisher: Publisher, clock: Clock) -> None:
    publisher.invoked("ep", meter(0.001), 200)
    publisher.flush()
    publisher.invoked("ep", meter(0.001), 500)  # the same second, after a flush: merged into its point
    clock.now = T0 + timedelta(seconds=1)
    for _ in range(3):
        publisher.invoked("ep", meter(0.001), 200)
    publisher.flush()
    publisher.flush()  # nothing new: nothing written twice
    key = MetricKey.of(INVOCATIONS_NAMESPACE, "Invocation5XXErrors", VARIANT)
    points = publisher.metrics.series(key, T0, T0 + timedelta(seconds=2), 1).points
    assert [(p.timestamp - int(T0.timestamp()), p.aggregate.sample_count, p.aggregate.sum) for p in points] == [
        (0, 2, 1), (1, 3, 0)]


def test_concurrent_requests_per_model_is_the_variants_requests_in_flight_over_its_instances(
        publisher: Publisher, clock: Clock) -> None:
    publisher.concurrent_requests([("ep", "v1", 3, 2)])
    clock.now += timedelta(seconds=1)
    publisher.concurrent_requests([("ep", "v1", 0, 2)])
    concurrency = total(publisher, "ConcurrentRequestsPerModel")
    assert (concurrency.sample_count, concurrency.maximum, concurrency.minimum) == (2, 1.5, 0)
