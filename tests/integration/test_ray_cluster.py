"""A server on a real Ray cluster (MODELBAY_RUNTIME=ray): a head and two workers, each a `ray start` process of its own
with its own zone label and resources (tests/ray_cluster.py), objects in moto's S3, driven through boto3.

Where an instance runs is asked of Ray, in a process of its own (the test process stays free of Ray's driver): each
instance's actor answers the server's record of it (its labels) and the node Ray placed it on, whose zone tells the
nodes apart. The cluster shares this machine: its resources are Ray's counts to place by (8 CPUs a node, on 2 cores),
and a program reaches the test on the loopback. Its nodes check each other's health every half second, so a lost
node is known within seconds (Ray's defaults take about half a minute).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import client, ray_backends
from tests.helpers import ServerProcess, free_port, modelbay_server, serve_image, serve_program, wait_until
from tests.integration.test_training_frameworks import PYTORCH_DDP_SCRIPT, log_lines, metric, model_files, train
from tests.integration.test_training_jobs import program
from tests.ray_cluster import NodeSpec, RayCluster

GIB = 1024**3
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
NODES = [NodeSpec(ZONES[0], cpus=8, memory=40 * GIB),  # the head
         NodeSpec(ZONES[1], cpus=8, memory=36 * GIB, resources={"scratch-ssd": 1}),
         NodeSpec(ZONES[2], cpus=8, memory=32 * GIB)]
LOST_WORKER = 2  # the node a test loses: a worker (the head holds the cluster's state)
FAST_HEALTH_CHECKS = {"RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "1000",
                      "RAY_health_check_failure_threshold": "3"}
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
DONE = ("Completed", "Failed", "Stopped")
# Where each instance of the cluster runs: [its labels, its node's zone], as Ray tells it.
PLACEMENTS = """
import json, sys, ray
ray.init(address=sys.argv[1], namespace="modelbay", logging_level="ERROR", log_to_driver=False)
zones = {node["NodeID"]: node["Labels"].get("zone") for node in ray.nodes()}
found = []
for name in ray.util.list_named_actors():
    if name.startswith("instance-"):
        try:
            record = ray.get(ray.get_actor(name).recorded.remote(), timeout=10)
        except Exception:  # ended meanwhile, or on a lost node
            continue
        if record:  # empty while the instance starts
            found.append([record["labels"], zones.get(record["node_id"])])
print("placements:", json.dumps(found))  # Ray may print lines of its own about lost nodes
"""
# A program goes on once the test listens on RELEASE_PORT (it has seen what it waited for): this fails until then.
RELEASED = 'socket.create_connection(("127.0.0.1", int(os.environ["RELEASE_PORT"])), timeout=1).close()'
# Python that holds a program until released; indented as the framework scripts are.
WAIT_FOR_RELEASE = f"""
    import os, socket, time
    while True:
        try:
            {RELEASED}
            break
        except OSError:
            time.sleep(0.1)
"""
# A model server answering with the zone its slot was given.
ZONED = serve_program(on_post='self.answer(os.environ["MODELBAY_ZONE"].encode())')
# A spot job's program: counts epochs in its checkpoint directory, a second each, from the last one checkpointed,
# until it has counted three and the test listens on RELEASE_PORT.
EPOCHS = f"""e=$(cat /opt/ml/checkpoints/epoch 2>/dev/null || echo 0)
echo "resumed at epoch $e"
until [ "$e" -ge 3 ] && {sys.executable} -c 'import os, socket; {RELEASED}' 2>/dev/null; do
    sleep 1; e=$((e+1)); echo "$e" > /opt/ml/checkpoints/epoch
done
echo done > /opt/ml/model/model.txt
"""


@dataclass
class Cluster:
    server: ServerProcess
    ray: RayCluster

    def client(self, service: str) -> Any:
        return client(self.server.url, service)

    def placed(self, label: str, value: str) -> list[tuple[dict[str, str], str]]:
        """The instances labelled `label`=`value`: their labels and their node's zone, by zone."""
        done = subprocess.run([sys.executable, "-c", PLACEMENTS, self.ray.address], capture_output=True, text=True,
                              timeout=120)
        answer = [line for line in done.stdout.splitlines() if line.startswith("placements: ")]
        assert done.returncode == 0 and answer, done.stdout[-3000:] + done.stderr[-3000:]
        found = json.loads(answer[0].removeprefix("placements: "))
        return sorted(((labels, zone) for labels, zone in found if labels.get(label) == value), key=lambda p: p[1])

    def zones_of(self, label: str, value: str) -> list[str]:
        """The zones of the nodes running the instances labelled `label`=`value`, sorted."""
        return [zone for _, zone in self.placed(label, value)]


