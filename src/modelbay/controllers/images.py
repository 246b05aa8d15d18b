"""Images: what an instance runs for a TrainingImage or a model container's Image.

An image runs in one of two roles, `train` or `serve` (as SageMaker starts a container with
that argument), or runs a processing job's ContainerEntrypoint (`entrypoint_command`). An image is one of:
- a built-in framework image (SageMaker's scikit-learn, XGBoost and PyTorch image URIs, or
  `modelbay/sklearn|xgboost|pytorch|python[:version]`): the toolkit's program for the role
  (`python -m modelbay.container.train|serve`) in an instance layer over the framework's environment; Model
  Monitor's analyzer image (`sagemaker-model-monitor-analyzer`) is one whose processing jobs run its own program;
- an image registered in modelbay's registry (ECR's part) whose manifest names a directory, or
  the absolute path of such a directory: its executable `train` or `serve` (bring your own);
- under a runtime that runs images (`Runtime.runs_images`, given as `containers`), every image is an OCI image:
  a framework image is the one built from its recipe (runtime/framework_images.py) and an image pushed to the
  registry is loaded into podman's store (pushed_images.py); the instance runs `<image> train|serve`, so an
  image's ENTRYPOINT gets SageMaker's argument as on SageMaker. Directory images run on the process runtime only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from modelbay.controllers.pushed_images import PushedImageError, PushedImages, Registry, runnable_manifest
from modelbay.platform import Platform
from modelbay.runtime.environments import FrameworkEnvironments
from modelbay.runtime.framework_images import FrameworkImages
from modelbay.runtime.frameworks import ECR_URI, Recipe, framework_image
from modelbay.store.metadata.images import DIRECTORY_MEDIA_TYPE, Image

TOOLKIT_PACKAGE = "modelbay.container"
IMAGE_WARNING_VARIABLE = "MODELBAY_IMAGE_WARNING"  # the toolkit prints it at the top of the job's log
FRAMEWORK_VARIABLE = "MODELBAY_FRAMEWORK"  # which default handlers the model server uses
# The program's own words in a toolkit's reason (container/user_program.py): its stderr's tail
_ERROR_MESSAGE = re.compile(r'ErrorMessage "(?P<message>.*)"\nCommand ', re.DOTALL)
_FRAMEWORK_NAMES = ("a SageMaker scikit-learn, XGBoost or PyTorch image URI, "
                    "modelbay/sklearn|xgboost|pytorch|python[:version]")


class UnknownImage(ValueError):
    """The image names nothing modelbay can run; the message says so for FailureReason."""


@dataclass(frozen=True)
class ContainerImages:
    """Where a runtime that runs images gets them: framework images built here, pushed ones from the registry."""

    framework: FrameworkImages
    pushed: PushedImages


@dataclass(frozen=True)
class ImageProgram:
    """What an instance runs in `role`: a framework recipe's toolkit program, a bring-your-own executable, or
    (where the runtime runs images) the OCI image `reference`, a framework's or a `pushed` one."""

    role: str  # "train" or "serve"
    recipe: Recipe | None = None
    executable: Path | None = None
    warning: str | None = None
    pushed: Image | None = None  # the manifest of a pushed image that a container runs
    reference: str | None = None  # the OCI image the instance runs in; None: the host's files

    @property
    def directory(self) -> Path | None:
        """A bring-your-own directory image's directory (shown at /opt/program where it can be); else None."""
        return None if self.executable is None else self.executable.parent


class EntrypointCommand(NamedTuple):
    """How an instance runs a ContainerEntrypoint: `argv`, its extra `env`, and for an OCI image the `entrypoint`
    that replaces the image's (then `argv` holds the arguments; None keeps the image's ENTRYPOINT)."""

    argv: tuple[str, ...]
    env: dict[str, str]
    entrypoint: tuple[str, ...] | None = None


