"""A serverless variant's scaling decisions, sizing and usage, from the router's Demand."""

from __future__ import annotations

import math

import pytest

from modelbay.controllers.endpoints.serverless import ServerlessScaler, serverless_type, workers_env
from modelbay.serving.router import Demand
from modelbay.store.metadata.endpoints import ServerlessSpec

ON_DEMAND = ServerlessSpec(memory_mb=2048, max_concurrency=5, provisioned_concurrency=0)
PROVISIONED = ServerlessSpec(memory_mb=1024, max_concurrency=5, provisioned_concurrency=1)


class Demands:
    """What the router would say of each variant; a test sets it."""

    def __init__(self) -> None:
        self.now: dict[tuple[str, str], Demand] = {}

    def __call__(self, endpoint: str, variant: str) -> Demand:
        return self.now.get((endpoint, variant), Demand(0, math.inf, 0.0))


@pytest.fixture
def demands() -> Demands:
    return Demands()


@pytest.mark.parametrize(("demand", "instances"), [
    (Demand(0, math.inf, 0.0), 0),  # never invoked: no instance
    (Demand(1, 0.0, 0.0), 1),  # an invocation waits: a cold start
    (Demand(0, 9.0, 1.0), 1),  # idle for less than the timeout: kept warm
    (Demand(0, 10.0, 1.0), 0),  # idle as long as the timeout: scaled to zero
])
def test_an_on_demand_variant_has_an_instance_while_in_demand_or_recently_busy(
        demands: Demands, demand: Demand, instances: int) -> None:
    demands.now[("ep", "v")] = demand
    assert ServerlessScaler(demands, idle_s=10).instances("ep", "v", ON_DEMAND) == instances


def test_provisioned_concurrency_keeps_an_instance_without_demand(demands: Demands) -> None:
    assert ServerlessScaler(demands, idle_s=0).instances("ep", "v", PROVISIONED) == 1


def test_usage_is_memory_times_busy_time_counted_once(demands: Demands) -> None:
    scaler = ServerlessScaler(demands, idle_s=10)
    demands.now[("ep", "v")] = Demand(0, 1.0, 3.0)
    assert scaler.gb_seconds("ep", "v", ON_DEMAND, recorded=0.5) == pytest.approx(0.5 + 2 * 3.0)
    assert scaler.gb_seconds("ep", "v", ON_DEMAND, recorded=6.5) == pytest.approx(6.5)  # nothing new
    demands.now[("ep", "v")] = Demand(0, 1.0, 4.0)
    assert scaler.gb_seconds("ep", "v", ON_DEMAND, recorded=6.5) == pytest.approx(8.5)
    demands.now[("ep", "v")] = Demand(0, 1.0, 0.25)  # the router began anew (its table was withdrawn)
    assert scaler.gb_seconds("ep", "v", ON_DEMAND, recorded=8.5) == pytest.approx(9.0)


def test_setup_time_runs_from_the_first_launch_to_ready_and_is_told_once(demands: Demands) -> None:
    told: list[tuple[str, str, float]] = []
    scaler = ServerlessScaler(demands, idle_s=10, on_setup=lambda *setup: told.append(setup))
    scaler.ready("ep", "v")  # never launched by the scaler (adopted after a restart): nothing to tell
    scaler.launching("ep", "v")
    scaler.launching("ep", "v")  # a later pass while it starts
    scaler.ready("ep", "v")
    scaler.ready("ep", "v")
    assert [(endpoint, variant) for endpoint, variant, _ in told] == [("ep", "v")]
    assert 0 <= told[0][2] < 5


@pytest.mark.parametrize(("memory_mb", "vcpus"), [(1024, 1), (2048, 2), (3072, 2), (6144, 4)])
def test_the_instance_has_the_memory_size_and_vcpus_by_lambdas_ratio(memory_mb: int, vcpus: int) -> None:
    kind = serverless_type(ServerlessSpec(memory_mb, 10, 0))
    assert (kind.memory_mib, kind.vcpus, kind.name) == (memory_mb, vcpus, f"ml.serverless.{memory_mb}mb")


def test_workers_are_capped_by_max_concurrency_unless_the_model_says() -> None:
    assert workers_env(ServerlessSpec(6144, 2, 0), ({"Image": "i"},)) == {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}
    assert workers_env(ServerlessSpec(2048, 100, 0), ({"Image": "i"},)) == {"SAGEMAKER_MODEL_SERVER_WORKERS": "2"}
    assert workers_env(ON_DEMAND, ({"Image": "i", "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "7"}},)) == {}
