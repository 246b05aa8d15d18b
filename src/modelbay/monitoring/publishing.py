"""What SageMaker publishes to CloudWatch, published here: endpoint invocations, instance usage, job metrics.

Per invocation, in namespace `AWS/SageMaker` with dimensions EndpointName and VariantName, at one-second
resolution, as SageMaker defines them:
- Invocations: 1 for each request that reached a variant;
- Invocation4XXErrors, Invocation5XXErrors: 1 when the model answered 4xx (5xx, or no answer at all: a
  timeout, a broken connection, no instance reachable), else 0, so their Average is the error rate;
- InvocationsPerInstance: 1 / the variant's instances, so their Sum is invocations per instance;
- ModelLatency: the microseconds the model's containers took, as the router saw them (when one was reached);
- OverheadLatency: the request's other microseconds in modelbay, from its handler's start to its answer
  (to a streamed answer's end).
A request pays for them with a few additions to its variant's tally of the second (no I/O; the server's flush
loop hands the tallies to the metric store every second, `Publisher.flush`) and to the running totals
Prometheus reads (prometheus.py). The
front door (and the async-invocations worker) makes an `InvocationMeter`, the router fills it in, and
`Publisher.invoked` records it.

Instance usage goes to `/aws/sagemaker/Endpoints` (EndpointName, VariantName), `/aws/sagemaker/TrainingJobs` and
`/aws/sagemaker/ProcessingJobs` (Host: `<job>/algo-<n>`) on SageMaker's scale (CPUUtilization 100 % per vCPU);
training jobs' MetricDefinitions values to `/aws/sagemaker/TrainingJobs` (TrainingJobName). The controllers that
sample and read them (controllers/instance_usage.py, the training controller) record them through here too.
"""

from __future__ import annotations

import bisect
import functools
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from modelbay.monitoring import distribution
from modelbay.monitoring.metrics import Aggregate, MetricKey, MetricStore

__all__ = ["ENDPOINTS_NAMESPACE", "INVOCATIONS_NAMESPACE", "LATENCY_BOUNDS_S", "PROCESSING_NAMESPACE",
           "TRAINING_NAMESPACE", "InstanceUsage", "InvocationMeter", "Publisher", "VariantTotals"]

INVOCATIONS_NAMESPACE = "AWS/SageMaker"
ENDPOINTS_NAMESPACE = "/aws/sagemaker/Endpoints"
TRAINING_NAMESPACE = "/aws/sagemaker/TrainingJobs"
PROCESSING_NAMESPACE = "/aws/sagemaker/ProcessingJobs"
HIGH_RESOLUTION = 1  # StorageResolution of the invocation metrics, as SageMaker's
STANDARD_RESOLUTION = 60
# Upper bounds (seconds) of the latency histograms' buckets Prometheus reads; the last one is +Inf.
LATENCY_BOUNDS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    float("inf"))
_MICROSECONDS = 1_000_000


class InvocationMeter:
    """One invocation's figures, filled in as it goes: made when its handler starts; the router says which variant
    took it (`routed`) and times the model (`model_called`, `model_answered`)."""

    __slots__ = ("started", "variant", "instances", "model_started", "model_s")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.variant: str | None = None  # None: it reached no variant (not recorded)
        self.instances = 1
        self.model_started = 0.0
        self.model_s: float | None = None  # None: no model had the request

    def routed(self, variant: str, instances: int) -> None:
        self.variant, self.instances = variant, max(instances, 1)

    def model_called(self) -> None:
        self.model_started = time.perf_counter()

    def model_answered(self) -> None:
        """The model's answer (or error) is in; for a streamed answer, its last piece."""
        self.model_s = time.perf_counter() - self.model_started


