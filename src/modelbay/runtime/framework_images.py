"""Framework images: the container runtime's realisation of a framework recipe, as OCI images built here.

`FrameworkImages.ensure(recipe)` builds `localhost/modelbay/<framework>:<version>-<hash>` with `podman build`
FROM the Debian base image (base_images.py): Debian's python3 with a venv (Debian 12 refuses system-wide pip)
holding the recipe's pinned requirements, the in-instance toolkit importable, `train` and `serve` on the PATH
running `python -m modelbay.container.train|serve`, and `python`, `python3` and `pip` the venv's: what a
framework environment is for the process runtime, so a framework job runs the same way under either. The hash
covers the requirements, the toolkit and the build recipe, so a changed one builds anew. Images live in podman's
store, shared by every server of the machine, and are built once, under a file lock.

pip in the build reaches the package indexes this machine's pip uses (`pip config list`: index URLs, find-links,
constraints), with local ones and the host's CA bundle mounted under BUILD_MOUNTS for the build only, never baked
into the image.
"""

from __future__ import annotations

import hashlib
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from modelbay.base_images import REPOSITORY, debian_codename, debian_image
from modelbay.podman_engine import PodmanError, ensure_image, podman
from modelbay.runtime.environments import EnvironmentBuildError, toolkit_dir
from modelbay.runtime.frameworks import Recipe

VENV = "/opt/modelbay/venv"
TOOLKIT = "/opt/modelbay/toolkit"  # holds modelbay/container, put on the venv's path by a .pth file
BUILD_MOUNTS = "/run/modelbay-build"  # what a build sees of the host, mounted for the build only
HOST_CA = f"{BUILD_MOUNTS}/ca.crt"
HOST_PIP_CONF = f"{BUILD_MOUNTS}/pip.conf"
DEFAULT_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# What of the host's pip configuration a build carries over; the rest (caches, user options) stays here.
_PIP_KEYS = ("index-url", "extra-index-url", "find-links", "constraint", "trusted-host", "no-index", "timeout",
             "default-timeout", "retries")
_INDEX_KEYS = ("index-url", "extra-index-url")  # a local index's pages link to files beside it: its parent is seen
_BUILD_TIMEOUT_S = 3600

CONTAINERFILE = f"""\
FROM {{base}}
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \\
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv {VENV}
COPY modelbay {TOOLKIT}/modelbay
RUN echo {TOOLKIT} > "$({VENV}/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/modelbay.pth" \\
    && printf '#!/bin/sh\\nexec python -m modelbay.container.train "$@"\\n' > /usr/local/bin/train \\
    && printf '#!/bin/sh\\nexec python -m modelbay.container.serve "$@"\\n' > /usr/local/bin/serve \\
    && chmod 755 /usr/local/bin/train /usr/local/bin/serve
{{install}}ENV PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    MODELBAY_FRAMEWORK={{framework}}
WORKDIR /opt/ml
LABEL org.opencontainers.image.title="modelbay {{label}}" modelbay.framework={{framework}}
CMD ["/bin/bash"]
"""


@dataclass(frozen=True)
class PipConfig:
    """The options a build's pip gets, as pip.conf text, and the host paths they name (mounted read-only)."""

    text: str
    paths: tuple[Path, ...]
    ca_bundle: Path | None


