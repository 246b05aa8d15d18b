"""The registry's domain over a real metadata store and a local object store: digests, manifests, uploads, gc."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from modelbay.config import Settings
from modelbay.platform import Platform
from modelbay.security.principal import Principal
from modelbay.services import s3
from modelbay.services.base import Context
from modelbay.services.registry import (
    OCI_INDEX,
    OCI_MANIFEST,
    REGISTRY_BUCKET,
    Registry,
    RegistryError,
    references,
)
from modelbay.store.metadata import MetadataStore
from modelbay.store.metadata.images import References
from modelbay.store.objects import LocalObjectStore


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(data: bytes) -> dict[str, Any]:
    return {"mediaType": "application/octet-stream", "digest": digest(data), "size": len(data)}


def manifest(config: bytes, *layers: bytes) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(config),
                       "layers": [descriptor(layer) for layer in layers]}).encode()


@pytest.fixture
def platform(metadata: MetadataStore, settings: Settings, tmp_path: Path) -> Platform:
    return Platform(settings=settings, metadata=metadata, objects=LocalObjectStore(tmp_path / "objects"),
                    logs=None)  # type: ignore[arg-type]  # the registry writes no logs


@pytest.fixture
def registry(platform: Platform) -> Registry:
    platform.metadata.images.create_repository("app")
    return Registry(platform)


def code_of(call: Any, *args: Any) -> str:
    with pytest.raises(RegistryError) as info:
        call(*args)
    return info.value.code


def test_references_of_an_image_and_an_index() -> None:
    assert references(OCI_MANIFEST, manifest(b"c", b"l1", b"l2").decode()) == References(
        blobs=(digest(b"c"), digest(b"l1"), digest(b"l2")), layers=(digest(b"l1"), digest(b"l2")))
    index = json.dumps({"schemaVersion": 2, "manifests": [descriptor(b"child")]})
    assert references(OCI_INDEX, index) == References(manifests=(digest(b"child"),))


@pytest.mark.parametrize(("media_type", "text", "problem"), [
    (OCI_MANIFEST, "[]", "a manifest is a JSON object"),
    (OCI_MANIFEST, '{"schemaVersion": 1}', "schemaVersion must be 2"),
    (OCI_MANIFEST, json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX}), "is not"),
    (OCI_MANIFEST, json.dumps({"schemaVersion": 2, "config": {**descriptor(b"c"), "digest": "sha256:AB"},
                               "layers": []}), "config.digest must be sha256:"),
    (OCI_MANIFEST, json.dumps({"schemaVersion": 2, "config": descriptor(b"c"), "layers": [{"size": 1}]}),
     "layers[0].mediaType must be a string"),
    ("application/vnd.docker.distribution.manifest.v1+json", "{}", "unsupported manifest media type"),
])
def test_invalid_manifests_say_what_is_wrong(media_type: str, text: str, problem: str) -> None:
    with pytest.raises(RegistryError) as info:
        references(media_type, text)
    assert info.value.code == "MANIFEST_INVALID"
    assert problem in info.value.message


def test_a_blob_of_the_wrong_digest_leaves_nothing(registry: Registry, platform: Platform) -> None:
    assert code_of(registry.put_blob, "app", digest(b"promised"), BytesIO(b"given")) == "DIGEST_INVALID"
    assert code_of(registry.blob, "app", digest(b"promised")) == "BLOB_UNKNOWN"
    assert platform.objects.list(REGISTRY_BUCKET, "").objects == []
    assert code_of(registry.put_blob, "app", "sha256:short", BytesIO(b"")) == "DIGEST_INVALID"


def test_chunks_make_one_blob_and_the_session_ends(registry: Registry) -> None:
    upload = registry.start_upload("app")
    assert registry.append("app", upload.id, BytesIO(b"hello "), start=0).size == 6
    assert code_of(registry.append, "app", upload.id, BytesIO(b"x"), 3) == "RANGE_INVALID"
    assert code_of(registry.upload, "other", upload.id) == "BLOB_UPLOAD_UNKNOWN"
    registry.finish_upload("app", upload.id, digest(b"hello world"), BytesIO(b"world"))
    with registry.open_blob("app", digest(b"hello world")) as reader:
        assert reader.read() == b"hello world"
    assert code_of(registry.upload, "app", upload.id) == "BLOB_UPLOAD_UNKNOWN"


def test_the_same_blob_pushed_twice_is_one_blob(registry: Registry, platform: Platform) -> None:
    for _ in range(2):
        registry.put_blob("app", digest(b"layer"), BytesIO(b"layer"))
    assert [info.size for info in platform.objects.list(REGISTRY_BUCKET, "").objects] == [5]


def test_a_manifest_needs_its_blobs_and_a_missing_repository_is_name_unknown(registry: Registry) -> None:
    body = manifest(b"config", b"layer")
    assert code_of(registry.put_manifest, "app", "v1", OCI_MANIFEST, body) == "MANIFEST_BLOB_UNKNOWN"
    assert code_of(registry.put_manifest, "nope", "v1", OCI_MANIFEST, body) == "NAME_UNKNOWN"
    assert code_of(registry.put_manifest, "app", digest(b"other"), OCI_MANIFEST, body) == "DIGEST_INVALID"
    for blob in (b"config", b"layer"):
        registry.put_blob("app", digest(blob), BytesIO(blob))
    assert registry.put_manifest("app", "v1", OCI_MANIFEST, body) == digest(body)
    assert registry.manifest("app", "v1").size == len(b"layer")  # the layers' sizes, as ECR counts them


def test_gc_removes_only_old_blobs_no_image_names(registry: Registry, platform: Platform) -> None:
    for blob in (b"config", b"layer", b"orphan"):
        registry.put_blob("app", digest(blob), BytesIO(blob))
    registry.put_manifest("app", "v1", OCI_MANIFEST, manifest(b"config", b"layer"))
    registry.start_upload("app")
    assert registry.collect_garbage(timedelta(hours=1)).blobs == 0  # everything is young: a push may be under way
    garbage = registry.collect_garbage(timedelta(0))
    assert (garbage.blobs, garbage.bytes, garbage.uploads) == (1, len(b"orphan"), 1)
    assert code_of(registry.blob, "app", digest(b"orphan")) == "BLOB_UNKNOWN"
    registry.delete_manifest("app", "v1")
    assert registry.collect_garbage(timedelta(0)).blobs == 2
    assert platform.objects.list(REGISTRY_BUCKET, "").objects == []


def test_the_s3_api_hides_and_refuses_the_registry_bucket(registry: Registry, platform: Platform,
                                                          principal: Principal) -> None:
    registry.put_blob("app", digest(b"layer"), BytesIO(b"layer"))
    ctx = Context(platform, "req-1", "us-east-1", principal)
    assert s3.OPERATIONS["ListBuckets"](ctx, {})["Buckets"] == []  # type: ignore[index]
    with pytest.raises(s3.AwsError) as info:
        s3.OPERATIONS["ListObjectsV2"](ctx, {"Bucket": REGISTRY_BUCKET})
    assert info.value.code == "NoSuchBucket"
    with pytest.raises(s3.AwsError) as info:
        s3.OPERATIONS["CreateBucket"](ctx, {"Bucket": REGISTRY_BUCKET})
    assert info.value.code == "BucketAlreadyExists"