class Images:
    """Resolves image names and readies what they need on this machine; `containers` is given where the
    runtime runs OCI images."""

    def __init__(self, environments: FrameworkEnvironments, registry: Registry = lambda _repo, _ref: None,
                 containers: ContainerImages | None = None) -> None:
        self.environments, self.registry, self.containers = environments, registry, containers

    @property
    def runs_images(self) -> bool:
        """Whether instances run in OCI images (their own PATH and HOME), not on the host's files."""
        return self.containers is not None

    def resolve(self, image: str, role: str = "train") -> ImageProgram:
        """The program `image` runs in `role`; raise UnknownImage. Quick: builds nothing."""
        if resolution := framework_image(image):
            reference = None if self.containers is None else self.containers.framework.reference(resolution.recipe)
            return ImageProgram(role, recipe=resolution.recipe, warning=resolution.warning, reference=reference)
        if self.containers is not None:
            return self._container_image(image, role, self.containers)
        directory = self._registered(image) if ECR_URI.fullmatch(image) else Path(image)
        program = None if directory is None else directory / role
        if program is not None and program.is_absolute() and program.is_file() and os.access(program, os.X_OK):
            return ImageProgram(role, executable=program)
        raise UnknownImage(
            f"Image {image!r} is not an image modelbay can run: use {_FRAMEWORK_NAMES}, an image registered with "
            f"'modelbay images register', or the absolute path of a directory holding an executable '{role}'")

    def ready(self, program: ImageProgram, progress: Callable[[str], object]) -> None:
        """Build the program's framework environment or image, or load its pushed image, if this machine lacks it
        (slow the first time); raise EnvironmentBuildError, UnknownImage."""
        if self.containers is None:
            if program.recipe is not None:
                self.environments.ensure(program.recipe, progress)
        elif program.recipe is not None:
            self.containers.framework.ensure(program.recipe, progress)
        elif program.pushed is not None:
            try:
                self.containers.pushed.ensure(program.pushed)
            except PushedImageError as err:
                raise UnknownImage(str(err)) from err

    def command(self, program: ImageProgram, layer: Path) -> tuple[tuple[str, ...], dict[str, str]]:
        """The argv and extra environment of one instance; a framework instance gets its layer at `layer`. In an
        OCI image the argv is the role alone, as SageMaker runs `<image> train|serve`."""
        warning = {IMAGE_WARNING_VARIABLE: program.warning} if program.warning else {}
        if program.reference is not None:
            return (program.role,), warning
        if program.recipe is None:
            assert program.executable is not None
            return (str(program.executable),), {}
        python = self.environments.layer(program.recipe, layer)
        env = {FRAMEWORK_VARIABLE: program.recipe.framework} | warning
        return (str(python), "-m", f"{TOOLKIT_PACKAGE}.{program.role}"), env

    def entrypoint_command(self, program: ImageProgram, layer: Path, entrypoint: tuple[str, ...],
                           arguments: tuple[str, ...] = ()) -> EntrypointCommand:
        """How an instance runs a ContainerEntrypoint with its ContainerArguments (a processing job's).

        In an OCI image the entrypoint replaces the image's, or without one the image's own runs with the arguments.
        Otherwise, as in the image, `python3`, `python` and `pip` on the PATH are the framework environment's (its
        layer at `layer`); a bring-your-own image's directory is on the PATH, and with no entrypoint its program runs,
        as does a framework image's own program (its recipe's entrypoint_module, such as Model Monitor's analyzer).
        """
        if program.recipe is not None and not entrypoint and program.recipe.entrypoint_module is None:
            raise UnknownImage(f"The {program.recipe.label} image has no entrypoint of its own in modelbay: give "
                               "AppSpecification.ContainerEntrypoint (such as [\"python3\", \"<script>\"])")
        if program.reference is not None:
            return EntrypointCommand(arguments, {}, entrypoint or None)
        if program.recipe is None:
            assert program.executable is not None
            bin_dir = program.executable.parent
            entrypoint = entrypoint or (str(program.executable),)
            env: dict[str, str] = {}
        else:
            python = self.environments.layer(program.recipe, layer)
            bin_dir = python.parent
            (bin_dir / "pip").write_text('#!/bin/sh\nexec "$(dirname "$0")/python" -m pip "$@"\n')
            (bin_dir / "pip").chmod(0o755)
            entrypoint = entrypoint or (str(python), "-m", str(program.recipe.entrypoint_module))
            env = {FRAMEWORK_VARIABLE: program.recipe.framework}
        path = os.pathsep.join(p for p in (str(bin_dir), os.environ.get("PATH", os.defpath)) if p)
        return EntrypointCommand((*entrypoint, *arguments), env | {"PATH": path})

    def _container_image(self, image: str, role: str, containers: ContainerImages) -> ImageProgram:
        """A pushed image as a container runs it; UnknownImage for anything else (directory images included)."""
        found = self._pushed(image)
        if image.startswith("/") or (found is not None and found.media_type == DIRECTORY_MEDIA_TYPE):
            raise UnknownImage(f"Image {image!r} is a directory image: directory images run on the process runtime "
                               "(MODELBAY_RUNTIME=process); to run it in a container, build it from a Dockerfile and "
                               "push it ('modelbay images build -t <repository>:<tag> <dir>')")
        if found is None:
            raise UnknownImage(f"Image {image!r} is not an image modelbay can run in a container: use "
                               f"{_FRAMEWORK_NAMES}, or an image pushed to modelbay's registry (podman push, or "
                               "'modelbay images build')")
        try:
            manifest = runnable_manifest(found, self.registry)
        except PushedImageError as err:
            raise UnknownImage(f"Image {image!r} cannot run in a container: {err}") from err
        return ImageProgram(role, pushed=manifest, reference=containers.pushed.reference(manifest))

    def _pushed(self, uri: str) -> Image | None:
        """The image of modelbay's registry an ECR URI names; None for another name or an image it lacks."""
        match = ECR_URI.fullmatch(uri)
        return None if match is None else self.registry(match["repository"], match["digest"] or match["tag"]
                                                        or "latest")

    def _registered(self, uri: str) -> Path | None:
        """The directory of the registered image `uri` names; UnknownImage for one only a container runtime runs."""
        image = self._pushed(uri)
        if image is None or image.media_type == DIRECTORY_MEDIA_TYPE:
            return None if image is None else Path(image.manifest["directory"])
        raise UnknownImage(f"TrainingImage {uri!r} is a container image ({image.media_type}); the process runtime "
                           "runs directory images only, container images need the container runtime")


def open_images(platform: Platform, runs_images: bool) -> Images:
    """The images of a region's controllers: OCI images where the runtime runs them (Runtime.runs_images)."""
    settings = platform.settings
    containers = ContainerImages(FrameworkImages(settings.podman_dir),
                                 PushedImages(settings.podman_dir, platform.objects, settings.region))
    return Images(FrameworkEnvironments(settings.environments_dir), registry=platform.metadata.images.resolve,
                  containers=containers if runs_images else None)


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
