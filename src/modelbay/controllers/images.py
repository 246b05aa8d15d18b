"""Images: what an instance runs for a TrainingImage or a model container's Image.

An image runs in one of two roles, `train` or `serve` (as SageMaker starts a container with
that argument), or runs a processing job's ContainerEntrypoint (`entrypoint_command`). An image is one of:
- a built-in framework image (SageMaker's scikit-learn, XGBoost and PyTorch image URIs, or
  `modelbay/sklearn|xgboost|pytorch|python[:version]`): the toolkit's program for the role
  (`python -m modelbay.container.train|serve`) in an instance layer over the framework's environment;
- an image registered in modelbay's registry (ECR's part) whose manifest names a directory, or
  the absolute path of such a directory: its executable `train` or `serve` (bring your own).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from modelbay.runtime.environments import FrameworkEnvironments
from modelbay.runtime.frameworks import ECR_URI, Recipe, framework_image
from modelbay.store.metadata.images import DIRECTORY_MEDIA_TYPE, Image

# (repository, tag or digest) → the image registered under it, or None
Registry = Callable[[str, str], Image | None]
TOOLKIT_PACKAGE = "modelbay.container"
IMAGE_WARNING_VARIABLE = "MODELBAY_IMAGE_WARNING"  # the toolkit prints it at the top of the job's log
FRAMEWORK_VARIABLE = "MODELBAY_FRAMEWORK"  # which default handlers the model server uses
# The program's own words in a toolkit's reason (container/user_program.py): its stderr's tail
_ERROR_MESSAGE = re.compile(r'ErrorMessage "(?P<message>.*)"\nCommand ', re.DOTALL)


class UnknownImage(ValueError):
    """The image names nothing modelbay can run; the message says so for FailureReason."""


@dataclass(frozen=True)
class ImageProgram:
    """What an instance runs in `role`: a framework recipe's toolkit program, or a bring-your-own executable."""

    role: str  # "train" or "serve"
    recipe: Recipe | None = None
    executable: Path | None = None
    warning: str | None = None


class Images:
    """Resolves image names and readies what they need on this machine."""

    def __init__(self, environments: FrameworkEnvironments, registry: Registry = lambda _repo, _ref: None) -> None:
        self.environments, self.registry = environments, registry

    def resolve(self, image: str, role: str = "train") -> ImageProgram:
        """The program `image` runs in `role`; raise UnknownImage. Quick: builds nothing."""
        if resolution := framework_image(image):
            return ImageProgram(role, recipe=resolution.recipe, warning=resolution.warning)
        directory = self._registered(image) if ECR_URI.fullmatch(image) else Path(image)
        program = None if directory is None else directory / role
        if program is not None and program.is_absolute() and program.is_file() and os.access(program, os.X_OK):
            return ImageProgram(role, executable=program)
        raise UnknownImage(
            f"Image {image!r} is not an image modelbay can run: use a SageMaker scikit-learn, XGBoost or "
            "PyTorch image URI, modelbay/sklearn|xgboost|pytorch|python[:version], an image registered with "
            f"'modelbay images register', or the absolute path of a directory holding an executable '{role}'")

    def ready(self, program: ImageProgram, progress: Callable[[str], object]) -> None:
        """Build the program's framework environment if it is not yet (slow the first time)."""
        if program.recipe is not None:
            self.environments.ensure(program.recipe, progress)

    def command(self, program: ImageProgram, layer: Path) -> tuple[tuple[str, ...], dict[str, str]]:
        """The argv and extra environment of one instance; a framework instance gets its layer at `layer`."""
        if program.recipe is None:
            assert program.executable is not None
            return (str(program.executable),), {}
        python = self.environments.layer(program.recipe, layer)
        env = {FRAMEWORK_VARIABLE: program.recipe.framework}
        env |= {IMAGE_WARNING_VARIABLE: program.warning} if program.warning else {}
        return (str(python), "-m", f"{TOOLKIT_PACKAGE}.{program.role}"), env

    def entrypoint_command(self, program: ImageProgram, layer: Path,
                           entrypoint: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, str]]:
        """The argv and extra environment of an instance that runs a ContainerEntrypoint (a processing job's).

        As in the image, `python3`, `python` and `pip` on the PATH are the framework environment's (its layer
        at `layer`); a bring-your-own image's directory is on the PATH, and with no entrypoint its program runs.
        """
        if program.recipe is None:
            assert program.executable is not None
            bin_dir = program.executable.parent
            entrypoint = entrypoint or (str(program.executable),)
            env: dict[str, str] = {}
        elif not entrypoint:
            raise UnknownImage(f"The {program.recipe.label} image has no entrypoint of its own in modelbay: give "
                               "AppSpecification.ContainerEntrypoint (such as [\"python3\", \"<script>\"])")
        else:
            bin_dir = self.environments.layer(program.recipe, layer).parent
            (bin_dir / "pip").write_text('#!/bin/sh\nexec "$(dirname "$0")/python" -m pip "$@"\n')
            (bin_dir / "pip").chmod(0o755)
            env = {FRAMEWORK_VARIABLE: program.recipe.framework}
        path = os.pathsep.join(p for p in (str(bin_dir), os.environ.get("PATH", os.defpath)) if p)
        return entrypoint, env | {"PATH": path}

    def _registered(self, uri: str) -> Path | None:
        """The directory of the registered image `uri` names; UnknownImage for one only a container runtime runs."""
        match = ECR_URI.fullmatch(uri)
        assert match is not None
        image = self.registry(match["repository"], match["digest"] or match["tag"] or "latest")
        if image is None or image.media_type == DIRECTORY_MEDIA_TYPE:
            return None if image is None else Path(image.manifest["directory"])
        raise UnknownImage(f"TrainingImage {uri!r} is a container image ({image.media_type}); the process runtime "
                           "runs directory images only, container images need the container runtime")


def explain_failure(reason: str, images: Iterable[str]) -> str:
    """`reason` told of the images whose framework version was replaced by another: each replacement first (the
    likely cause of the failure), the program's last error line last, so that a reason cut to FailureReason's
    length (controllers.reasons.fit_reason, which keeps the head and the last lines) still shows both whole."""
    replaced = [resolution.warning for image in images
                if (resolution := framework_image(image)) is not None and resolution.warning is not None]
    if not replaced:
        return reason
    explained = " ".join(f"{warning}." for warning in replaced) + " " + reason.strip()
    last = last_error_line(reason)
    return explained if explained.endswith(last) else f"{explained}\n{last}"


def last_error_line(reason: str) -> str:
    """The last line a program printed, as a reason quotes it: its ErrorMessage's last line, else the reason's."""
    quoted = _ERROR_MESSAGE.search(reason)
    lines = [line.strip() for line in (quoted["message"] if quoted else reason).splitlines() if line.strip()]
    return lines[-1] if lines else ""
