"""Serverless variants: the instance each runs (none while idle), how it is sized, and what it used.

A serverless variant runs on one instance at most: one model server whose memory limit is the variant's
MemorySizeInMB, with min(MaxConcurrency, its vCPUs) workers; the router admits MaxConcurrency invocations at
once (those beyond the workers wait in the model server's accept queue) and throttles the rest. One instance,
not one per concurrent invocation as SageMaker runs them, because a cold start is then one model load (about
half a second here), not MaxConcurrency of them, and a machine running modelbay has neither 200 times the
memory nor the CPUs to gain from more workers than it has CPUs. So the memory size bounds the whole instance
(on SageMaker each concurrent invocation has its own), and a model that outgrows it is killed by the kernel,
as SageMaker's is.

Its vCPUs follow AWS Lambda's ratio, on which serverless inference runs: one per 1,769 MB, rounded up.

Scaling (`ServerlessScaler.instances`): the variant has its instance while invocations are admitted, for
`idle_s` after the last one ended (Settings.serverless_idle_s; SageMaker keeps an idle endpoint warm for
minutes too), and always with ProvisionedConcurrency; else none. An invocation that finds none wakes the
controller, which starts one: the time from that decision to the instance passing /ping is ModelSetupTime.

Usage (`ServerlessScaler.gb_seconds`): MemorySizeInMB / 1024 × the seconds invocations took on the instance,
the compute SageMaker bills for serverless inference (cold starts are not billed).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from modelbay.instance_types import InstanceType
from modelbay.serving.router import Demand
from modelbay.store.metadata.endpoints import ServerlessSpec

log = logging.getLogger(__name__)

LAMBDA_MB_PER_VCPU = 1769
WORKERS_VARIABLE = "SAGEMAKER_MODEL_SERVER_WORKERS"

# (endpoint, variant, seconds) → None: told each ModelSetupTime, e.g. to publish it as a CloudWatch metric.
SetupListener = Callable[[str, str, float], None]


def serverless_type(config: ServerlessSpec) -> InstanceType:
    """The instance type a serverless variant's instance runs as: its memory size, vCPUs by Lambda's ratio."""
    return InstanceType(f"ml.serverless.{config.memory_mb}mb", math.ceil(config.memory_mb / LAMBDA_MB_PER_VCPU),
                        config.memory_mb)


def workers_env(config: ServerlessSpec, containers: tuple[dict[str, Any], ...]) -> dict[str, str]:
    """The model server's worker count, min(MaxConcurrency, vCPUs), unless the model sets one itself."""
    if any(WORKERS_VARIABLE in container.get("Environment", {}) for container in containers):
        return {}
    return {WORKERS_VARIABLE: str(min(config.max_concurrency, serverless_type(config).vcpus))}


def log_setup_time(endpoint: str, variant: str, seconds: float) -> None:
    log.info("serverless variant %s of endpoint %s started an instance in %.2f s (ModelSetupTime)",
             variant, endpoint, seconds)


class ServerlessScaler:
    """Decides each serverless variant's instance count from the router's Demand, and accounts its usage."""

    def __init__(self, demand: Callable[[str, str], Demand], idle_s: float,
                 on_setup: SetupListener = log_setup_time) -> None:
        """`demand(endpoint, variant)` is the router's Demand of a serverless variant."""
        self.demand, self.idle_s, self.on_setup = demand, idle_s, on_setup
        self._billed_s: dict[tuple[str, str], float] = {}  # the router's busy_s already counted in gb_seconds
        self._setup_began: dict[tuple[str, str], float] = {}  # when a cold start was decided (time.monotonic)

    def instances(self, endpoint: str, variant: str, config: ServerlessSpec) -> int:
        """1 while the variant is in demand, was within idle_s, or has provisioned concurrency; else 0."""
        if config.provisioned_concurrency:
            return 1
        demand = self.demand(endpoint, variant)
        return 1 if demand.admitted or demand.idle_s < self.idle_s else 0

    def gb_seconds(self, endpoint: str, variant: str, config: ServerlessSpec, recorded: float) -> float:
        """`recorded` GB-seconds plus what the variant's invocations used since last asked."""
        busy_s = self.demand(endpoint, variant).busy_s
        billed_s = self._billed_s.get((endpoint, variant), 0.0)
        self._billed_s[(endpoint, variant)] = busy_s
        new_s = busy_s - billed_s if busy_s >= billed_s else busy_s  # the router began anew (a table withdrawn)
        return recorded + new_s * config.memory_mb / 1024

    def launching(self, endpoint: str, variant: str) -> None:
        """The variant's instance is being started: its setup time runs from the first call on."""
        self._setup_began.setdefault((endpoint, variant), time.monotonic())

    def ready(self, endpoint: str, variant: str) -> None:
        """The variant's instance passed /ping: tell on_setup how long it took, once."""
        began = self._setup_began.pop((endpoint, variant), None)
        if began is not None:
            self.on_setup(endpoint, variant, time.monotonic() - began)

    def forget(self, endpoint: str) -> None:
        """The endpoint is gone: drop what is kept of its variants."""
        for kept in (self._billed_s, self._setup_began):
            for key in [key for key in kept if key[0] == endpoint]:
                del kept[key]
