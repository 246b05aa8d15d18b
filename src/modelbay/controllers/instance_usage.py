"""Instance usage, sampled and published as SageMaker publishes it.

Every SAMPLE_INTERVAL_S the sampler asks the runtime what each running instance has used
(`Runtime.usage`) and publishes, over the time since its last sample:
- CPUUtilization: CPU seconds per second, in percent, so 100 % per vCPU kept busy (up to vCPUs × 100 %), as
  SageMaker's scale is; an instance's first sample only starts its count;
- MemoryUtilization: its resident memory, in percent of what its instance type gets here (runtime/machine.py);
- DiskUtilization: the blocks its scratch volume uses, in percent of its VolumeSizeInGB (where it has a volume).
Serving instances go to `/aws/sagemaker/Endpoints` (EndpointName, VariantName), training and processing
instances to `/aws/sagemaker/TrainingJobs` and `/aws/sagemaker/ProcessingJobs` (Host: `<job>/algo-<n>`).
Asynchronous endpoints also get ApproximateBacklogSize and ApproximateBacklogSizePerInstance in `AWS/SageMaker`:
their queued and running requests, in all and per serving instance.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from modelbay.controllers.endpoints.fleet import ENDPOINT, VARIANT
from modelbay.controllers.processing_jobs.controller import ProcessingController
from modelbay.controllers.training_jobs.controller import TrainingController
from modelbay.instance_types import UnknownInstanceType, instance_type
from modelbay.monitoring.metrics import MetricKey
from modelbay.monitoring.publishing import (
    ENDPOINTS_NAMESPACE,
    INVOCATIONS_NAMESPACE,
    PROCESSING_NAMESPACE,
    TRAINING_NAMESPACE,
    InstanceUsage,
)
from modelbay.platform import Platform
from modelbay.runtime.base import Instance, Runtime, Usage
from modelbay.runtime.machine import memory_limit

SAMPLE_INTERVAL_S = 5.0
_JOB_NAMESPACES = ((TrainingController.label, TRAINING_NAMESPACE), (ProcessingController.label, PROCESSING_NAMESPACE))


class UsageSampler:
    """Publishes the usage of the instances a runtime runs, one `sample` at a time (from one thread)."""

    def __init__(self, platform: Platform, runtime: Runtime, clock: Callable[[], float] = time.monotonic) -> None:
        self.platform, self.runtime, self.clock = platform, runtime, clock
        self._last: dict[str, tuple[float, float]] = {}  # instance id: (clock, CPU seconds) of its last sample

    def sample(self) -> None:
        """Publish every running instance's usage since its last sample, and async endpoints' backlogs."""
        now, seen, usages = self.clock(), {}, []
        running = [instance for instance in self.runtime.list({}) if instance.is_alive]
        for instance in running:
            place = _published_as(instance)
            used = self.runtime.usage(instance.id) if place is not None else None
            if place is None or used is None:
                continue
            seen[instance.id] = (now, used.cpu_s)
            last = self._last.get(instance.id)
            if last is not None and now > last[0]:
                cpu_percent = max(used.cpu_s - last[1], 0.0) / (now - last[0]) * 100
                usages.append(InstanceUsage(place[0], place[1], instance.id, cpu_percent,
                                            _memory_percent(instance, used), _disk_percent(used)))
        self._last = seen
        self.platform.publisher.instances_used(tuple(usages))
        self._publish_backlogs({instance.labels[ENDPOINT] for instance in running if ENDPOINT in instance.labels})

    def _publish_backlogs(self, endpoints: Iterable[str]) -> None:
        router, queue = self.platform.router, self.platform.metadata.async_invocations
        for endpoint in sorted(endpoints):
            if not router.is_queued(endpoint):
                continue
            size = float(queue.backlog(endpoint))
            instances = len(router.placement(endpoint) or [])
            dimensions = {"EndpointName": endpoint}
            self.platform.metrics.record(MetricKey.of(INVOCATIONS_NAMESPACE, "ApproximateBacklogSize", dimensions),
                                         size)
            self.platform.metrics.record(
                MetricKey.of(INVOCATIONS_NAMESPACE, "ApproximateBacklogSizePerInstance", dimensions),
                size / instances if instances else size)


def _published_as(instance: Instance) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """The namespace and dimensions of the instance's usage, as SageMaker publishes it; None for what it does not
    publish (here: transform hosts)."""
    labels = instance.labels
    if ENDPOINT in labels:
        return ENDPOINTS_NAMESPACE, (("EndpointName", labels[ENDPOINT]), ("VariantName", labels[VARIANT]))
    for label, namespace in _JOB_NAMESPACES:
        if label in labels:
            return namespace, (("Host", f"{labels[label]}/{labels['host']}"),)
    return None


def _memory_percent(instance: Instance, used: Usage) -> float | None:
    try:
        return used.memory_bytes / memory_limit(instance_type(instance.instance_type)) * 100
    except UnknownInstanceType:
        return None


def _disk_percent(used: Usage) -> float | None:
    if used.disk_bytes is None or not used.disk_size_bytes:
        return None
    return used.disk_bytes / used.disk_size_bytes * 100