class VariantTotals:
    """A variant's invocations since the server started, for Prometheus: counts and latency histograms (per bucket
    of LATENCY_BOUNDS_S, not cumulative)."""

    __slots__ = ("invocations", "errors_4xx", "errors_5xx", "model_buckets", "model_sum_s", "overhead_buckets",
                 "overhead_sum_s")

    def __init__(self) -> None:
        self.invocations = self.errors_4xx = self.errors_5xx = 0
        self.model_buckets = [0] * len(LATENCY_BOUNDS_S)
        self.overhead_buckets = [0] * len(LATENCY_BOUNDS_S)
        self.model_sum_s = self.overhead_sum_s = 0.0

    def plus(self, other: VariantTotals | None) -> VariantTotals:
        """These totals and `other`'s (another process's of the same variant) added up; these if None."""
        if other is None:
            return self
        summed = VariantTotals()
        for name in ("invocations", "errors_4xx", "errors_5xx", "model_sum_s", "overhead_sum_s"):
            setattr(summed, name, getattr(self, name) + getattr(other, name))
        summed.model_buckets = [a + b for a, b in zip(self.model_buckets, other.model_buckets, strict=True)]
        summed.overhead_buckets = [a + b for a, b in zip(self.overhead_buckets, other.overhead_buckets, strict=True)]
        return summed


@dataclass(frozen=True)
class InstanceUsage:
    """An instance's utilization over the last sampling interval, in percent on SageMaker's scale; where it is
    published (namespace and dimensions) and which instance it is, for Prometheus."""

    namespace: str
    dimensions: tuple[tuple[str, str], ...]
    instance: str
    cpu_percent: float
    memory_percent: float | None
    disk_percent: float | None


class _Tally:
    """One variant's invocations within one second, kept as cheaply as a request can add to them (counts, and the
    latencies as they came); made into the metric store's aggregates when handed over."""

    __slots__ = ("second", "invocations", "errors_4xx", "errors_5xx", "per_instance", "model_us", "overhead_us")

    def __init__(self, second: int) -> None:
        self.second = second
        self.invocations = self.errors_4xx = self.errors_5xx = 0
        self.per_instance = 0.0  # the sum of 1 / instances
        self.model_us: list[float] = []
        self.overhead_us: list[float] = []


class _Variant:
    """One variant's metric keys (made once: a request allocates none), its tally of the second, its totals."""

    __slots__ = ("invocations", "errors_4xx", "errors_5xx", "per_instance", "model_latency", "overhead_latency",
                 "tally", "totals")

    def __init__(self, endpoint: str, variant: str, second: int) -> None:
        def key(name: str) -> MetricKey:
            return MetricKey.of(INVOCATIONS_NAMESPACE, name, {"EndpointName": endpoint, "VariantName": variant})

        self.invocations, self.errors_4xx, self.errors_5xx = (
            key("Invocations"), key("Invocation4XXErrors"), key("Invocation5XXErrors"))
        self.per_instance, self.model_latency, self.overhead_latency = (
            key("InvocationsPerInstance"), key("ModelLatency"), key("OverheadLatency"))
        self.tally = _Tally(second)
        self.totals = VariantTotals()


