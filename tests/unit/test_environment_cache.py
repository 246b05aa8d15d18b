"""The cache of framework environments as the CLI sees it: what it holds, sizes as du counts them, what a running
instance uses, and removal that spares a build in progress and anything that is not modelbay's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from modelbay.environment_cache import (
    BUILT_MARKER,
    cache_entries,
    environment_lock,
    mark_layer,
    paths_in_use,
    remove,
)
from tests.helpers import wait_until

BUILT, HALF_BUILT = "sklearn-1.2-1-py311-0123456789", "xgboost-3.0-5-py311-abcdefabcd"
BARE, TOOLKIT = "python-py311-e3b0c44298", "toolkit-0123456789ab"


def environment(root: Path, name: str, built: bool = True, size: int = 50_000) -> Path:
    path = root / name
    (path / "lib").mkdir(parents=True)
    (path / "lib" / "payload.bin").write_bytes(os.urandom(size))
    if built:
        (path / BUILT_MARKER).write_text("{}\n")
    return path


def du(path: Path) -> int:
    return int(subprocess.run(["du", "-s", "-B1", str(path)], capture_output=True, text=True, check=True)
               .stdout.split()[0])


def test_entries_name_their_image_state_and_size_as_du_counts_it(tmp_path: Path) -> None:
    built = environment(tmp_path, BUILT, size=300_000)
    os.link(built / "lib" / "payload.bin", built / "lib" / "same-payload.bin")  # counted once, as du does
    (built / "lib" / "python").symlink_to(sys.executable)  # the link, not what it points to
    environment(tmp_path, HALF_BUILT, built=False)
    environment(tmp_path, BARE)
    environment(tmp_path, TOOLKIT, built=False)
    (tmp_path / "notes").mkdir()  # not modelbay's: never listed, never removed
    (tmp_path / f"{BUILT}.lock").touch()
    entries = {entry.name: entry for entry in cache_entries(tmp_path)}
    assert [(e.image, e.state) for e in entries.values()] == [
        ("modelbay/python", "Built"), ("modelbay/sklearn:1.2-1", "Built"), ("", "Built"),
        ("modelbay/xgboost:3.0-5", "Incomplete")]
    assert {name: entry.size_bytes for name, entry in entries.items()} == {
        name: du(tmp_path / name) for name in entries}
    assert 300_000 < entries[BUILT].size_bytes < 2 * 300_000
    assert not any(entry.in_use for entry in entries.values())
    assert cache_entries(tmp_path / "absent") == []


def test_an_environment_being_built_is_said_so_and_not_removed(tmp_path: Path) -> None:
    path = environment(tmp_path, HALF_BUILT, built=False)
    with environment_lock(path):  # a builder (any process) holds it
        [entry] = cache_entries(tmp_path)
        assert entry.state == "Building"
        assert remove(entry) is False and path.is_dir()
    [entry] = cache_entries(tmp_path)
    assert entry.state == "Incomplete"
    assert remove(entry) is True and not path.exists()
    assert (tmp_path / f"{HALF_BUILT}.lock").exists()  # kept: another process may hold it open


def test_what_a_running_layer_names_is_in_use_until_it_ends(tmp_path: Path) -> None:
    used, unused = environment(tmp_path / "cache", BUILT), environment(tmp_path / "cache", BARE)
    layer = tmp_path / "data" / "training" / "job" / "algo-1.env"
    (layer / "bin").mkdir(parents=True)
    (layer / "bin" / "python").symlink_to(sys.executable)
    mark_layer(layer, [used])
    with subprocess.Popen([str(layer / "bin" / "python"), "-c", "import sys; sys.stdin.read()"],
                          stdin=subprocess.PIPE) as instance:
        assert instance.stdin is not None
        # the child shows the layer's python in its command line once it has exec'd it, not at once
        wait_until(lambda: used.resolve() in paths_in_use(), timeout_s=10, what="the layer's python to run")
        entries = {entry.path: entry.in_use for entry in cache_entries(tmp_path / "cache")}
        instance.stdin.close()
    assert entries == {used: True, unused: False}
    assert used.resolve() not in paths_in_use()
