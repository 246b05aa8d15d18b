"""What the controllers read of a region's routers in every front-door process: sums, unions and the earliest
idleness of the workers' answers beside this process's own, and their events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from modelbay.serving.router import Demand, Router
from modelbay.serving.router_fleet import DEMAND, FAILURE, RouterFleet, Several, combined, share_of


class Answering:
    """Workers whose routers give fixed answers, and whose events a test sends."""

    def __init__(self, answers: dict[str, list[Any]]) -> None:
        self.answers, self.asked, self.followed = answers, [], []
        self.listeners: dict[tuple[str, str], list[Callable[[str, str], None]]] = {}

    def ask(self, region: str, method: str, *args: Any) -> list[Any]:
        self.asked.append((region, method, args))
        return self.answers[method]

    def follow(self, region: str) -> None:
        self.followed.append(region)

    def listen(self, region: str, event: str, listener: Callable[[str, str], None]) -> None:
        self.listeners.setdefault((region, event), []).append(listener)


def test_in_flight_counts_add_up_and_any_answer_or_failure_counts() -> None:
    workers = Answering({"outstanding": [2, 3], "in_flight": [1, 0], "answered_within": [False, True],
                         "out_of_rotation": [frozenset({"i-1"}), frozenset({"i-2"})]})
    fleet = RouterFleet(Router(), "eu-west-1", workers)
    assert fleet.outstanding("ep") == 5
    assert fleet.in_flight("i-1") == 1
    assert fleet.answered_within("i-1", 2.0)
    assert fleet.out_of_rotation("ep") == {"i-1", "i-2"}
    assert workers.asked[0] == ("eu-west-1", "outstanding", ("ep",))


def test_requests_in_flight_per_variant_add_up_over_the_processes() -> None:
    workers = Answering({"concurrency": [[("ep", "a", 3, 2)], [("ep", "a", 1, 2), ("ep", "b", 0, 1)]]})
    assert sorted(RouterFleet(Router(), "us-east-1", workers).concurrency()) == [("ep", "a", 4, 2), ("ep", "b", 0, 1)]


def test_a_serverless_variants_demand_is_every_routers_together() -> None:
    assert combined([Demand(1, 0.0, 2.5), Demand(0, 30.0, 1.5), Demand(0, 10.0, 0.0)]) == Demand(1, 0.0, 4.0)
    assert combined([Demand(0, 30.0, 1.0), Demand(0, 10.0, 0.0)]) == Demand(0, 10.0, 1.0)


def test_the_listeners_hear_the_workers_routers() -> None:
    workers, heard = Answering({}), []
    fleet = RouterFleet(Router(), "us-east-1", workers)
    fleet.add_failure_listener(lambda endpoint, instance: heard.append((FAILURE, endpoint, instance)))
    fleet.add_demand_listener(lambda endpoint, variant: heard.append((DEMAND, endpoint, variant)))
    workers.listeners["us-east-1", FAILURE][0]("ep", "i-1")
    workers.listeners["us-east-1", DEMAND][0]("ep", "s")
    assert heard == [(FAILURE, "ep", "i-1"), (DEMAND, "ep", "s")]


def test_several_kinds_of_processes_answer_follow_and_tell_as_one() -> None:
    workers, proxy, heard = Answering({"in_flight": [1, 2]}), Answering({"in_flight": [4]}), []
    fleet = RouterFleet(Router(), "us-east-1", Several(workers, proxy))
    assert fleet.in_flight("i-1") == 7
    fleet.tables_changed()
    assert workers.followed == proxy.followed == ["us-east-1"]
    fleet.add_failure_listener(lambda endpoint, instance: heard.append((endpoint, instance)))
    proxy.listeners["us-east-1", FAILURE][0]("ep", "i-2")
    assert heard == [("ep", "i-2")] and ("us-east-1", FAILURE) in workers.listeners


@pytest.mark.parametrize(("max_concurrency", "workers", "shares"), [
    (5, 3, [2, 2, 1]), (6, 3, [2, 2, 2]), (1, 2, [1, 1]), (200, 1, [200])])
def test_max_concurrency_is_split_over_the_processes(max_concurrency: int, workers: int, shares: list[int]) -> None:
    assert [share_of(max_concurrency, worker, workers) for worker in range(workers)] == shares