class FrameworkImages:
    """Framework recipes as OCI images in podman's store; `config_dir` is podman's configuration of ours."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir

    def reference(self, recipe: Recipe) -> str:
        """`localhost/modelbay/sklearn:1.2-1-<hash>`: quick, builds nothing."""
        return f"{REPOSITORY}/{recipe.framework}:{recipe.version or 'latest'}-{self._digest(recipe)}"

    def ensure(self, recipe: Recipe, progress: Callable[[str], object] = lambda _: None) -> str:
        """The recipe's image, built first if this machine lacks it; `progress` hears of a build.
        Raises EnvironmentBuildError saying why a build failed."""
        reference = self.reference(recipe)

        def build() -> None:
            progress(f"Building the {recipe.label} framework image (first use; cached afterwards)")
            self._build(recipe, reference)
        try:
            return ensure_image(reference, self.config_dir, build)
        except PodmanError as error:
            raise EnvironmentBuildError(f"could not build the {recipe.label} framework image: {error}") from error

    def _build(self, recipe: Recipe, reference: str) -> None:
        base = debian_image(self.config_dir)
        pip = host_pip_config()
        with tempfile.TemporaryDirectory(prefix="modelbay-image-") as work:
            containerfile, pip_conf = Path(work) / "Containerfile", Path(work) / "pip.conf"
            containerfile.write_text(_containerfile(recipe, base))
            pip_conf.write_text(pip.text)
            mounts = [f"{pip_conf}:{HOST_PIP_CONF}:ro", *(f"{path}:{BUILD_MOUNTS}{path}:ro" for path in pip.paths)]
            mounts += [f"{pip.ca_bundle}:{HOST_CA}:ro"] if pip.ca_bundle else []
            argv = ["build", "--quiet", "--tag", reference, "--file", str(containerfile), "--layers=false",
                    *(arg for mount in mounts for arg in ("--volume", mount)), str(toolkit_dir(self.config_dir))]
            podman(argv, self.config_dir, timeout_s=_BUILD_TIMEOUT_S)

    def _digest(self, recipe: Recipe) -> str:
        """Over what the image holds: the Debian release, the build recipe with the requirements, and the toolkit
        (named by its own hash)."""
        text = "\n".join((_containerfile(recipe, debian_codename()), toolkit_dir(self.config_dir).name))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _containerfile(recipe: Recipe, base: str) -> str:
    install = (f"RUN PIP_CONFIG_FILE={HOST_PIP_CONF} {VENV}/bin/pip install --no-input --no-cache-dir "
               f"--disable-pip-version-check {' '.join(map(shlex.quote, recipe.requirements))}\n"
               if recipe.requirements else "")
    return CONTAINERFILE.format(base=base, install=install, framework=recipe.framework, label=recipe.label)


def host_pip_config(pip: Sequence[str] = (sys.executable, "-m", "pip")) -> PipConfig:
    """What this machine's pip is configured with (files and PIP_* variables, as `pip config list` shows them),
    for a build: local indexes, find-links and constraints are mounted under BUILD_MOUNTS (an index with the
    directory holding it, where its pages' links lead), and the CA bundle at HOST_CA."""
    try:
        listed = subprocess.run([*pip, "config", "list"], capture_output=True, text=True,
                                check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise PodmanError(f"could not read this machine's pip configuration: {error}") from error
    options = parse_pip_config(listed)
    ca_bundle = Path(options.pop("cert", DEFAULT_CA_BUNDLE))
    lines, mounts = [], set()
    for key, value in sorted(options.items()):
        if key in _PIP_KEYS:
            items = [(item, _local_path(item)) for item in value.split()]
            mounts |= {path.parent if key in _INDEX_KEYS else path for _, path in items if path is not None}
            lines.append(f"{key} = {' '.join(item if path is None else _moved(item, path) for item, path in items)}")
    lines += [f"cert = {HOST_CA}"] if ca_bundle.is_file() else []
    return PipConfig("[global]\n" + "".join(f"{line}\n" for line in lines), tuple(sorted(mounts)),
                     ca_bundle if ca_bundle.is_file() else None)


def parse_pip_config(listed: str) -> dict[str, str]:
    """`global.index-url='https://…'` lines → {"index-url": "https://…"}; a later line wins, as PIP_* variables
    (listed last, as `:env:.<key>`) win over files."""
    options: dict[str, str] = {}
    for line in listed.splitlines():
        name, equals, value = line.partition("=")
        if equals and "." in name:
            options[name.split(".", 1)[1].strip()] = value.strip().strip("'\"")
    return options


def _local_path(item: str) -> Path | None:
    """The existing local file or directory a URL or path names; None for a remote one."""
    path = Path(urlsplit(item).path) if item.startswith("file://") else Path(item) if item.startswith("/") else None
    return path if path is not None and path.exists() else None


def _moved(item: str, path: Path) -> str:
    """A local URL or path as the build sees it, under BUILD_MOUNTS."""
    return item.replace(str(path), f"{BUILD_MOUNTS}{path}", 1)