class Publisher:
    """What one region publishes as SageMaker does, into its metric store; and the figures Prometheus reads.

    `invoked` runs on the event loop (the invocation path): it adds to the variant's tally of the second, which
    `flush` (the server's flush loop, every second) hands to the metric store's buffer and writes. `instances_used`
    runs in the sampling loop's thread. `is_recording` False records no invocation (for benchmarks measuring what
    recording costs)."""

    def __init__(self, metrics: MetricStore, region: str) -> None:
        self.metrics = metrics
        self.region = region
        self.is_recording = True
        self._variants: dict[tuple[str, str], _Variant] = {}
        self._ended: list[tuple[_Variant, _Tally]] = []  # tallies of seconds past, not handed over yet
        self._lock = threading.Lock()  # tallies: added to on the loop, handed over from the flush thread
        self._usage: tuple[InstanceUsage, ...] = ()  # swapped whole: Prometheus reads it from another thread
        self._dropped: dict[tuple[str, str], int] = {}  # the router's dropped copies last seen, per shadow variant
        self._dropped_total: Counter[tuple[str, str]] = Counter()  # recorded since the server started, for Prometheus

    def invoked(self, endpoint: str, meter: InvocationMeter, status: int) -> None:
        """Record one invocation that has been answered: `status` is the model's HTTP status (200 for an answer;
        0 when it gave none); an invocation that reached no variant is not recorded. O(1), no I/O."""
        if meter.variant is None:
            return
        overhead_s = max(time.perf_counter() - meter.started - (meter.model_s or 0.0), 0.0)
        self.record(endpoint, meter.variant, meter.instances, status, meter.model_s, overhead_s)

    def record(self, endpoint: str, variant: str, instances: int, status: int, model_s: float | None,
               overhead_s: float) -> None:
        """Record one invocation of `variant` (of `instances` instances) answered now, as `invoked` does, from its
        figures: the model's seconds (None: no model had the request) and the rest of its seconds."""
        if not self.is_recording:
            return
        second = int(self.metrics.clock().timestamp())
        is_4xx, is_5xx = 400 <= status < 500, not 200 <= status < 500
        with self._lock:
            found = self._variants.get((endpoint, variant))
            if found is None:
                found = self._variants[(endpoint, variant)] = _Variant(endpoint, variant, second)
            tally = found.tally
            if tally.second != second:
                if tally.invocations:
                    self._ended.append((found, tally))
                tally = found.tally = _Tally(second)
            tally.invocations += 1
            tally.errors_4xx += is_4xx
            tally.errors_5xx += is_5xx
            tally.per_instance += 1.0 / instances
            if model_s is not None:
                tally.model_us.append(model_s * _MICROSECONDS)
            tally.overhead_us.append(overhead_s * _MICROSECONDS)
        _count(found.totals, model_s, overhead_s, is_4xx, is_5xx)

    def flush(self) -> None:
        """Hand the invocations' tallies to the metric store and write its buffer (see MetricStore.flush)."""
        with self._lock:
            taken, self._ended = self._ended, []
            for found in self._variants.values():
                if found.tally.invocations:
                    taken.append((found, found.tally))
                    found.tally = _Tally(found.tally.second)
        for found, tally in taken:
            self._hand_over(found, tally)
        self.metrics.flush()

    def _hand_over(self, found: _Variant, tally: _Tally) -> None:
        """The second's tally as the six metrics' aggregates, into the metric store's buffer."""
        record = functools.partial(self.metrics.record_set, timestamp=tally.second,
                                   storage_resolution=HIGH_RESOLUTION)
        count = tally.invocations
        record(found.invocations, _constant(1.0, count))
        record(found.errors_4xx, _ones_and_zeros(tally.errors_4xx, count))
        record(found.errors_5xx, _ones_and_zeros(tally.errors_5xx, count))
        record(found.per_instance, _constant(tally.per_instance / count, count))  # instance counts rarely change
        for key, latencies in ((found.model_latency, tally.model_us), (found.overhead_latency, tally.overhead_us)):
            if latencies:
                record(key, _values(latencies), "Microseconds")

    def variant_totals(self) -> list[tuple[str, str, VariantTotals]]:
        """(endpoint, variant, totals) of every variant invoked since the server started."""
        return [(endpoint, variant, found.totals) for (endpoint, variant), found in list(self._variants.items())]

    def instances_used(self, usages: tuple[InstanceUsage, ...]) -> None:
        """Record a sampling pass's utilizations (standard resolution); they replace the last pass's for Prometheus."""
        for usage in usages:
            dimensions = dict(usage.dimensions)
            for name, value in (("CPUUtilization", usage.cpu_percent), ("MemoryUtilization", usage.memory_percent),
                                ("DiskUtilization", usage.disk_percent)):
                if value is not None:
                    self.metrics.record(MetricKey.of(usage.namespace, name, dimensions), value, "Percent")
        self._usage = usages

    def instance_usage(self) -> tuple[InstanceUsage, ...]:
        """The last sampling pass's utilizations."""
        return self._usage

    def copies_dropped(self, totals: list[tuple[str, str, int]]) -> None:
        """Record ShadowCopiesDropped (modelbay's own, in AWS/SageMaker beside the shadow variant's invocations): the
        copies the router dropped since the last call, from its running totals (endpoint, shadow variant, dropped);
        nothing for a variant that dropped none. Called every second, from one thread."""
        for endpoint, variant, total in totals:
            seen = self._dropped.get((endpoint, variant), 0)
            self._dropped[(endpoint, variant)] = total
            if dropped := total - seen if total >= seen else total:  # a total that fell began again (republished)
                key = MetricKey.of(INVOCATIONS_NAMESPACE, "ShadowCopiesDropped",
                                   {"EndpointName": endpoint, "VariantName": variant})
                self.metrics.record(key, dropped, storage_resolution=1)
                self._dropped_total[(endpoint, variant)] += dropped

    def copies_dropped_totals(self) -> list[tuple[str, str, int]]:
        """(endpoint, shadow variant, copies dropped) recorded since the server started, for Prometheus: unlike the
        router's totals, they never begin again. Read from any thread."""
        return [(endpoint, variant, dropped) for (endpoint, variant), dropped in Counter(self._dropped_total).items()]

    def concurrent_requests(self, samples: list[tuple[str, str, int, int]]) -> None:
        """Record each variant's ConcurrentRequestsPerModel now, from the router's (endpoint, variant, requests in
        flight, instances): sampled every second at 1-second resolution, so its Maximum over a period is what
        SageMakerVariantConcurrentRequestsPerModelHighResolution scales on."""
        for endpoint, variant, in_flight, instances in samples:
            key = MetricKey.of(INVOCATIONS_NAMESPACE, "ConcurrentRequestsPerModel",
                               {"EndpointName": endpoint, "VariantName": variant})
            self.metrics.record(key, in_flight / instances, storage_resolution=1)

    def model_setup(self, endpoint: str, variant: str, seconds: float) -> None:
        """Record a serverless variant's cold start: ModelSetupTime, in microseconds as SageMaker has it."""
        key = MetricKey.of(INVOCATIONS_NAMESPACE, "ModelSetupTime", {"EndpointName": endpoint, "VariantName": variant})
        self.metrics.record(key, seconds * 1e6, unit="Microseconds")

    def training_metrics(self, job: str, values: Mapping[str, float]) -> None:
        """Record a training job's MetricDefinitions values, as read from its log now."""
        for name, value in values.items():
            self.metrics.record(MetricKey.of(TRAINING_NAMESPACE, name, {"TrainingJobName": job}), value)


