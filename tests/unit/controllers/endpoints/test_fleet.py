"""Health of a slot: active /ping checks, with real traffic as the passive check."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from modelbay.controllers.endpoints.fleet import Health, Slot, SlotKey, slot_labels
from modelbay.runtime.base import Instance, InstanceStatus


def slot(status: InstanceStatus = InstanceStatus.RUNNING) -> Slot:
    key = SlotKey(0, "a", 0)
    instance = Instance("i-1", slot_labels("e", key, "z", 0, 8080), status, "ml.m5.large", Path("/x/opt_ml"),
                        Path("/x/log"), datetime.now(UTC))
    return Slot(key, "z", [instance])


def test_a_slot_that_stops_answering_its_checks_fails_with_the_reason() -> None:
    answers = iter([None, "GET /ping failed: TimeoutError: timed out", "GET /ping answered 503"])
    health = Health(lambda _url: next(answers), every_s=0.0, failures_to_fail=2)
    target = slot()
    health.check(target)
    assert health.is_ready(target) and not health.has_failed(target)
    health.check(target)
    assert health.is_ready(target)  # one miss is not yet a failure
    health.check(target)
    assert health.has_failed(target) and not health.is_ready(target)
    assert health.failure(target) == "GET /ping answered 503"


def test_a_busy_slot_answering_traffic_does_not_fail_a_timed_out_check() -> None:
    answers = iter([None] + ["GET /ping failed: TimeoutError: timed out"] * 3)
    health = Health(lambda _url: next(answers), every_s=0.0, failures_to_fail=2)
    target = slot()
    for _ in range(4):
        health.check(target, answering=True)
    assert health.is_ready(target) and not health.has_failed(target)


def test_an_ended_model_server_fails_without_a_ping() -> None:
    health = Health(lambda _url: None, every_s=0.0, failures_to_fail=2)
    assert health.has_failed(slot(InstanceStatus.EXITED))
