"""The image registry on every metadata backend: repositories, pushes, tags moving, deletes, resolve."""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from modelbay.store.metadata import (
    ImageExists,
    ImageId,
    ImageRegistry,
    MetadataStore,
    RepositoryExists,
    RepositoryNotEmpty,
    RepositoryNotFound,
    TagImmutable,
)
from modelbay.store.metadata.images import IMMUTABLE

MEDIA_TYPE = "application/vnd.modelbay.directory.v1+json"


def manifest(directory: str) -> tuple[str, str]:
    """(digest, text) of a directory image's manifest."""
    text = json.dumps({"schemaVersion": 1, "mediaType": MEDIA_TYPE, "directory": directory})
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest(), text


@pytest.fixture
def images(store: MetadataStore) -> ImageRegistry:
    return store.images


def push(images: ImageRegistry, repository: str, directory: str, tag: str | None = None) -> str:
    digest, text = manifest(directory)
    images.put(repository, digest, MEDIA_TYPE, text, tag)
    return digest


def test_repositories_are_created_listed_and_unique(images: ImageRegistry) -> None:
    created = images.create_repository("team/model", settings={"imageScanningConfiguration": {"scanOnPush": False}})
    images.create_repository("other")
    assert (created.name, created.tag_mutability) == ("team/model", "MUTABLE")
    assert created.settings == {"imageScanningConfiguration": {"scanOnPush": False}}
    assert [r.name for r in images.repositories()] == ["team/model", "other"]
    assert [r.name for r in images.repositories(["other", "absent"])] == ["other"]
    with pytest.raises(RepositoryExists):
        images.create_repository("other", IMMUTABLE)
    assert images.repositories(["other"])[0].tag_mutability == "MUTABLE"


def test_put_stores_the_manifest_as_given_and_resolve_finds_it_by_tag_or_digest(images: ImageRegistry) -> None:
    images.create_repository("model")
    digest, text = manifest("/opt/model")
    stored = images.put("model", digest, MEDIA_TYPE, text, "v1")
    assert (stored.digest, stored.tags, stored.raw_manifest) == (digest, ("v1",), text)
    for reference in ("v1", digest):
        found = images.resolve("model", reference)
        assert found is not None
        assert (found.digest, found.media_type, found.manifest["directory"]) == (digest, MEDIA_TYPE, "/opt/model")
    assert images.resolve("model", "v2") is None
    assert images.resolve("model", "sha256:" + "0" * 64) is None
    assert images.resolve("absent", "v1") is None


def test_a_second_tag_on_the_same_manifest_adds_to_the_image(images: ImageRegistry) -> None:
    images.create_repository("model")
    digest = push(images, "model", "/a", "v1")
    push(images, "model", "/a", "latest")
    assert [(i.digest, i.tags) for i in images.images("model")] == [(digest, ("latest", "v1"))]


def test_pushing_the_same_manifest_and_tag_again_is_image_exists(images: ImageRegistry) -> None:
    images.create_repository("model")
    push(images, "model", "/a", "v1")
    with pytest.raises(ImageExists):
        push(images, "model", "/a", "v1")
    push(images, "model", "/b")
    with pytest.raises(ImageExists):
        push(images, "model", "/b")


def test_a_tag_moves_to_the_new_image_leaving_the_old_one_untagged(images: ImageRegistry) -> None:
    images.create_repository("model")
    old = push(images, "model", "/a", "latest")
    new = push(images, "model", "/b", "latest")
    assert [(i.digest, i.tags) for i in images.images("model")] == [(old, ()), (new, ("latest",))]
    resolved = images.resolve("model", "latest")
    assert resolved is not None and resolved.digest == new


def test_immutable_tags_do_not_move(images: ImageRegistry) -> None:
    images.create_repository("fixed", IMMUTABLE)
    first = push(images, "fixed", "/a", "v1")
    with pytest.raises(TagImmutable):
        push(images, "fixed", "/b", "v1")
    assert [(i.digest, i.tags) for i in images.images("fixed")] == [(first, ("v1",))]
    push(images, "fixed", "/b", "v2")  # a new tag is fine


def test_find_with_digest_and_tag_needs_both_to_match(images: ImageRegistry) -> None:
    images.create_repository("model")
    a = push(images, "model", "/a", "one")
    b = push(images, "model", "/b", "two")
    found = images.find("model", ImageId(a, "one"))
    assert found is not None and found.digest == a
    assert images.find("model", ImageId(b, "one")) is None
    assert images.find("model", ImageId()) is None


def test_untagging_keeps_a_tagged_image_and_removes_it_with_its_last_tag(images: ImageRegistry) -> None:
    images.create_repository("model")
    digest = push(images, "model", "/a", "one")
    push(images, "model", "/a", "two")
    removed = images.untag_or_delete("model", ImageId(tag="one"))
    assert removed is not None and removed.tags == ("one", "two")
    assert [i.tags for i in images.images("model")] == [("two",)]
    images.untag_or_delete("model", ImageId(tag="two"))
    assert images.images("model") == []
    assert images.untag_or_delete("model", ImageId(digest)) is None


def test_deleting_by_digest_removes_every_tag(images: ImageRegistry) -> None:
    images.create_repository("model")
    digest = push(images, "model", "/a", "one")
    push(images, "model", "/a", "two")
    assert images.untag_or_delete("model", ImageId(digest)) is not None
    assert images.resolve("model", "one") is None and images.resolve("model", "two") is None
    push(images, "model", "/a", "one")  # the tag is free again


def test_a_repository_with_images_is_deleted_only_by_force(images: ImageRegistry) -> None:
    images.create_repository("model")
    push(images, "model", "/a", "v1")
    with pytest.raises(RepositoryNotEmpty):
        images.delete_repository("model")
    assert images.delete_repository("model", force=True).name == "model"
    assert images.repositories() == []
    images.create_repository("model")  # its images and tags went with it
    assert images.images("model") == [] and images.resolve("model", "v1") is None


def test_missing_repositories_are_reported(images: ImageRegistry) -> None:
    digest, text = manifest("/a")
    calls = [lambda: images.delete_repository("absent"), lambda: images.put("absent", digest, MEDIA_TYPE, text),
             lambda: images.images("absent"), lambda: images.find("absent", ImageId(tag="x")),
             lambda: images.untag_or_delete("absent", ImageId(tag="x"))]
    for call in calls:
        with pytest.raises(RepositoryNotFound):
            call()


def test_concurrent_pushes_of_one_tag_leave_it_naming_one_image(images: ImageRegistry) -> None:
    images.create_repository("model")
    barrier = threading.Barrier(8)

    def work(i: int) -> str:
        barrier.wait()
        return push(images, "model", f"/dir-{i}", "latest")

    with ThreadPoolExecutor(8) as pool:
        digests = list(pool.map(work, range(8)))
    listed = images.images("model")
    assert sorted(i.digest for i in listed) == sorted(digests)
    assert [i.tags for i in listed].count(("latest",)) == 1
    assert sum(len(i.tags) for i in listed) == 1
