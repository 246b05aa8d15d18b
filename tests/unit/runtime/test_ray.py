"""RayRuntime against a real three-node Ray cluster (one per zone) and a real S3-compatible server, with the process
launcher on each node: instances' files both ways, logs, placement (zones, spread groups, custom resources, a
job's hosts together), a new runtime on the same state, another server of the deployment adopting an instance, a
runtime that polls only while used, a lost node, and the runtime refused without S3."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import ray

from modelbay.config import Settings
from modelbay.instance_types import instance_type
from modelbay.runtime.backends import RuntimeUnavailable, open_runtime
from modelbay.runtime.base import (
    Instance,
    InstanceRunning,
    InstanceSpec,
    InstanceStatus,
    Runtime,
    StartFailed,
    stop_all,
    stop_instances,
)
from modelbay.runtime.ray import RayRuntime, deployment_key
from tests.helpers import moto_s3_server, wait_until
from tests.ray_cluster import NodeSpec, RayCluster, ray_cluster
from tests.unit.runtime.instances import wait_ended

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
SMALL = instance_type("ml.m6g.medium")  # 1 vCPU: fits every node
# Ray declares a killed node dead after a few missed health checks: quick ones, so a test sees the loss in seconds
FAST_HEALTH_CHECKS = {"RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "500",
                      "RAY_health_check_failure_threshold": "3"}
SLEEP = "import time; time.sleep(300)"
DATABASE = "postgresql://modelbay:{password}@db.internal/modelbay"  # never connected to: the deployment's identity


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    nodes = [NodeSpec(ZONES[0], cpus=1), NodeSpec(ZONES[1], cpus=2, resources={"ml.c5": 4}),
             NodeSpec(ZONES[2], cpus=1)]
    with ray_cluster(tmp_path_factory.mktemp("cluster"), nodes, os.environ | FAST_HEALTH_CHECKS) as started:
        yield started


@pytest.fixture(scope="module")
def settings(cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with moto_s3_server() as s3:
        yield Settings(data_dir=tmp_path_factory.mktemp("data"), runtime="ray", ray_address=cluster.address,
                       s3_endpoint_url=s3, s3_access_key_id="test", s3_secret_access_key="test")


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="module")
def runtime(settings: Settings, state_dir: Path) -> Iterator[Runtime]:
    opened = open_runtime(settings, state_dir)
    try:
        yield opened
    finally:
        stop_all(opened, grace_s=0)
        opened.close()
        ray.shutdown()


def python_spec(opt_ml: Path, code: str, **options: object) -> InstanceSpec:
    return InstanceSpec(argv=(sys.executable, "-c", textwrap.dedent(code)), opt_ml=opt_ml, instance_type=SMALL,
                        env={"PATH": os.environ["PATH"]}, **options)  # type: ignore[arg-type]


def zone_of(runtime: Runtime, instance: Instance) -> str | None:
    return next(node.zone for node in runtime.nodes() if node.name == instance.node)


def test_an_instance_reads_its_input_and_its_model_reaches_the_server(runtime: Runtime, tmp_path: Path) -> None:
    opt_ml = tmp_path / "opt_ml"
    (opt_ml / "input/data/train").mkdir(parents=True)
    (opt_ml / "input/data/train/x.txt").write_text("hello")
    spec = python_spec(opt_ml, """
        import os, pathlib
        root = pathlib.Path(os.environ.get("SM_INPUT_DIR", "/opt/ml/input")).parent
        text = (root / "input/data/train/x.txt").read_text()
        (root / "model/x").write_text(text.upper())
        print("trained on", text)
    """)
    started = runtime.start(spec, {"job": "one"})
    assert started.node is not None and started.address != "127.0.0.1"
    ended = wait_ended(runtime, started.id, timeout_s=30)
    assert (ended.status, ended.exit_code) == (InstanceStatus.EXITED, 0)
    assert (opt_ml / "model/x").read_text() == "HELLO"
    assert "trained on hello" in runtime.logs(started.id).read_text()
    assert [i.id for i in runtime.list({"job": "one"})] == [started.id]
    runtime.remove(started.id)
    assert runtime.list({"job": "one"}) == []


def test_a_spread_group_lands_on_different_nodes_and_a_zone_is_honoured(runtime: Runtime, tmp_path: Path) -> None:
    zoned = runtime.start(python_spec(tmp_path / "z", SLEEP, zone=ZONES[2]), {"test": "spread"})
    # ties between nodes running none of the group go to the node running fewest instances: not the zoned one's
    spread = [runtime.start(python_spec(tmp_path / f"s{n}", SLEEP, spread_group="ep/v1"), {"test": "spread"})
              for n in range(2)]
    try:
        assert len({spread[0].node, spread[1].node, zoned.node}) == 3
        assert zone_of(runtime, zoned) == ZONES[2]
        node = next(node for node in runtime.nodes() if node.name == zoned.node)
        assert zoned.id in node.instances and node.resources["CPU"] == 1
        wait_until(lambda: next(n for n in runtime.nodes() if n.name == zoned.node).free.get("CPU", 0.0) == 0.0,
                   10, "the zone's node to show its one CPU taken")
        with pytest.raises(InstanceRunning):
            runtime.remove(zoned.id)
    finally:
        stop_all(runtime, grace_s=0)
    stopped = runtime.inspect(zoned.id)
    assert stopped.status is InstanceStatus.STOPPED
    for instance in runtime.list({"test": "spread"}):
        runtime.remove(instance.id)


def test_a_family_pinned_to_a_node_by_a_custom_resource_runs_there(runtime: Runtime, tmp_path: Path) -> None:
    spec = replace(python_spec(tmp_path / "c5", "print('on c5')"), instance_type=instance_type("ml.c5.large"))
    started = runtime.start(spec, {"test": "family"})
    assert zone_of(runtime, started) == ZONES[1]  # the one node offering ml.c5
    assert wait_ended(runtime, started.id, timeout_s=30).exit_code == 0
    runtime.remove(started.id)


def test_a_jobs_hosts_start_together_on_different_nodes_and_resolve_each_other(runtime: Runtime,
                                                                               tmp_path: Path) -> None:
    peers = ("algo-1", "algo-2")
    code = """
        import socket
        print("algo-1", socket.gethostbyname("algo-1"))
        print("algo-2", socket.gethostbyname("algo-2"))
    """
    runtime.start_together([(python_spec(tmp_path / host, code, hostname=host, peers=peers),
                             {"job": "two", "host": host}) for host in peers])
    hosts = runtime.list({"job": "two"})
    assert len({host.node for host in hosts}) == 2
    expected = [f"{host.labels['host']} {host.address}" for host in hosts]
    for host in hosts:
        assert wait_ended(runtime, host.id, timeout_s=30).exit_code == 0
        assert all(line in runtime.logs(host.id).read_text() for line in expected)
        runtime.remove(host.id)


def test_a_new_runtime_finds_the_instances_and_a_lost_node_is_named(settings: Settings, cluster: RayCluster,
                                                                     tmp_path: Path) -> None:
    first = RayRuntime(settings, tmp_path / "state")
    try:
        started = first.start(python_spec(tmp_path / "lost", "print('up', flush=True); " + SLEEP, zone=ZONES[2]),
                              {"test": "lost"})
        wait_until(lambda: "up" in first.logs(started.id).read_text(), 30, "the instance's first line")
        unrecorded = first.start(python_spec(tmp_path / "adopted", SLEEP, zone=ZONES[0]), {"test": "adopted"})
    finally:
        first.close()  # the server ends; its instances run on
    (tmp_path / "state" / f"{unrecorded.id}.json").unlink()  # as if its record had been lost
    again = RayRuntime(settings, tmp_path / "state")
    try:
        found = again.list({"test": "lost"})
        assert [(i.id, i.node, i.is_alive) for i in found] == [(started.id, started.node, True)]
        adopted = again.list({"test": "adopted"})
        assert [(i.id, i.opt_ml, i.is_alive) for i in adopted] == [(unrecorded.id, tmp_path / "adopted", True)]
        stop_instances(again, [unrecorded.id], grace_s=0)
        again.remove(unrecorded.id)
        cluster.kill(2)  # the us-east-1c node
        lost = wait_ended(again, started.id, timeout_s=60)
        assert lost.status is InstanceStatus.LOST
        assert lost.reason == f"the node {started.node} ({started.address}, zone {ZONES[2]}) running it was lost"
        assert not next(node for node in again.nodes() if node.name == started.node).alive
        again.remove(started.id)
    finally:
        again.close()


def test_an_isolated_instance_is_refused_with_the_reason(runtime: Runtime, tmp_path: Path) -> None:
    with pytest.raises(StartFailed, match="EnableNetworkIsolation .* the Ray runtime"):
        runtime.start(python_spec(tmp_path / "opt_ml", "print('never')", isolated=True), {"job": "isolated"})
    assert runtime.list({"job": "isolated"}) == []


def test_ray_is_refused_without_s3(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(RuntimeUnavailable, match="MODELBAY_S3_ENDPOINT_URL"):
        open_runtime(replace(settings, s3_endpoint_url=None), tmp_path / "state")


def test_another_server_of_the_deployment_adopts_a_running_instance(settings: Settings, tmp_path: Path) -> None:
    """A leader fails over: the next one (another data directory, the same database) finds the instance by its
    labels, with its opt_ml under its own data directory, its whole log, and the files it wrote before and after."""
    leader = replace(settings, data_dir=tmp_path / "a", database_url=DATABASE.format(password="a"))
    next_leader = replace(settings, data_dir=tmp_path / "b", database_url=DATABASE.format(password="b"))
    first = RayRuntime(leader, tmp_path / "a/runtime")
    try:
        started = first.start(python_spec(tmp_path / "a/jobs/j/algo-1", """
            import pathlib, signal, sys, time
            model = pathlib.Path("/opt/ml/model")
            def end(*_):
                (model / "final").write_text("bye")
                print("done", flush=True)
                sys.exit(0)
            signal.signal(signal.SIGTERM, end)
            (model / "early").write_text("hi")
            print("up", flush=True)
            time.sleep(300)
        """), {"job": "adopted"})
        wait_until(lambda: (tmp_path / "a/jobs/j/algo-1/model/early").exists(), 30, "the first file at the leader")
    finally:
        first.close()  # the leader dies; its instance runs on
    second = RayRuntime(next_leader, tmp_path / "b/runtime", idle_s=3)
    try:
        assert not second.polling and list((tmp_path / "b/runtime").iterdir()) == []  # a follower: nothing done
        [adopted] = second.list({"job": "adopted"})
        assert second.polling
        opt_ml = tmp_path / "b/jobs/j/algo-1"
        assert (adopted.id, adopted.node, adopted.opt_ml, adopted.is_alive) == (started.id, started.node, opt_ml, True)
        wait_until(lambda: second.inspect(adopted.id) and (opt_ml / "model/early").exists(), 30,
                   "the file written before the fail-over")
        second.stop(adopted.id, grace_s=10)
        ended = wait_ended(second, adopted.id, timeout_s=30)
        assert ended.status is InstanceStatus.STOPPED
        assert (opt_ml / "model/early").read_text() == "hi" and (opt_ml / "model/final").read_text() == "bye"
        assert second.logs(adopted.id).read_text().split() == ["up", "done"]
        wait_until(lambda: not second.polling, 10, "polling to pause once the runtime is not used")
        second.remove(adopted.id)
        assert second.polling  # used again
    finally:
        stop_all(second, grace_s=0)
        second.close()


def test_the_servers_of_one_deployment_share_its_owner_key(tmp_path: Path) -> None:
    one = Settings(data_dir=tmp_path / "a", database_url=DATABASE.format(password="a"))
    assert deployment_key(one) == deployment_key(replace(one, data_dir=tmp_path / "b",
                                                         database_url=DATABASE.format(password="b")))
    assert deployment_key(one) != deployment_key(replace(one, database_schema="modelbay_eu_west_1"))  # a region
    assert deployment_key(one) != deployment_key(replace(one, database_url="postgresql://db.internal/other"))
    assert deployment_key(Settings(data_dir=tmp_path / "a")) != deployment_key(Settings(data_dir=tmp_path / "b"))