def _count(totals: VariantTotals, model_s: float | None, overhead_s: float, is_4xx: bool, is_5xx: bool) -> None:
    totals.invocations += 1
    totals.errors_4xx += is_4xx
    totals.errors_5xx += is_5xx
    if model_s is not None:
        totals.model_buckets[bisect.bisect_left(LATENCY_BOUNDS_S, model_s)] += 1
        totals.model_sum_s += model_s
    totals.overhead_buckets[bisect.bisect_left(LATENCY_BOUNDS_S, overhead_s)] += 1
    totals.overhead_sum_s += overhead_s


def _constant(value: float, count: int) -> Aggregate:
    return Aggregate(float(count), value * count, value, value, {distribution.bucket_of(value): float(count)})


def _ones_and_zeros(ones: int, count: int) -> Aggregate:
    """`count` values of which `ones` are 1 and the rest 0."""
    histogram = {bucket: float(n) for bucket, n in ((distribution.bucket_of(1.0), ones), (0, count - ones)) if n}
    return Aggregate(float(count), float(ones), 0.0 if ones < count else 1.0, 1.0 if ones else 0.0, histogram)


def _values(values: list[float]) -> Aggregate:
    histogram: dict[int, float] = {}
    for value in values:
        distribution.add(histogram, value)
    return Aggregate(float(len(values)), sum(values), min(values), max(values), histogram)
