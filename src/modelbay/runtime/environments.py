"""Framework environments: the process runtime's realisation of a framework image.

Each recipe becomes one virtual environment, built once in the cache directory (per user by
default, see Settings.environments_dir) and shared by every job, data directory and server using
it: `<framework>-<version>-py311-<hash>`, the hash covering the pinned requirements, so a changed
recipe builds anew. A build holds the environment's exclusive lock (a file lock, so it holds across
processes) and marks the environment complete last, so a crashed build is redone and two servers
never build the same environment at once. The cache's layout is in modelbay/environment_cache.py.

An instance never runs in the shared environment itself: it gets a thin layer, a venv of its own
whose `.pth` file puts the framework's packages and the training toolkit on its path. What the
user's `requirements.txt` installs lands in the layer, so one job cannot change another's packages.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import venv
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from modelbay.environment_cache import BUILT_MARKER, TOOLKIT_PREFIX, environment_lock, environment_name, mark_layer
from modelbay.runtime.frameworks import Recipe

_PIP_TAIL_CHARS = 1500
_PY = f"py{sys.version_info.major}{sys.version_info.minor}"


class EnvironmentBuildError(Exception):
    """A framework environment could not be built; str() says why, with pip's own last words."""


class FrameworkEnvironments:
    """The cache of built framework environments under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()  # layers' .pth files name it, and they are read from elsewhere

    def path(self, recipe: Recipe) -> Path:
        return self.root / environment_name(recipe.framework, recipe.version, _PY, recipe.requirements)

    def is_built(self, recipe: Recipe) -> bool:
        return (self.path(recipe) / BUILT_MARKER).is_file()

    def ensure(self, recipe: Recipe, progress: Callable[[str], object] = lambda _: None) -> Path:
        """The recipe's environment, built first if it is not yet; `progress` hears of a build."""
        target = self.path(recipe)
        if self.is_built(recipe):
            return target
        with environment_lock(target):  # a concurrent builder, in this process or another, finishes first
            if not self.is_built(recipe):
                progress(f"Building the {recipe.label} framework environment (first use; cached afterwards)")
                _build(recipe, target)
        return target

    def layer(self, recipe: Recipe, target: Path) -> Path:
        """A venv at `target` that sees the recipe's packages and the toolkit; returns its python."""
        shutil.rmtree(target, ignore_errors=True)
        venv.EnvBuilder(with_pip=False, symlinks=True).create(target)
        # addsitedir, not a plain path line, so the framework's own .pth files are honoured too
        environment, toolkit = self.path(recipe), toolkit_dir(self.root)
        lines = [f"import site; site.addsitedir({str(_site_packages(environment))!r})", str(toolkit)]
        (_site_packages(target) / "modelbay-framework.pth").write_text("".join(f"{line}\n" for line in lines))
        mark_layer(target, [environment, toolkit])
        return target / "bin" / "python"


def _build(recipe: Recipe, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    venv.EnvBuilder(with_pip=True, symlinks=True).create(target)
    if recipe.requirements:
        command = [str(target / "bin" / "python"), "-m", "pip", "install", "--no-input",
                   "--disable-pip-version-check", *recipe.requirements]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            raise EnvironmentBuildError(f"could not build the {recipe.label} framework environment: pip install "
                                        f"{' '.join(recipe.requirements)} failed: "
                                        f"{(done.stderr or done.stdout)[-_PIP_TAIL_CHARS:].strip()}")
    record = {"framework": recipe.framework, "version": recipe.version, "requirements": list(recipe.requirements),
              "built_at": datetime.now(UTC).isoformat()}
    (target / BUILT_MARKER).write_text(json.dumps(record, indent=2) + "\n")


def _site_packages(environment: Path) -> Path:
    relative = Path(sysconfig.get_path("purelib")).relative_to(sysconfig.get_path("data"))
    return environment / relative


def toolkit_dir(root: Path) -> Path:
    """A copy of the in-instance toolkit (`modelbay.container`) that framework environments import.

    Content-addressed, so instances of a newer server never see an older toolkit, and written
    whole before it is renamed into place.
    """
    spec = importlib.util.find_spec("modelbay.container")
    assert spec is not None and spec.origin is not None, "modelbay.container is part of this package"
    package = Path(spec.origin).parent
    sources = sorted(p.relative_to(package) for p in package.rglob("*.py"))  # its subpackages too
    digest = hashlib.sha256(b"".join(p.as_posix().encode() + (package / p).read_bytes()
                                     for p in sources)).hexdigest()[:12]
    target = root / f"{TOOLKIT_PREFIX}{digest}"
    if not target.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=root, prefix=".toolkit-"))
        (staging / "modelbay" / "container").mkdir(parents=True)
        shutil.copy(package.parent / "__init__.py", staging / "modelbay" / "__init__.py")
        for source in sources:
            (staging / "modelbay" / "container" / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(package / source, staging / "modelbay" / "container" / source)
        try:
            os.rename(staging, target)
        except OSError:  # another server put the same toolkit there first
            shutil.rmtree(staging, ignore_errors=True)
    return target
