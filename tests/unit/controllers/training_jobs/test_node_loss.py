"""A training job's host lost with its cluster node: the job fails naming the node, or, on managed spot training,
is interrupted and resumes from its checkpoints on the nodes that remain (the real ProcessRuntime, its instances
said to run on nodes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay.controllers.images import Images
from modelbay.runtime.base import stop_all
from modelbay.statuses import SecondaryStatus
from tests.helpers import wait_until
from tests.unit.controllers.cluster_nodes import NodesRuntime, lost_reason
from tests.unit.controllers.training_jobs.test_controller import create, image, run, start
from tests.unit.controllers.training_jobs.test_spot import _log, spot, spot_controller

# Counts epochs 1..3 in its checkpoint directory, a second each, from the last one checkpointed.
EPOCHS = ('e=$(cat "$SM_CHECKPOINT_DIR/epoch" 2>/dev/null || echo 0)\necho "resumed at epoch $e"\n'
          'while [ "$e" -lt 3 ]; do sleep 1; e=$((e+1)); echo "$e" > "$SM_CHECKPOINT_DIR/epoch"; done\n'
          'echo done > "$SM_MODEL_DIR/model.txt"\n')


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[NodesRuntime]:
    runtime = NodesRuntime(tmp_path / "runtime", ["node-a", "node-b", "node-c"])
    yield runtime
    stop_all(runtime, grace_s=0)


def test_a_host_lost_with_its_node_fails_the_job_naming_the_node(tmp_path: Path, nodes: NodesRuntime,
                                                                 images: Images) -> None:
    controller = spot_controller(tmp_path, nodes, images)
    create(controller.platform, "dist", image(tmp_path, "sleep 30\n"), count=2)
    placed = {i.labels["host"]: i.node for i in start(controller, "dist")}
    assert placed == {"algo-1": "node-a", "algo-2": "node-b"}
    nodes.lose("node-b")
    job = run(controller, "dist")
    assert (job.status, job.secondary_status) == ("Failed", "Failed")
    assert job.failure_reason == (
        f"InternalServerError: host algo-2 of the training job was lost: {lost_reason('node-b')}")
    assert nodes.list({"training-job": "dist"}) == []  # algo-1 was stopped, then both removed


@pytest.mark.parametrize("count", [1, 2], ids=["alone", "beside-a-survivor"])
def test_a_spot_job_that_lost_a_node_is_interrupted_and_resumes_at_once_on_the_others(
        tmp_path: Path, nodes: NodesRuntime, images: Images, count: int) -> None:
    """A single host ends with its node (the pass that finds it ended interrupts the job); of two, the survivor is
    stopped by the pass that finds the loss. Capacity would take ten minutes to come back after a spot interruption:
    after a node loss the job starts again at once."""
    controller = spot_controller(tmp_path, nodes, images, spot_capacity_wait_s=600.0)
    create(controller.platform, "spot", image(tmp_path, EPOCHS), count=count, **spot())
    first = start(controller, "spot")
    checkpoint = tmp_path / "data/training/spot/algo-1/checkpoints/epoch"
    wait_until(lambda: checkpoint.is_file() and checkpoint.read_text().strip() != "0", 20, "epoch 1 checkpointed")
    nodes.lose("node-a")  # algo-1's
    job = run(controller, "spot")
    assert (job.status, job.interruptions) == ("Completed", 1), job.failure_reason
    interrupted = next(t for t in job.transitions if t.status is SecondaryStatus.INTERRUPTED)
    assert interrupted.message == (f"The job stopped because host algo-1 of the training job was lost: "
                                          f"{lost_reason('node-a')}.")
    assert [t.status for t in job.transitions] == [
        "Starting", "Downloading", "Training", "Interrupted", "Starting", "Downloading", "Training", "Uploading",
        "Completed"]
    assert interrupted.end_time is not None and (interrupted.end_time - interrupted.start_time).total_seconds() < 60
    resumed_on = [node for instance_id, node in nodes.placed.items() if instance_id not in {i.id for i in first}]
    assert len(resumed_on) == count and "node-a" not in resumed_on
    resumed = [line for line in _log(controller.platform, "spot") if line.startswith("resumed at")]
    assert len(resumed) == 2 * count and resumed.count("resumed at epoch 0") == count  # the second runs from epoch 1+
    with controller.platform.objects.open("out", "ckpt/job/epoch") as body:
        assert body.read() == b"3\n"
