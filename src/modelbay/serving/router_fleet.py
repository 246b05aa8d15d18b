"""A region's routers in every process of a server's front door, as its controllers see them.

A server may answer its port from several processes (Settings.workers, front_door_workers.py): the first runs the
controllers, and each of the others (the workers) has a router of its own, which follows the tables in the store. The
controllers act on what all of them route: an endpoint is drained when no process has an invocation of it in flight,
an instance when none has a request to it in flight; a serverless variant's demand, and a variant's requests in
flight (ConcurrentRequestsPerModel), are the sums of theirs; an instance
is out of rotation when any process took it out, and one that answered in any of them needs no ping. Their failure and
demand listeners hear every process's router.

A table is in force once every process applies it: `tables_changed` returns when every worker has applied what the
store holds (a worker that does not answer in time is stopped, and a new one reads every table before it serves), so
a controller that publishes a table, then records the endpoint's new status, has no worker route by the old table
once that status can be read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from modelbay.serving.router import Demand, DemandListener, FailureListener, Router

# What the controllers may ask of a worker's router (each a Router method of that name).
ASKED = frozenset({"demand", "outstanding", "in_flight", "answered_within", "out_of_rotation", "concurrency"})
FAILURE, DEMAND = "failure", "demand"  # the events a worker's router tells the controllers of


class Workers(Protocol):
    """The front door's other processes, as the first one reaches them."""

    def ask(self, region: str, method: str, *args: Any) -> list[Any]:
        """Each worker's answer to `method(*args)` of its router of `region` (one of ASKED)."""

    def follow(self, region: str) -> None:
        """Return once every worker has applied the tables of `region` the store holds now."""

    def listen(self, region: str, event: str, listener: Callable[[str, str], None]) -> None:
        """Call `listener(endpoint, name)` when a worker's router of `region` tells of `event` (FAILURE: an instance
        taken out of rotation; DEMAND: a serverless variant without an instance)."""


class Several:
    """Several kinds of the front door's other processes (its workers; HAProxy, front_door_proxy.py) as one."""

    def __init__(self, *members: Workers) -> None:
        self.members = members

    def ask(self, region: str, method: str, *args: Any) -> list[Any]:
        return [answer for member in self.members for answer in member.ask(region, method, *args)]

    def follow(self, region: str) -> None:
        for member in self.members:
            member.follow(region)

    def listen(self, region: str, event: str, listener: Callable[[str, str], None]) -> None:
        for member in self.members:
            member.listen(region, event, listener)


ALONE = Several()  # a front door of one process


class RouterFleet:
    """The router of this process and its workers' of one region (see the module's docstring)."""

    def __init__(self, local: Router, region: str, workers: Workers = ALONE) -> None:
        self.local, self.region, self.workers = local, region, workers

    def tables_changed(self) -> None:
        """The store holds new tables: return once every worker applied them (this process applied them already)."""
        self.workers.follow(self.region)

    def outstanding(self, endpoint: str) -> int:
        return self.local.outstanding(endpoint) + sum(int(n) for n in self._ask("outstanding", endpoint))

    def in_flight(self, instance_id: str) -> int:
        return self.local.in_flight(instance_id) + sum(int(n) for n in self._ask("in_flight", instance_id))

    def answered_within(self, instance_id: str, seconds: float) -> bool:
        return self.local.answered_within(instance_id, seconds) or any(
            self._ask("answered_within", instance_id, seconds))

    def out_of_rotation(self, endpoint: str) -> frozenset[str]:
        return self.local.out_of_rotation(endpoint).union(*self._ask("out_of_rotation", endpoint))

    def concurrency(self) -> list[tuple[str, str, int, int]]:
        """Router.concurrency of every process: each variant's requests in flight in all of them, and its instances."""
        busy: Counter[tuple[str, str]] = Counter()
        instances: dict[tuple[str, str], int] = {}
        for answered in [self.local.concurrency(), *self._ask("concurrency")]:
            for endpoint, variant, in_flight, count in answered:
                busy[endpoint, variant] += in_flight
                instances.setdefault((endpoint, variant), count)
        return [(endpoint, variant, busy[endpoint, variant], count) for (endpoint, variant), count in instances.items()]

    def demand(self, endpoint: str, variant: str) -> Demand:
        return combined([self.local.demand(endpoint, variant), *self._ask("demand", endpoint, variant)])

    def add_failure_listener(self, listener: FailureListener) -> None:
        self.local.add_failure_listener(listener)
        self.workers.listen(self.region, FAILURE, listener)

    def add_demand_listener(self, listener: DemandListener) -> None:
        self.local.add_demand_listener(listener)
        self.workers.listen(self.region, DEMAND, listener)

    def _ask(self, method: str, *args: Any) -> list[Any]:
        return self.workers.ask(self.region, method, *args)


def combined(demands: Sequence[Demand]) -> Demand:
    """One serverless variant's demand in several routers: their invocations admitted and their seconds on an
    instance added up, idle since the last one of any ended."""
    return Demand(sum(d.admitted for d in demands), min(d.idle_s for d in demands), sum(d.busy_s for d in demands))


def share_of(max_concurrency: int, worker: int, workers: int) -> int:
    """Worker `worker`'s part of a serverless variant's MaxConcurrency, split as evenly as the front door's `workers`
    processes allow (the first ones take the remainder); at least 1, so that every process can answer the variant
    (with fewer MaxConcurrency than processes, as many invocations as processes may run at once)."""
    return max(1, max_concurrency // workers + (1 if worker < max_concurrency % workers else 0))
