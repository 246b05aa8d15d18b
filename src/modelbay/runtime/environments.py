"""Framework environments: the process runtime's realisation of a framework image.

Each recipe becomes one virtual environment, built once under the cache directory and shared
by every job (and every server pointed at the same directory): `<framework>-<version>-py311-<hash>`,
the hash covering the pinned requirements, so a changed recipe builds anew. A build holds an
exclusive lock and marks the environment complete last, so a crashed build is redone and two
servers never build the same environment at once.

An instance never runs in the shared environment itself: it gets a thin layer, a venv of its own
whose `.pth` file puts the framework's packages and the training toolkit on its path. What the
user's `requirements.txt` installs lands in the layer, so one job cannot change another's packages.
"""

from __future__ import annotations

import fcntl
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

from modelbay.runtime.frameworks import Recipe

_PIP_TAIL_CHARS = 1500
_COMPLETE = "modelbay-environment.json"
_PY = f"py{sys.version_info.major}{sys.version_info.minor}"


class EnvironmentBuildError(Exception):
    """A framework environment could not be built; str() says why, with pip's own last words."""


class FrameworkEnvironments:
    """The cache of built framework environments under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, recipe: Recipe) -> Path:
        digest = hashlib.sha256("\n".join(recipe.requirements).encode()).hexdigest()[:10]
        version = f"-{recipe.version}" if recipe.version else ""
        return self.root / f"{recipe.framework}{version}-{_PY}-{digest}"

    def is_built(self, recipe: Recipe) -> bool:
        return (self.path(recipe) / _COMPLETE).is_file()

    def ensure(self, recipe: Recipe, progress: Callable[[str], object] = lambda _: None) -> Path:
        """The recipe's environment, built first if it is not yet; `progress` hears of a build."""
        target = self.path(recipe)
        if self.is_built(recipe):
            return target
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{target.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent builder finishes first, then we find it built
            if not self.is_built(recipe):
                progress(f"Building the {recipe.label} framework environment (first use; cached afterwards)")
                _build(recipe, target)
        return target

    def layer(self, recipe: Recipe, target: Path) -> Path:
        """A venv at `target` that sees the recipe's packages and the toolkit; returns its python."""
        shutil.rmtree(target, ignore_errors=True)
        venv.EnvBuilder(with_pip=False, symlinks=True).create(target)
        # addsitedir, not a plain path line, so the framework's own .pth files are honoured too
        framework = str(_site_packages(self.path(recipe)))
        lines = [f"import site; site.addsitedir({framework!r})", str(toolkit_dir(self.root))]
        (_site_packages(target) / "modelbay-framework.pth").write_text("".join(f"{line}\n" for line in lines))
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
    (target / _COMPLETE).write_text(json.dumps(record, indent=2) + "\n")


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
    sources = sorted(package.glob("*.py"))
    digest = hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in sources)).hexdigest()[:12]
    target = root / f"toolkit-{digest}"
    if not target.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=root, prefix=".toolkit-"))
        (staging / "modelbay" / "container").mkdir(parents=True)
        shutil.copy(package.parent / "__init__.py", staging / "modelbay" / "__init__.py")
        for source in sources:
            shutil.copy(source, staging / "modelbay" / "container" / source.name)
        try:
            os.rename(staging, target)
        except OSError:  # another server put the same toolkit there first
            shutil.rmtree(staging, ignore_errors=True)
    return target
