"""The OCI distribution API (`/v2/`) against a real server, as docker and podman push and pull, and ECR's view."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from modelbay.podman_engine import PodmanError, podman, podman_available
from modelbay.sdk.signing import SignedCalls
from tests.conftest import CREDENTIALS, client
from tests.helpers import ServerProcess, modelbay_server

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def login(url: str) -> httpx.Client:
    """A client logged in as `aws ecr get-login-password | podman login --username AWS` would be."""
    data = client(url, "ecr").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return httpx.Client(base_url=url, auth=(user, password), timeout=30)


@pytest.fixture(scope="module")
def registry(server: ServerProcess) -> Iterator[httpx.Client]:
    with login(server.url) as logged_in:
        yield logged_in


@pytest.fixture
def repository(server: ServerProcess, unique: str) -> str:
    client(server.url, "ecr").create_repository(repositoryName=f"team/{unique}")
    return f"team/{unique}"


def push_blob(registry: httpx.Client, repository: str, data: bytes) -> str:
    answer = registry.post(f"/v2/{repository}/blobs/uploads/", params={"digest": digest(data)}, content=data)
    assert answer.status_code == 201, answer.text
    return digest(data)


def image_manifest(config: bytes, layers: list[bytes]) -> bytes:
    def descriptor(data: bytes, media_type: str) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": digest(data), "size": len(data)}

    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": descriptor(config, "application/vnd.oci.image.config.v1+json"),
                       "layers": [descriptor(layer, "application/vnd.oci.image.layer.v1.tar+gzip")
                                  for layer in layers]}).encode()


def push_image(registry: httpx.Client, repository: str, tag: str, layers: list[bytes]) -> str:
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    for blob in (config, *layers):
        push_blob(registry, repository, blob)
    answer = registry.put(f"/v2/{repository}/manifests/{tag}", content=image_manifest(config, layers),
                          headers={"Content-Type": OCI_MANIFEST})
    assert answer.status_code == 201, answer.text
    return str(answer.headers["Docker-Content-Digest"])


def error_code(answer: httpx.Response) -> str:
    return str(answer.json()["errors"][0]["code"])


def test_v2_asks_for_credentials_and_takes_an_ecr_token(server: ServerProcess, registry: httpx.Client) -> None:
    anonymous = httpx.get(server.url + "/v2/")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert error_code(anonymous) == "UNAUTHORIZED"
    assert registry.get("/v2/").status_code == 200


def test_chunked_upload_then_pull_by_digest_with_a_range(registry: httpx.Client, repository: str) -> None:
    layer = bytes(range(256)) * 1000
    started = registry.post(f"/v2/{repository}/blobs/uploads/")
    assert started.status_code == 202
    location = started.headers["Location"]
    first = registry.patch(location, content=layer[:100_000], headers={"Content-Range": "0-99999"})
    assert (first.status_code, first.headers["Range"]) == (202, "0-99999")
    out_of_order = registry.patch(first.headers["Location"], content=b"x", headers={"Content-Range": "5-5"})
    assert out_of_order.status_code == 416
    finished = registry.put(first.headers["Location"], params={"digest": digest(layer)}, content=layer[100_000:])
    assert (finished.status_code, finished.headers["Docker-Content-Digest"]) == (201, digest(layer))
    pulled = registry.get(f"/v2/{repository}/blobs/{digest(layer)}")
    assert pulled.content == layer
    part = registry.get(f"/v2/{repository}/blobs/{digest(layer)}", headers={"Range": "bytes=10-19"})
    assert (part.status_code, part.content) == (206, layer[10:20])
    assert registry.get(location).status_code == 404  # the session ended with the upload


def test_a_wrong_digest_is_refused_and_stores_nothing(registry: httpx.Client, repository: str) -> None:
    claimed = digest(b"what was promised")
    answer = registry.post(f"/v2/{repository}/blobs/uploads/", params={"digest": claimed}, content=b"something else")
    assert (answer.status_code, error_code(answer)) == (400, "DIGEST_INVALID")
    assert registry.head(f"/v2/{repository}/blobs/{claimed}").status_code == 404


def test_pushing_to_a_missing_repository_is_name_unknown(registry: httpx.Client, unique: str) -> None:
    answer = registry.post(f"/v2/{unique}/blobs/uploads/")
    assert (answer.status_code, error_code(answer)) == (404, "NAME_UNKNOWN")


def test_cross_repository_mount(server: ServerProcess, registry: httpx.Client, repository: str) -> None:
    other = repository + "-copy"
    client(server.url, "ecr").create_repository(repositoryName=other)
    layer = push_blob(registry, repository, b"a layer both repositories share")
    mounted = registry.post(f"/v2/{other}/blobs/uploads/", params={"mount": layer, "from": repository})
    assert (mounted.status_code, mounted.headers["Location"]) == (201, f"/v2/{other}/blobs/{layer}")
    assert registry.head(f"/v2/{other}/blobs/{layer}").headers["Content-Length"] == "31"
    unknown = registry.post(f"/v2/{other}/blobs/uploads/", params={"mount": digest(b"never"), "from": repository})
    assert unknown.status_code == 202  # not mounted: an upload session to push it instead


def test_manifests_by_tag_and_digest_and_ecr_sees_them(server: ServerProcess, registry: httpx.Client,
                                                       repository: str) -> None:
    layers = [b"layer one" * 100, b"layer two" * 50]
    manifest_digest = push_image(registry, repository, "v1", layers)
    by_tag = registry.get(f"/v2/{repository}/manifests/v1")
    assert by_tag.headers["Content-Type"] == OCI_MANIFEST
    assert by_tag.headers["Docker-Content-Digest"] == manifest_digest == digest(by_tag.content)
    assert registry.get(f"/v2/{repository}/manifests/{manifest_digest}").content == by_tag.content
    head = registry.head(f"/v2/{repository}/manifests/v1")
    assert head.headers["Content-Length"] == str(len(by_tag.content))
    [detail] = client(server.url, "ecr").describe_images(repositoryName=repository)["imageDetails"]
    assert (detail["imageDigest"], detail["imageTags"], detail["imageSizeInBytes"]) == (
        manifest_digest, ["v1"], sum(len(layer) for layer in layers))
    missing = registry.put(f"/v2/{repository}/manifests/v2", headers={"Content-Type": OCI_MANIFEST},
                           content=image_manifest(b"{}", [b"never pushed"]))
    assert (missing.status_code, error_code(missing)) == (400, "MANIFEST_BLOB_UNKNOWN")
    assert error_code(registry.get(f"/v2/{repository}/manifests/v2")) == "MANIFEST_UNKNOWN"


def test_an_image_index_and_tags_list_paging(registry: httpx.Client, repository: str) -> None:
    child = push_image(registry, repository, "amd64", [b"amd64 layer"])
    size = len(registry.get(f"/v2/{repository}/manifests/{child}").content)
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": child, "size": size, "platform": {"os": "linux"}}]}).encode()
    put = registry.put(f"/v2/{repository}/manifests/multi", content=index, headers={"Content-Type": OCI_INDEX})
    assert put.status_code == 201
    assert registry.get(f"/v2/{repository}/manifests/multi").headers["Content-Type"] == OCI_INDEX
    first = registry.get(f"/v2/{repository}/tags/list", params={"n": 1})
    assert first.json() == {"name": repository, "tags": ["amd64"]}
    assert first.headers["Link"] == f'</v2/{repository}/tags/list?n=1&last=amd64>; rel="next"'
    rest = registry.get(f"/v2/{repository}/tags/list", params={"n": 1, "last": "amd64"})
    assert rest.json()["tags"] == ["multi"] and "Link" not in rest.headers


def test_batch_delete_image_then_gc_frees_the_blobs(server: ServerProcess, registry: httpx.Client,
                                                    repository: str) -> None:
    layer = b"a layer only this image has"
    push_image(registry, repository, "doomed", [layer])
    ecr = client(server.url, "ecr")
    assert ecr.batch_delete_image(repositoryName=repository, imageIds=[{"imageTag": "doomed"}])["failures"] == []
    assert registry.head(f"/v2/{repository}/blobs/{digest(layer)}").status_code == 200  # until collected
    collect = f"{server.url}/_modelbay/v1/registry/garbage-collection"
    signed = SignedCalls(boto3.Session(**CREDENTIALS))  # modelbay's own routes take signed calls, as the CLI's
    httpx.post(collect, params={"min_age_seconds": "3600"}, auth=signed).raise_for_status()
    assert registry.head(f"/v2/{repository}/blobs/{digest(layer)}").status_code == 200  # too young to collect
    collected = httpx.post(collect, params={"min_age_seconds": "0"}, auth=signed)
    assert collected.json()["BlobsRemoved"] >= 2  # the layer and the config (and other tests' garbage)
    assert registry.head(f"/v2/{repository}/blobs/{digest(layer)}").status_code == 404


def test_a_region_in_the_path_and_a_restart_keep_what_was_pushed(tmp_path: Path) -> None:
    with modelbay_server(tmp_path) as first:
        ecr = boto3.client("ecr", endpoint_url=first.url, **{**CREDENTIALS, "region_name": "eu-west-3"})
        ecr.create_repository(repositoryName="app")
        with login(first.url) as registry:
            image = push_image(registry, "eu-west-3/app", "v1", [b"regional layer"])
            assert error_code(registry.get("/v2/app/manifests/v1")) == "NAME_UNKNOWN"  # not in the home region
        first.stop()
        first.start()
        with login(first.url) as registry:
            assert registry.get("/v2/eu-west-3/app/manifests/v1").headers["Docker-Content-Digest"] == image
            assert registry.get(f"/v2/eu-west-3/app/blobs/{digest(b'regional layer')}").content == b"regional layer"


@pytest.mark.skipif(not podman_available(), reason="podman (with runc) is not installed: the push/pull through a "
                                                  "real container client cannot run")
def test_podman_login_push_and_pull(server: ServerProcess, repository: str, tmp_path: Path) -> None:
    host = server.url.removeprefix("http://")
    password = base64.b64decode(client(server.url, "ecr").get_authorization_token()["authorizationData"][0][
        "authorizationToken"]).decode().partition(":")[2]
    config_dir, image = tmp_path / "podman", f"{host}/{repository}:v1"
    auth = ["--tls-verify=false", "--authfile", str(tmp_path / "auth.json")]  # not the user's: left in tmp_path

    podman(["login", *auth, "--username", "AWS", "--password-stdin", host], config_dir, stdin=password)
    (tmp_path / "Containerfile").write_text("FROM scratch\nCOPY Containerfile /\n")
    try:
        podman(["build", "-t", image, str(tmp_path)], config_dir)
        podman(["push", *auth, image], config_dir)
        podman(["rmi", image], config_dir)
        podman(["pull", *auth, image], config_dir)
        assert podman(["image", "exists", image], config_dir) == ""
    finally:
        with contextlib.suppress(PodmanError):  # already gone when the test failed before the pull
            podman(["rmi", "--force", image], config_dir)