@dataclass
class Load:
    """A client invoking an endpoint through the front door without pause, counting answers by zone and failures."""

    runtime: Any
    endpoint: str
    zones: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self.runtime.invoke_endpoint(EndpointName=self.endpoint, Body=b"1", ContentType="text/csv")
                zone = answer["Body"].read().decode()
                self.zones[zone] = self.zones.get(zone, 0) + 1
            except Exception as error:  # each failure is counted against the test
                self.failures.append(repr(error))

    def stop(self) -> None:
        self._stop.set()

    @property
    def answers(self) -> int:
        return sum(self.zones.values())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("ray-cluster")
    with ray_backends(root / "nodes", NODES, environ=dict(os.environ) | FAST_HEALTH_CHECKS) as (env, ray), \
            modelbay_server(root / "server", env) as server:
        yield Cluster(server, ray)


@pytest.fixture(scope="module")
def bucket(cluster: Cluster) -> str:
    """A bucket whose data/rows.csv holds y = 2x + 1 (label first)."""
    s3 = cluster.client("s3")
    s3.create_bucket(Bucket="ray-cluster")
    s3.put_object(Bucket="ray-cluster", Key="data/rows.csv",
                  Body="\n".join(f"{2 * x + 1},{x}" for x in range(50)).encode())
    return "ray-cluster"


def test_a_distributed_pytorch_job_trains_across_two_nodes(cluster: Cluster, bucket: str, unique: str) -> None:
    """Its hosts wait for the test's word before they train, so where they run is seen while they do."""
    port = free_port()
    with ThreadPoolExecutor(1) as pool:
        training = pool.submit(train, cluster.client("sagemaker"), cluster.client("s3"), bucket, unique,
                               "modelbay/pytorch:2.13.0", WAIT_FOR_RELEASE + PYTORCH_DDP_SCRIPT, {}, r"loss=([0-9.]+)",
                               count=2, environment={"RELEASE_PORT": str(port)})
        try:
            zones = wait_until(lambda: training.done() or _hosts_placed(cluster, unique, 2), 600, "both hosts to run")
        finally:
            with socket.create_server(("127.0.0.1", port)):  # the hosts connect: they go on
                job = training.result()
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert isinstance(zones, list) and len(set(zones)) == 2, zones
    for rank, host in enumerate(["algo-1", "algo-2"]):
        assert f"rank={rank} world=2 hosts_agree=True" in log_lines(cluster.server, unique, host)
    assert metric(job) < 0.01
    assert model_files(cluster.client("s3"), bucket, unique) == ["model.pth"]


