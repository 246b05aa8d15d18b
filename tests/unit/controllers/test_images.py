"""TrainingImage names resolved to what an instance runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelbay.controllers.images import Images, UnknownImage
from modelbay.runtime.environments import FrameworkEnvironments
from modelbay.store.metadata.images import DIRECTORY_MEDIA_TYPE, Image

ECR = "000000000000.dkr.ecr.us-east-1.amazonaws.com"


def executable_dir(tmp_path: Path) -> Path:
    (tmp_path / "train").write_text("#!/bin/sh\n")
    (tmp_path / "train").chmod(0o755)
    return tmp_path


def registered(directory: Path, media_type: str = DIRECTORY_MEDIA_TYPE) -> Image:
    manifest = json.dumps({"schemaVersion": 1, "mediaType": media_type, "directory": str(directory)})
    return Image("algo", "sha256:" + "0" * 64, media_type, manifest, datetime.now(UTC), ("v1",))


def images(tmp_path: Path, found: Image | None = None) -> Images:
    def registry(repository: str, reference: str) -> Image | None:
        return found if (repository, reference) in (("algo", "v1"), ("algo", "sha256:" + "0" * 64)) else None
    return Images(FrameworkEnvironments(tmp_path / "envs"), registry)


def test_framework_images_resolve_to_recipes_with_any_warning(tmp_path: Path) -> None:
    program = images(tmp_path).resolve("modelbay/sklearn:0.23-1")
    assert program.recipe is not None and program.recipe.version == "1.2-1"
    assert program.warning is not None and program.executable is None


def test_a_directory_and_a_registered_directory_run_their_train(tmp_path: Path) -> None:
    directory = executable_dir(tmp_path)
    resolver = images(tmp_path, registered(directory))
    assert resolver.resolve(str(directory)).executable == directory / "train"
    assert resolver.resolve(f"{ECR}/algo:v1").executable == directory / "train"
    assert resolver.resolve(f"{ECR}/algo@sha256:{'0' * 64}").executable == directory / "train"
    argv, env = resolver.command(resolver.resolve(str(directory)), tmp_path / "layer")
    assert (argv, env) == ((str(directory / "train"),), {})


@pytest.mark.parametrize("image", [f"{ECR}/algo:v2", f"{ECR}/other", "relative/dir", "/no/such/dir"])
def test_unknown_images_say_what_can_run(tmp_path: Path, image: str) -> None:
    with pytest.raises(UnknownImage, match="is not an image modelbay can run"):
        images(tmp_path, registered(executable_dir(tmp_path))).resolve(image)


def test_a_registered_container_image_needs_the_container_runtime(tmp_path: Path) -> None:
    oci = registered(tmp_path, "application/vnd.oci.image.manifest.v1+json")
    with pytest.raises(UnknownImage, match="is a container image"):
        images(tmp_path, oci).resolve(f"{ECR}/algo:v1")


def test_the_serve_role_runs_the_model_server_or_the_image_serve(tmp_path: Path) -> None:
    resolver = images(tmp_path)
    framework = resolver.resolve("modelbay/python", "serve")
    assert (framework.role, framework.recipe is not None) == ("serve", True)
    directory = executable_dir(tmp_path)
    with pytest.raises(UnknownImage, match="holding an executable 'serve'"):
        resolver.resolve(str(directory), "serve")
    (directory / "serve").write_text("#!/bin/sh\n")
    (directory / "serve").chmod(0o755)
    assert resolver.resolve(str(directory), "serve").executable == directory / "serve"
