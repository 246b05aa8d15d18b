"""TrainingImage names resolved to what an instance runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelbay.controllers.images import Images, UnknownImage, explain_failure, last_error_line
from modelbay.controllers.reasons import MAX_REASON_CHARS, fit_reason
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


# What the toolkit writes when a script fails (container/user_program.py), its stderr's tail quoted
SCRIPT_FAILURE = ('AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage "' + "\n".join(
    f"  File \"/opt/ml/code/train.py\", line {n}, in step_{n}: " + "x" * 60 for n in range(30))
    + '\nModuleNotFoundError: No module named \'xgboost.compat\'"\nCommand "/env/bin/python train.py", exit code: 1')


def test_a_replaced_version_starts_the_reason_and_the_programs_last_error_line_ends_it() -> None:
    explained = fit_reason(explain_failure(SCRIPT_FAILURE, ["modelbay/xgboost:0.90-1"]))
    assert len(SCRIPT_FAILURE) > MAX_REASON_CHARS >= len(explained)
    assert explained.startswith("xgboost 0.90-1 is not available for this Python (versions here: 1.7-1, 3.0-5); "
                                "using 1.7-1 instead. AlgorithmError: ExecuteUserScriptError:")
    assert explained.endswith("\nModuleNotFoundError: No module named 'xgboost.compat'")


def test_a_reason_ending_with_the_programs_last_line_is_not_repeated() -> None:
    reason = "The model server of variant a exited (exit code 1): loading\nmodelbay model server: no model.joblib"
    image = f"{ECR}/sagemaker-scikit-learn:0.23-1-cpu-py3"
    assert explain_failure(reason, ["modelbay/python", image]) == (
        "sklearn 0.23-1 is not available for this Python (versions here: 1.2-1, 1.4-2); using 1.2-1 instead. "
        + reason)


def test_without_a_replaced_version_the_reason_is_unchanged(tmp_path: Path) -> None:
    assert explain_failure(SCRIPT_FAILURE, ["modelbay/sklearn:1.2-1", str(executable_dir(tmp_path))]) == SCRIPT_FAILURE


def test_the_last_error_line_is_the_programs_not_the_toolkits() -> None:
    assert last_error_line(SCRIPT_FAILURE) == "ModuleNotFoundError: No module named 'xgboost.compat'"
    assert last_error_line("OutOfMemoryError: the training process used 2 GiB\n") == (
        "OutOfMemoryError: the training process used 2 GiB")
