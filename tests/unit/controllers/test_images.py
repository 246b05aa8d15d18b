"""TrainingImage names resolved to what an instance runs."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modelbay.base_images import debian_image
from modelbay.config import default_podman_dir
from modelbay.controllers.images import (
    IMAGE_WARNING_VARIABLE,
    ContainerImages,
    EntrypointCommand,
    Images,
    UnknownImage,
    explain_failure,
    last_error_line,
)
from modelbay.controllers.instance_env import host_env
from modelbay.controllers.pushed_images import PushedImages, Registry
from modelbay.controllers.reasons import MAX_REASON_CHARS, fit_reason
from modelbay.instance_types import instance_type
from modelbay.podman_engine import PodmanError, podman, podman_available
from modelbay.runtime.environments import FrameworkEnvironments
from modelbay.runtime.framework_images import FrameworkImages
from modelbay.store.metadata.images import DIRECTORY_MEDIA_TYPE, REGISTRY_BUCKET, Image, blob_key
from modelbay.store.objects.base import ObjectMeta
from modelbay.store.objects.local import LocalObjectStore

ECR = "000000000000.dkr.ecr.us-east-1.amazonaws.com"
# An image whose ENTRYPOINT records the arguments it gets, as a bring-your-own image's would use them
ENTRYPOINT_IMAGE = """\
FROM {base}
RUN printf '#!/bin/sh\\necho "$@" > /opt/ml/model/arguments\\n' > /usr/local/bin/entry && chmod 755 /usr/local/bin/entry
ENTRYPOINT ["/usr/local/bin/entry"]
"""


def executable_dir(tmp_path: Path) -> Path:
    (tmp_path / "train").write_text("#!/bin/sh\n")
    (tmp_path / "train").chmod(0o755)
    return tmp_path


def registered(directory: Path, media_type: str = DIRECTORY_MEDIA_TYPE) -> Image:
    manifest = json.dumps({"schemaVersion": 1, "mediaType": media_type, "directory": str(directory)})
    return Image("algo", "sha256:" + "0" * 64, media_type, manifest, datetime.now(UTC), ("v1",))


def registry_of(*found: Image) -> Registry:
    """A registry holding `found`, each by digest and by its tags."""
    def registry(repository: str, reference: str) -> Image | None:
        return next((image for image in found if image.repository == repository
                     and reference in (image.digest, *image.tags)), None)
    return registry


def images(tmp_path: Path, found: Image | None = None) -> Images:
    return Images(FrameworkEnvironments(tmp_path / "envs"), registry_of(*(found,) if found else ()))


def container_images(tmp_path: Path, *found: Image, config_dir: Path | None = None) -> Images:
    """Images as a runtime that runs OCI images sees them, over a registry of `found` in a local object store."""
    podman_dir = config_dir or tmp_path / "podman"
    containers = ContainerImages(FrameworkImages(podman_dir),
                                 PushedImages(podman_dir, LocalObjectStore(tmp_path / "objects"), "us-east-1"))
    return Images(FrameworkEnvironments(tmp_path / "envs"), registry_of(*found), containers)


def pushed(manifest: dict[str, object], repository: str = "algo", tags: tuple[str, ...] = ("v1",)) -> Image:
    raw = json.dumps(manifest)
    digest = "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
    return Image(repository, digest, str(manifest["mediaType"]), raw, datetime.now(UTC), tags)


OCI_MANIFEST = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"digest": "sha256:" + "1" * 64, "size": 2}, "layers": []}


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


def test_framework_images_run_their_role_in_the_image_built_from_the_recipe(tmp_path: Path) -> None:
    resolver = container_images(tmp_path)
    program = resolver.resolve(f"{ECR}/sagemaker-scikit-learn:1.2-1-cpu-py3", "serve")
    assert program.reference is not None and program.reference.startswith("localhost/modelbay/sklearn:1.2-1-")
    assert resolver.command(program, tmp_path / "layer") == (("serve",), {})
    replaced = resolver.resolve("modelbay/sklearn:0.23-1")
    argv, env = resolver.command(replaced, tmp_path / "layer")
    assert argv == ("train",) and "using 1.2-1 instead" in env[IMAGE_WARNING_VARIABLE]
    assert not (tmp_path / "layer").exists()  # no framework environment layer on the host


def test_the_process_runtime_runs_no_image(tmp_path: Path) -> None:
    program = images(tmp_path).resolve("modelbay/sklearn:1.2-1")
    assert program.reference is None and program.recipe is not None


def test_an_image_keeps_its_own_path_and_home(tmp_path: Path) -> None:
    kind = instance_type("ml.m5.large")
    assert "PATH" in host_env(kind, images(tmp_path).runs_images)
    in_image = host_env(kind, container_images(tmp_path).runs_images)
    assert "PATH" not in in_image and "HOME" not in in_image and in_image["MODELBAY_NUM_CPUS"] == "2"


def test_a_pushed_image_runs_as_pushed_with_the_role_as_its_argument(tmp_path: Path) -> None:
    image = pushed(OCI_MANIFEST)
    resolver = container_images(tmp_path, image)
    for uri in (f"{ECR}/algo:v1", f"{ECR}/algo@{image.digest}"):
        program = resolver.resolve(uri, "serve")
        assert program.reference == f"localhost/modelbay/ecr/algo:{image.digest.replace(':', '-')}"
        assert program.pushed == image and resolver.command(program, tmp_path / "layer") == (("serve",), {})


def test_an_image_index_runs_the_manifest_for_this_machine(tmp_path: Path) -> None:
    mine = pushed(OCI_MANIFEST, tags=())
    other = pushed({**OCI_MANIFEST, "annotations": {"for": "another machine"}}, tags=())
    architecture = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    entries = [{"digest": other.digest, "platform": {"os": "linux", "architecture": "riscv"}},
               {"digest": mine.digest, "platform": {"os": "linux", "architecture": architecture}}]
    index = pushed({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})
    assert container_images(tmp_path, index, mine, other).resolve(f"{ECR}/algo:v1").pushed == mine
    with pytest.raises(UnknownImage, match=f"has no image for linux/{architecture}"):
        container_images(tmp_path, index, other).resolve(f"{ECR}/algo:v1")


def test_directory_images_run_on_the_process_runtime_only(tmp_path: Path) -> None:
    directory = executable_dir(tmp_path)
    resolver = container_images(tmp_path, registered(directory))
    for image in (f"{ECR}/algo:v1", str(directory)):
        with pytest.raises(UnknownImage, match="directory images run on the process runtime"):
            resolver.resolve(image)
    with pytest.raises(UnknownImage, match="not an image modelbay can run in a container"):
        resolver.resolve(f"{ECR}/other:v1")


def test_a_processing_entrypoint_replaces_the_images_own(tmp_path: Path) -> None:
    resolver = container_images(tmp_path, pushed(OCI_MANIFEST))
    image = resolver.resolve(f"{ECR}/algo:v1", "process")
    layer = tmp_path / "layer"
    assert resolver.entrypoint_command(image, layer, ("python3", "p.py"), ("--n", "1")) == EntrypointCommand(
        ("--n", "1"), {}, ("python3", "p.py"))
    assert resolver.entrypoint_command(image, layer, (), ("--n", "1")) == (("--n", "1"), {}, None)
    framework = resolver.resolve("modelbay/sklearn", "process")
    assert resolver.entrypoint_command(framework, layer, ("python3", "p.py"), ()).entrypoint == ("python3", "p.py")
    with pytest.raises(UnknownImage, match="give AppSpecification.ContainerEntrypoint"):
        resolver.entrypoint_command(framework, layer, (), ())


def test_the_model_monitor_image_runs_its_own_analyzer_when_a_job_gives_no_entrypoint(tmp_path: Path) -> None:
    uri = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    layer = tmp_path / "layer"
    in_image = container_images(tmp_path).resolve(uri, "process")
    assert in_image.reference is not None and in_image.reference.startswith("localhost/modelbay/model-monitor:")
    assert container_images(tmp_path).entrypoint_command(in_image, layer, (), ()) == EntrypointCommand((), {}, None)
    resolver = images(tmp_path)
    argv, env, entrypoint = resolver.entrypoint_command(resolver.resolve(uri, "process"), layer, (), ("--x",))
    assert argv == (str(layer / "bin" / "python"), "-m", "modelbay.container.model_monitor", "--x")
    assert entrypoint is None and env["PATH"].startswith(f"{layer / 'bin'}:")
    assert resolver.entrypoint_command(resolver.resolve(uri), layer, ("python3", "p.py"), ()).argv == ("python3",
                                                                                                       "p.py")


def test_on_the_process_runtime_the_entrypoint_and_arguments_are_the_command(tmp_path: Path) -> None:
    directory = executable_dir(tmp_path)
    resolver = images(tmp_path)
    argv, env, entrypoint = resolver.entrypoint_command(resolver.resolve(str(directory)), tmp_path / "layer", (),
                                                        ("--n", "1"))
    assert (argv, entrypoint) == ((str(directory / "train"), "--n", "1"), None)
    assert env["PATH"].startswith(f"{directory}:")


@pytest.mark.skipif(not podman_available(), reason="podman and runc are not installed here")
def test_a_pushed_image_is_loaded_from_the_registrys_store_and_gets_the_role(tmp_path: Path) -> None:
    config_dir = default_podman_dir(os.environ)  # the machine's store, where the Debian base image is kept
    (tmp_path / "Containerfile").write_text(ENTRYPOINT_IMAGE.format(base=debian_image(config_dir)))
    built = f"localhost/modelbay-test/entry:{uuid.uuid4().hex[:12]}"
    loaded = None
    try:
        podman(["build", "--quiet", "--layers=false", "--tag", built, str(tmp_path)], config_dir)
        image = push_to_store(built, tmp_path, config_dir)
        resolver = container_images(tmp_path, image, config_dir=config_dir)
        program = resolver.resolve(f"{ECR}/algo:v1")
        loaded = program.reference
        resolver.ready(program, lambda _message: None)
        argv, _env = resolver.command(program, tmp_path / "layer")
        (tmp_path / "opt_ml/model").mkdir(parents=True)
        podman(["run", "--rm", "--network", "none", "--volume", f"{tmp_path / 'opt_ml'}:/opt/ml", str(loaded), *argv],
               config_dir)
        assert (tmp_path / "opt_ml/model/arguments").read_text() == "train\n"
        resolver.ready(program, lambda _message: None)  # there already: nothing to load
    finally:
        for reference in (built, loaded):
            if reference is not None:
                with contextlib.suppress(PodmanError):
                    podman(["rmi", reference], config_dir)


def push_to_store(reference: str, tmp_path: Path, config_dir: Path) -> Image:
    """Put a podman image into a registry's store as a push would: its blobs in the registry's bucket of a local
    object store under tmp_path/objects, its manifest as the record the registry returns."""
    layout = tmp_path / "layout"
    podman(["push", "--quiet", reference, f"dir:{layout}"], config_dir)
    raw = (layout / "manifest.json").read_text()
    manifest = json.loads(raw)
    objects = LocalObjectStore(tmp_path / "objects")
    objects.create_bucket(REGISTRY_BUCKET, "us-east-1")
    for descriptor in (manifest["config"], *manifest["layers"]):
        with open(layout / descriptor["digest"].removeprefix("sha256:"), "rb") as blob:
            objects.put(REGISTRY_BUCKET, blob_key("us-east-1", descriptor["digest"]), blob, ObjectMeta())
    media_type = manifest.get("mediaType", "application/vnd.oci.image.manifest.v1+json")
    digest = "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
    return Image("algo", digest, media_type, raw, datetime.now(UTC), ("v1",))


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
