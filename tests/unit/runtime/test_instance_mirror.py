"""InstanceMirror over the local object store: the staged directory to a node, the instance's new and changed files
(input/ excepted) back to the server."""

from __future__ import annotations

from pathlib import Path

from modelbay.runtime.instance_mirror import InstanceMirror, snapshot
from modelbay.store.objects import LocalObjectStore
from modelbay.store.objects.internal import INTERNAL_BUCKET


def test_a_directory_goes_to_the_node_and_its_outputs_come_back(tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects")
    mirror = InstanceMirror(objects, "i-1", "us-east-1")
    server, node = tmp_path / "server", tmp_path / "node"
    (server / "input/data").mkdir(parents=True)
    (server / "input/data/x.csv").write_text("1,2\n")
    (server / "code").mkdir()
    (server / "code/train.py").write_text("print(1)\n")
    mirror.upload_start(server)
    mirror.download_start(node)
    assert (node / "input/data/x.csv").read_text() == "1,2\n"
    assert (node / "code/train.py").read_text() == "print(1)\n"

    synced = snapshot(node)  # what the node started with
    (node / "model").mkdir()
    (node / "model/weights").write_bytes(b"w1")
    (node / "input/data/scratch").write_text("not an output")
    changed, synced = mirror.upload_outputs(node, synced)
    assert changed == ["model/weights"]
    assert mirror.upload_outputs(node, synced)[0] == []  # nothing new since
    (node / "model/weights").write_bytes(b"w2 longer")
    changed, synced = mirror.upload_outputs(node, synced)
    assert changed == ["model/weights"]

    mirror.download_outputs(changed, server)
    assert (server / "model/weights").read_bytes() == b"w2 longer"
    mirror.delete()
    assert objects.list(INTERNAL_BUCKET, "cluster/").objects == []

