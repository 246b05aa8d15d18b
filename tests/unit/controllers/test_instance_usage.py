"""The usage sampler over a real process runtime: a busy training host's CPU on SageMaker's scale, its memory;
an async endpoint's backlog."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from modelbay.config import Settings
from modelbay.controllers.instance_usage import UsageSampler
from modelbay.instance_types import instance_type
from modelbay.monitoring.metrics import MetricKey
from modelbay.monitoring.publishing import INVOCATIONS_NAMESPACE, TRAINING_NAMESPACE
from modelbay.platform import Platform
from modelbay.runtime.base import InstanceSpec
from modelbay.runtime.process import ProcessRuntime
from modelbay.serving.router import Backend, VariantRoute
from modelbay.store.metadata import AsyncRequest, open_metadata_store
from modelbay.store.metadata.records import utc_now
from tests.helpers import wait_until


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    metadata = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}")
    yield Platform(Settings(data_dir=tmp_path), metadata, objects=None, logs=None)  # type: ignore[arg-type]
    metadata.close()


def test_a_busy_training_host_is_published_near_100_percent_cpu(platform: Platform, runtime: ProcessRuntime,
                                                               tmp_path: Path) -> None:
    spec = InstanceSpec(argv=(sys.executable, "-c", "while True: pass"), opt_ml=tmp_path / "opt_ml",
                        instance_type=instance_type("ml.m5.large"), env={"PATH": os.environ["PATH"]})
    busy = runtime.start(spec, {"training-job": "job-1", "host": "algo-1"})
    runtime.start(spec, {"transform-job": "t", "host": "0"})  # SageMaker publishes no usage of transform hosts here
    sampler = UsageSampler(platform, runtime)
    sampler.sample()  # starts the count
    assert platform.publisher.instance_usage() == ()
    first = runtime.usage(busy.id)
    assert first is not None
    wait_until(lambda: (now := runtime.usage(busy.id)) is not None and now.cpu_s > first.cpu_s + 0.5, 20,
               "the instance to burn half a CPU second")
    sampler.sample()
    [usage] = platform.publisher.instance_usage()
    assert (usage.namespace, usage.dimensions, usage.instance) == (TRAINING_NAMESPACE, (("Host", "job-1/algo-1"),),
                                                                   busy.id)
    assert 30 < usage.cpu_percent <= 110  # one busy process: up to a vCPU's 100 %, less when the machine is shared
    assert usage.memory_percent is not None and 0 < usage.memory_percent < 5  # a few MB of 8 GiB
    platform.metrics.flush()
    key = MetricKey.of(TRAINING_NAMESPACE, "CPUUtilization", {"Host": "job-1/algo-1"})
    series = platform.metrics.series(key, utc_now() - timedelta(minutes=5), utc_now(), 300)
    assert series.points and series.points[0].aggregate.maximum == pytest.approx(usage.cpu_percent)


def test_an_async_endpoints_backlog_is_published_in_all_and_per_instance(platform: Platform, runtime: ProcessRuntime,
                                                                          tmp_path: Path) -> None:
    spec = InstanceSpec(argv=("sleep", "60"), opt_ml=tmp_path / "opt_ml", instance_type=instance_type("ml.m5.large"),
                        env={"PATH": os.environ["PATH"]})
    instances = [runtime.start(spec, {"endpoint": "ep", "variant": "v1"}) for _ in range(2)]
    platform.router.publish("ep", [VariantRoute("v1", 1.0, tuple(
        Backend(i.id, "us-east-1a", ("http://127.0.0.1:9",)) for i in instances))], queued=True)
    for n in range(3):
        platform.metadata.async_invocations.enqueue(AsyncRequest(
            "ep", "arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep", f"id-{n}", None, b"x", "s3://b/out", None,
            None, None, None, 60), ttl_s=60)
    UsageSampler(platform, runtime).sample()
    platform.metrics.flush()

    def latest(name: str) -> float:
        key = MetricKey.of(INVOCATIONS_NAMESPACE, name, {"EndpointName": "ep"})
        [point] = platform.metrics.series(key, utc_now() - timedelta(minutes=5), utc_now(), 300).points
        return point.aggregate.maximum

    assert (latest("ApproximateBacklogSize"), latest("ApproximateBacklogSizePerInstance")) == (3, 1.5)
