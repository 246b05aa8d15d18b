"""Shipping an instance's log to the log store: whole lines while it runs, each line once, whoever ships it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelbay.controllers.instance_logs import ship_log
from modelbay.runtime.base import Instance, InstanceStatus
from tests.log_stores import BACKENDS, Opener, log_database, log_store_opener


@pytest.fixture(params=BACKENDS)
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    if request.param == "files":
        with log_store_opener(tmp_path / "logs", None) as opener:
            yield opener
        return
    with log_database() as url, log_store_opener(tmp_path / "logs", url) as opener:
        yield opener


@pytest.fixture
def instance(tmp_path: Path) -> Instance:
    return Instance("i-1", {"endpoint": "e"}, InstanceStatus.RUNNING, "ml.m5.large", tmp_path / "opt_ml",
                    tmp_path / "instance.log", datetime(2026, 1, 1, tzinfo=UTC))


def _messages(opener: Opener) -> list[str]:
    return [event.message for event in opener().read("g", "s", None, None)]


def test_a_new_leader_ships_on_from_where_the_last_one_stopped(opener: Opener, instance: Instance) -> None:
    instance.log_path.write_bytes(b"one\ntwo\nthr")
    assert ship_log(opener(), "g", "s", instance) == ["one", "two"]  # "thr" is still being written
    with open(instance.log_path, "ab") as log:
        log.write(b"ee\nfour\n")
    leader = opener()  # after a fail-over (or a restart): a store of its own
    assert ship_log(leader, "g", "s", instance) == ["three", "four"]
    assert ship_log(leader, "g", "s", instance) == []
    assert _messages(opener) == ["one", "two", "three", "four"]


def test_an_ended_instance_ships_its_last_line_unfinished(opener: Opener, instance: Instance) -> None:
    instance.log_path.write_bytes(b"done\nno newline")
    ended = dataclasses.replace(instance, status=InstanceStatus.EXITED, exit_code=0)
    assert ship_log(opener(), "g", "s", ended) == ["done", "no newline"]
    assert ship_log(opener(), "g", "s", ended) == []
    assert _messages(opener) == ["done", "no newline"]


def test_a_group_deleted_while_its_instance_runs_is_not_filled_again(opener: Opener, instance: Instance) -> None:
    """The SageMaker SDK's clean-up deletes an endpoint's log group while its instances drain."""
    instance.log_path.write_bytes(b"serving\n")
    store = opener()
    assert ship_log(store, "g", "s", instance) == ["serving"]
    store.delete_group("g")
    assert ship_log(store, "g", "s", instance) == []
    assert store.groups("g") == []

