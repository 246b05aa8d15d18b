"""Framework environments: built once under a lock, layered per instance (which marks what it uses), a failed
build said plainly."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from modelbay.environment_cache import cache_entries
from modelbay.runtime.environments import EnvironmentBuildError, FrameworkEnvironments, toolkit_dir
from modelbay.runtime.frameworks import Recipe

BARE = Recipe("python", "", ())


def test_concurrent_ensures_build_once_and_layers_see_the_toolkit(tmp_path: Path) -> None:
    environments = FrameworkEnvironments(tmp_path / "cache")
    heard: list[str] = []
    threads = [threading.Thread(target=environments.ensure, args=(BARE, heard.append)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert heard == ["Building the python framework environment (first use; cached afterwards)"]
    assert environments.is_built(BARE)
    python = environments.layer(BARE, tmp_path / "layer")
    probe = "import modelbay.container.train, pip, sys; print(sys.prefix, flush=True); sys.stdin.read()"
    with subprocess.Popen([str(python), "-c", probe], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as run:
        assert run.stdout is not None and run.stdin is not None
        assert run.stdout.readline().strip() == str(tmp_path / "layer")  # pip installs into the layer, not the env
        in_use = {entry.path: entry.in_use for entry in cache_entries(tmp_path / "cache")}
        run.stdin.close()  # the instance ends
    assert in_use == {environments.path(BARE): True, toolkit_dir(tmp_path / "cache"): True}
    assert not any(entry.in_use for entry in cache_entries(tmp_path / "cache"))


def test_a_failed_build_says_why_and_leaves_nothing_half_built(tmp_path: Path) -> None:
    environments = FrameworkEnvironments(tmp_path)
    broken = Recipe("python", "9", (str(tmp_path / "no-such-package.whl"),))
    with pytest.raises(EnvironmentBuildError, match="could not build the python 9 framework environment"):
        environments.ensure(broken)
    assert not environments.path(broken).exists() and not environments.is_built(broken)


def test_the_toolkit_copy_is_content_addressed(tmp_path: Path) -> None:
    first = toolkit_dir(tmp_path)
    assert toolkit_dir(tmp_path) == first
    assert (first / "modelbay" / "container" / "train.py").is_file()
    assert (first / "modelbay" / "container" / "model_monitor" / "__main__.py").is_file()  # subpackages too
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no staging leftovers
