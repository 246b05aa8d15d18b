"""Images pushed to modelbay's registry, made available in podman's store for a container runtime to run.

An image runs as pushed: `ready` copies its manifest (the exact bytes, so its digest holds) and its blobs from
the registry's own store (the object store's REGISTRY_BUCKET) into a directory in containers/image's `dir:`
layout and has podman pull that, under `localhost/modelbay/ecr/<repository>:sha256-<hex>`. Reading the store
directly, rather than pulling over HTTP from the server's `/v2/`, needs neither the server's address (it may
listen on a port chosen at start-up) nor registry credentials, and works the same on either object store; the
manifest's digest in the tag makes the reference content-addressed, so a loaded image is never loaded again
and two servers of the machine share it. An image index is run through its manifest for this machine's platform.
"""

from __future__ import annotations

import platform
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from modelbay.base_images import REPOSITORY
from modelbay.podman_engine import PodmanError, ensure_image, podman
from modelbay.store.metadata.images import DIGEST_PREFIX, REGISTRY_BUCKET, Image, blob_key
from modelbay.store.objects.base import ObjectStore, ObjectStoreError

# (repository, tag or digest) → the image pushed under it, or None
Registry = Callable[[str, str], Image | None]
IMAGE_MEDIA_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                     "application/vnd.docker.distribution.manifest.v2+json")
INDEX_MEDIA_TYPES = ("application/vnd.oci.image.index.v1+json",
                     "application/vnd.docker.distribution.manifest.list.v2+json")
_DIR_VERSION = "Directory Transport Version: 1.1\n"  # containers/image's dir: layout, blobs named by their hex
_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}


class PushedImageError(ValueError):
    """A pushed image cannot run in a container here; the message says why, for FailureReason."""


def runnable_manifest(image: Image, registry: Registry) -> Image:
    """The image manifest a container runs for `image`: itself, or an index's manifest for this machine's platform.
    Raises PushedImageError for what is no container image (an artifact, a directory image)."""
    if image.media_type in IMAGE_MEDIA_TYPES:
        return image
    if image.media_type not in INDEX_MEDIA_TYPES:
        raise PushedImageError(f"{image.repository}@{image.digest} is a {image.media_type}, not a container image")
    architecture = _ARCHITECTURES.get(platform.machine(), platform.machine())
    for entry in image.manifest.get("manifests", []):
        wanted = entry.get("platform", {})
        if wanted.get("os") == "linux" and wanted.get("architecture") == architecture:
            found = registry(image.repository, entry["digest"])
            if found is not None:
                return runnable_manifest(found, registry)
    raise PushedImageError(f"the image index {image.repository}@{image.digest} has no image for linux/{architecture}")


class PushedImages:
    """The registry's images (of `region`, in `objects`) in podman's store; `config_dir` is podman's configuration."""

    def __init__(self, config_dir: Path, objects: ObjectStore, region: str) -> None:
        self.config_dir, self.objects, self.region = config_dir, objects, region

    @staticmethod
    def reference(image: Image) -> str:
        """Where the image is in podman's store: quick, loads nothing."""
        return f"{REPOSITORY}/ecr/{image.repository}:{image.digest.replace(':', '-')}"

    def ensure(self, image: Image) -> str:
        """The image in podman's store, loaded first if it is not there; raise PushedImageError saying why not."""
        reference = self.reference(image)
        return ensure_image(reference, self.config_dir, lambda: self._load(image, reference))

    def _load(self, image: Image, reference: str) -> None:
        with tempfile.TemporaryDirectory(prefix="modelbay-pushed-") as work:
            layout = Path(work)
            (layout / "version").write_text(_DIR_VERSION)
            (layout / "manifest.json").write_text(image.raw_manifest)
            manifest = image.manifest
            for descriptor in (manifest.get("config"), *manifest.get("layers", [])):
                if isinstance(descriptor, dict):
                    self._copy_blob(image, str(descriptor.get("digest", "")), layout)
            try:
                image_id = podman(["pull", "--quiet", f"dir:{layout}"], self.config_dir).strip().splitlines()[-1]
                podman(["tag", image_id, reference], self.config_dir)
            except PodmanError as error:
                raise PushedImageError(f"podman could not load {image.repository}@{image.digest}: {error}") from error

    def _copy_blob(self, image: Image, digest: str, layout: Path) -> None:
        try:
            with self.objects.open(REGISTRY_BUCKET, blob_key(self.region, digest)) as source, \
                    open(layout / digest.removeprefix(DIGEST_PREFIX), "wb") as target:
                shutil.copyfileobj(source, target, 1024 * 1024)
        except ObjectStoreError as error:
            raise PushedImageError(f"the registry has lost blob {digest} of {image.repository}@{image.digest} "
                                   f"({type(error).__name__}); push the image again") from error
