"""Framework images: the container runtime's realisation of a framework recipe, as OCI images built here.

`FrameworkImages.ensure(recipe)` builds `localhost/modelbay/<framework>:<version>-<hash>` with `podman build`
FROM the Debian base image (base_images.py): Debian's python3 with a venv (Debian 12 refuses system-wide pip)
holding the recipe's pinned requirements, the in-instance toolkit importable, `train` and `serve` on the PATH
running `python -m modelbay.container.train|serve`, and `python`, `python3` and `pip` the venv's: what a
framework environment is for the process runtime, so a framework job runs the same way under either (a recipe's
entrypoint_module is the image's ENTRYPOINT, as the process runtime runs it for a job with no entrypoint). The hash
covers the requirements, the toolkit and the build recipe, so a changed one builds anew. Images live in podman's
store, shared by every server of the machine, and are built once, under a file lock.

pip in the build reaches the package indexes this machine's pip uses, trusting its CA bundle (pip_in_builds.py).
"""

from __future__ import annotations

import hashlib
import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path

from modelbay.base_images import REPOSITORY, debian_codename, debian_image
from modelbay.pip_in_builds import PipConfigError, pip_volumes
from modelbay.podman_engine import PodmanError, ensure_image, podman
from modelbay.runtime.environments import EnvironmentBuildError, toolkit_dir
from modelbay.runtime.frameworks import Recipe

VENV = "/opt/modelbay/venv"
TOOLKIT = "/opt/modelbay/toolkit"  # holds modelbay/container, put on the venv's path by a .pth file
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
{{command}}
"""


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
        except (PodmanError, PipConfigError) as error:
            raise EnvironmentBuildError(f"could not build the {recipe.label} framework image: {error}") from error

    def _build(self, recipe: Recipe, reference: str) -> None:
        base = debian_image(self.config_dir)
        with tempfile.TemporaryDirectory(prefix="modelbay-image-") as work:
            containerfile = Path(work) / "Containerfile"
            containerfile.write_text(_containerfile(recipe, base))
            argv = ["build", "--quiet", "--tag", reference, "--file", str(containerfile), "--layers=false",
                    *pip_volumes(Path(work)), str(toolkit_dir(self.config_dir))]
            podman(argv, self.config_dir, timeout_s=_BUILD_TIMEOUT_S)

    def _digest(self, recipe: Recipe) -> str:
        """Over what the image holds: the Debian release, the build recipe with the requirements, and the toolkit
        (named by its own hash)."""
        text = "\n".join((_containerfile(recipe, debian_codename()), toolkit_dir(self.config_dir).name))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _containerfile(recipe: Recipe, base: str) -> str:
    install = (f"RUN {VENV}/bin/pip install --no-input --no-cache-dir "
               f"--disable-pip-version-check {' '.join(map(shlex.quote, recipe.requirements))}\n"
               if recipe.requirements else "")
    return CONTAINERFILE.format(base=base, install=install, framework=recipe.framework, label=recipe.label,
                                command=_command(recipe))


def _command(recipe: Recipe) -> str:
    """What the image runs: its recipe's own program, given the container's arguments, else a shell."""
    if recipe.entrypoint_module is None:
        return 'CMD ["/bin/bash"]'
    return f'ENTRYPOINT ["python", "-m", "{recipe.entrypoint_module}"]\nCMD []'