def test_an_endpoint_spreads_over_the_nodes_and_heals_when_one_is_lost_under_load(
        cluster: Cluster, bucket: str, unique: str, tmp_path: Path) -> None:
    """Three instances, one a node; then a worker is lost while a client invokes and two 3-host jobs run, one on
    managed spot: the endpoint is back to three instances on the nodes left, no call failed but those in flight on the
    lost node, the plain job fails naming the node, the spot job resumes from its checkpoint and completes."""
    sagemaker = cluster.client("sagemaker")
    sagemaker.create_model(ModelName=unique, ExecutionRoleArn=ROLE,
                           PrimaryContainer={"Image": serve_image(tmp_path / "serve", ZONED)})
    sagemaker.create_endpoint_config(EndpointConfigName=unique, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": unique, "InstanceType": "ml.m5.large", "InitialInstanceCount": 3}])
    sagemaker.create_endpoint(EndpointName=unique, EndpointConfigName=unique)
    created = wait_until(lambda: _settled(sagemaker, unique), 120, "the endpoint to settle")
    assert isinstance(created, dict) and created["EndpointStatus"] == "InService", created.get("FailureReason")
    placed = cluster.placed("endpoint", unique)
    assert [zone for _, zone in placed] == list(ZONES) and all(labels["zone"] == zone for labels, zone in placed)
    runtime = client(cluster.server.url, "sagemaker-runtime")
    assert {runtime.invoke_endpoint(EndpointName=unique, Body=b"1")["Body"].read() for _ in range(30)} == {
        zone.encode() for zone in ZONES}  # each slot's own zone: where its node is

    plain, spot, release_port = f"{unique}-plain", f"{unique}-spot", free_port()
    _create_job(sagemaker, plain, program(tmp_path / "plain", "echo training\nsleep 300\n"), bucket)
    assert wait_until(lambda: _hosts_placed(cluster, plain, 3), 120, "the plain job's hosts to run") == list(ZONES)
    _create_job(sagemaker, spot, program(tmp_path / "spot", EPOCHS), bucket, EnableManagedSpotTraining=True,
                CheckpointConfig={"S3Uri": f"s3://{bucket}/checkpoints/{spot}"},
                StoppingCondition={"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 1200},
                Environment={"RELEASE_PORT": str(release_port)})
    assert wait_until(lambda: _hosts_placed(cluster, spot, 3), 120, "the spot job's hosts to run") == list(ZONES)
    s3 = cluster.client("s3")
    wait_until(lambda: _checkpointed_epoch(s3, bucket, spot) >= 1, 60, "a checkpoint in S3")

    load = Load(runtime, unique)
    invoking = threading.Thread(target=load.run)
    invoking.start()
    try:
        wait_until(lambda: load.answers > 20, 30, "the load to flow")
        cluster.ray.kill(LOST_WORKER)
        lost_zone = ZONES[LOST_WORKER]
        wait_until(lambda: _healed(cluster, unique, lost_zone), 120, "the endpoint to heal on the nodes left")
        answered = load.answers
        wait_until(lambda: load.answers > answered + 20, 30, "answers after the healing")
    finally:
        load.stop()
        invoking.join()
    # a call in flight on the lost node's model server when it died may fail (one client: one call); no other
    assert len(load.failures) <= 1, load.failures

    failed = _ended(sagemaker, plain)
    assert failed["TrainingJobStatus"] == "Failed"
    assert failed["FailureReason"].startswith("InternalServerError: host algo-"), failed["FailureReason"]
    assert "of the training job was lost: the node " in failed["FailureReason"]
    assert f", zone {lost_zone}) running it was lost" in failed["FailureReason"]

    with socket.create_server(("127.0.0.1", release_port)):  # the spot job may end now
        resumed = _ended(sagemaker, spot)
    assert resumed["TrainingJobStatus"] == "Completed", resumed.get("FailureReason")
    transitions = resumed["SecondaryStatusTransitions"]
    interruption, = [t for t in transitions if t["Status"] == "Interrupted"]
    assert interruption["StatusMessage"].endswith(f", zone {lost_zone}) running it was lost."), interruption
    assert [t["Status"] for t in transitions][-5:] == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert _checkpointed_epoch(s3, bucket, spot) >= 3
    resumed_at = [line for host in ("algo-1", "algo-2", "algo-3") for line in _all_log_lines(cluster, spot, host)
                  if line.startswith("resumed at epoch ")]
    # the first run's hosts began at 0 (the lost one's lines may be lost with it), the second's from the checkpoint
    from_checkpoint = [line for line in resumed_at if line != "resumed at epoch 0"]
    assert len(from_checkpoint) == 3 and resumed_at.count("resumed at epoch 0") >= 2, resumed_at


def _create_job(sagemaker: Any, name: str, image: str, bucket: str, **extra: Any) -> None:
    sagemaker.create_training_job(**{
        "TrainingJobName": name, "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 3, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600}} | extra)


def _settled(sagemaker: Any, endpoint: str) -> dict[str, Any] | None:
    described: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=endpoint)
    return described if described["EndpointStatus"] in ("InService", "Failed") else None


def _hosts_placed(cluster: Cluster, job: str, count: int) -> list[str] | None:
    """The zones of the job's hosts once all `count` run."""
    zones = cluster.zones_of("training-job", job)
    return zones if len(zones) == count else None


def _checkpointed_epoch(s3: Any, bucket: str, job: str) -> int:
    try:
        return int(s3.get_object(Bucket=bucket, Key=f"checkpoints/{job}/epoch")["Body"].read())
    except s3.exceptions.NoSuchKey:
        return 0


def _healed(cluster: Cluster, endpoint: str, lost_zone: str) -> bool:
    described = cluster.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    if described["EndpointStatus"] != "InService" or described["ProductionVariants"][0]["CurrentInstanceCount"] != 3:
        return False
    zones = cluster.zones_of("endpoint", endpoint)
    return len(zones) == 3 and lost_zone not in zones


def _ended(sagemaker: Any, job: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        described: dict[str, Any] = sagemaker.describe_training_job(TrainingJobName=job)
        return described if described["TrainingJobStatus"] in DONE else None
    found = wait_until(ended, 120, f"{job} to end")
    assert isinstance(found, dict)
    return found


def _all_log_lines(cluster: Cluster, job: str, host: str) -> list[str]:
    """The host's lines of every run of the job (a run a stream)."""
    logs = cluster.client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                        logStreamNamePrefix=f"{job}/{host}-")["logStreams"]
    return [event["message"] for stream in streams for event in logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream["logStreamName"],
        startFromHead=True)["events"]]
