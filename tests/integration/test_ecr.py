"""The ECR API through boto3's `ecr` client against a real server: repositories, directory images, errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.helpers import ServerProcess, user_shell
from tests.integration.test_aws_cli import aws

DIRECTORY = "application/vnd.modelbay.directory.v1+json"
REGISTRY = "000000000000"


@pytest.fixture(scope="module")
def ecr(server: ServerProcess) -> Any:
    return client(server.url, "ecr")


def directory_manifest(directory: Path | str) -> str:
    return json.dumps({"schemaVersion": 1, "mediaType": DIRECTORY, "directory": str(directory)})


def digest_of(manifest: str) -> str:
    return "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()


def error_of(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**params)
    error = info.value.response["Error"]
    return error["Code"], error["Message"]


def test_create_put_describe_and_get_a_directory_image(ecr: Any, unique: str, tmp_path: Path) -> None:
    repository = ecr.create_repository(repositoryName=unique)["repository"]
    assert repository["repositoryUri"] == f"{REGISTRY}.dkr.ecr.us-east-1.amazonaws.com/{unique}"
    assert repository["repositoryArn"] == f"arn:aws:ecr:us-east-1:{REGISTRY}:repository/{unique}"
    assert (repository["registryId"], repository["imageTagMutability"]) == (REGISTRY, "MUTABLE")
    manifest = directory_manifest(tmp_path)
    image = ecr.put_image(repositoryName=unique, imageManifest=manifest, imageManifestMediaType=DIRECTORY,
                          imageTag="v1")["image"]
    assert image["imageId"] == {"imageDigest": digest_of(manifest), "imageTag": "v1"}
    [detail] = ecr.describe_images(repositoryName=unique)["imageDetails"]
    assert (detail["imageDigest"], detail["imageTags"], detail["imageManifestMediaType"]) == (
        digest_of(manifest), ["v1"], DIRECTORY)
    got = ecr.batch_get_image(repositoryName=unique, imageIds=[{"imageTag": "v1"}, {"imageTag": "nope"}])
    assert [i["imageManifest"] for i in got["images"]] == [manifest]
    assert got["failures"] == [{"imageId": {"imageTag": "nope"}, "failureCode": "ImageNotFound",
                                "failureReason": "Requested image not found"}]


def test_the_media_type_may_come_from_the_manifest_alone(ecr: Any, unique: str, tmp_path: Path) -> None:
    ecr.create_repository(repositoryName=unique)
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []})
    ecr.put_image(repositoryName=unique, imageManifest=index, imageTag="index")
    ecr.put_image(repositoryName=unique, imageManifest=directory_manifest(tmp_path), imageTag="dir")
    types = {d["imageTags"][0]: d["imageManifestMediaType"]
             for d in ecr.describe_images(repositoryName=unique)["imageDetails"]}
    assert types == {"index": "application/vnd.oci.image.index.v1+json", "dir": DIRECTORY}


def test_put_image_needs_the_layers_pushed_first(ecr: Any, unique: str) -> None:
    ecr.create_repository(repositoryName=unique)
    layer = {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 3,
             "digest": "sha256:" + "a" * 64}
    docker = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                         "config": {**layer, "mediaType": "application/vnd.docker.container.image.v1+json"},
                         "layers": [layer]})
    code, message = error_of(ecr.put_image, repositoryName=unique, imageManifest=docker, imageTag="v1")
    assert code == "LayersNotFoundException"
    assert "sha256:" + "a" * 64 in message
    code, message = error_of(ecr.put_image, repositoryName=unique, imageTag="v1", imageManifest=json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []}))
    assert (code, message) == ("InvalidParameterException", "Invalid parameter at 'imageManifest': manifest "
                                                             "invalid: config must be a descriptor object")


@pytest.mark.parametrize(("directory", "problem"), [
    ("relative/dir", "must be an absolute path, not 'relative/dir'"),
    ("/no/such/directory", "/no/such/directory is not a directory on the server's machine"),
])
def test_a_directory_image_must_name_an_existing_absolute_directory(ecr: Any, unique: str, directory: str,
                                                                    problem: str) -> None:
    ecr.create_repository(repositoryName=unique)
    code, message = error_of(ecr.put_image, repositoryName=unique, imageManifest=directory_manifest(directory),
                             imageManifestMediaType=DIRECTORY)
    assert code == "InvalidParameterException"
    assert problem in message


def test_manifests_that_are_not_json_objects_are_invalid(ecr: Any, unique: str) -> None:
    ecr.create_repository(repositoryName=unique)
    for manifest in ("not json", "[1, 2]"):
        assert error_of(ecr.put_image, repositoryName=unique, imageManifest=manifest) == (
            "InvalidParameterException", "Invalid parameter at 'imageManifest': the manifest must be a JSON object.")


def test_repository_errors_are_worded_as_ecr_words_them(ecr: Any, unique: str, tmp_path: Path) -> None:
    ecr.create_repository(repositoryName=unique)
    assert error_of(ecr.create_repository, repositoryName=unique) == (
        "RepositoryAlreadyExistsException",
        f"The repository with name '{unique}' already exists in the registry with id '{REGISTRY}'")
    absent = unique + "-absent"
    not_found = ("RepositoryNotFoundException",
                 f"The repository with name '{absent}' does not exist in the registry with id '{REGISTRY}'")
    assert error_of(ecr.describe_repositories, repositoryNames=[unique, absent]) == not_found
    assert error_of(ecr.describe_images, repositoryName=absent) == not_found
    assert error_of(ecr.list_images, repositoryName=absent) == not_found
    assert error_of(ecr.batch_delete_image, repositoryName=absent, imageIds=[{"imageTag": "x"}]) == not_found
    assert error_of(ecr.put_image, repositoryName=absent, imageManifest=directory_manifest(tmp_path)) == not_found
    assert error_of(ecr.delete_repository, repositoryName=absent) == not_found
    code, message = error_of(ecr.create_repository, repositoryName="Upper-Case")
    assert code == "InvalidParameterException" and "repositoryName" in message


def test_image_errors_are_worded_as_ecr_words_them(ecr: Any, unique: str, tmp_path: Path) -> None:
    ecr.create_repository(repositoryName=unique, imageTagMutability="IMMUTABLE")
    manifest = directory_manifest(tmp_path)
    ecr.put_image(repositoryName=unique, imageManifest=manifest, imageTag="v1")
    assert error_of(ecr.put_image, repositoryName=unique, imageManifest=manifest, imageTag="v1") == (
        "ImageAlreadyExistsException",
        f"Image with digest '{digest_of(manifest)}' and tag 'v1' already exists in the repository with name "
        f"'{unique}' in registry with id '{REGISTRY}'")
    other = directory_manifest(tmp_path.parent)
    assert error_of(ecr.put_image, repositoryName=unique, imageManifest=other, imageTag="v1") == (
        "ImageTagAlreadyExistsException",
        f"The image tag 'v1' already exists in the '{unique}' repository and cannot be overwritten because the "
        "repository is immutable.")
    assert error_of(ecr.describe_images, repositoryName=unique, imageIds=[{"imageTag": "v2"}]) == (
        "ImageNotFoundException",
        f"The image with imageId {{imageDigest:'null', imageTag:'v2'}} does not exist within the repository with "
        f"name '{unique}' in the registry with id '{REGISTRY}'")


def test_a_tag_moves_in_a_mutable_repository(ecr: Any, unique: str, tmp_path: Path) -> None:
    ecr.create_repository(repositoryName=unique)
    first, second = directory_manifest(tmp_path), directory_manifest(tmp_path.parent)
    ecr.put_image(repositoryName=unique, imageManifest=first, imageTag="latest")
    ecr.put_image(repositoryName=unique, imageManifest=second, imageTag="latest")
    listed = ecr.list_images(repositoryName=unique)["imageIds"]
    assert listed == [{"imageDigest": digest_of(first)}, {"imageDigest": digest_of(second), "imageTag": "latest"}]
    untagged = ecr.list_images(repositoryName=unique, filter={"tagStatus": "UNTAGGED"})["imageIds"]
    assert untagged == [{"imageDigest": digest_of(first)}]


def test_listings_page_with_next_token_and_max_results(ecr: Any, unique: str, tmp_path: Path) -> None:
    names = [f"{unique}/r{i}" for i in range(5)]
    for name in names:
        ecr.create_repository(repositoryName=name)
    pages = ecr.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 2})
    listed = [r["repositoryName"] for page in pages for r in page["repositories"]]
    assert [name for name in listed if name.startswith(unique)] == names
    first = ecr.describe_repositories(maxResults=2)
    assert len(first["repositories"]) == 2 and "nextToken" in first
    for i in range(5):
        (tmp_path / str(i)).mkdir()
        ecr.put_image(repositoryName=names[0], imageManifest=directory_manifest(tmp_path / str(i)), imageTag=f"t{i}")
    for operation, key in (("describe_images", "imageDetails"), ("list_images", "imageIds")):
        pages = ecr.get_paginator(operation).paginate(repositoryName=names[0], PaginationConfig={"PageSize": 2})
        sizes = [len(page[key]) for page in pages]
        assert sizes == [2, 2, 1], operation
    code, message = error_of(ecr.list_images, repositoryName=names[0], nextToken="bogus")
    assert code == "InvalidParameterException" and "NextToken" in message


def test_batch_delete_untags_then_deletes_and_repositories_need_force(ecr: Any, unique: str, tmp_path: Path) -> None:
    ecr.create_repository(repositoryName=unique)
    manifest = directory_manifest(tmp_path)
    digest = digest_of(manifest)
    for tag in ("one", "two"):
        ecr.put_image(repositoryName=unique, imageManifest=manifest, imageTag=tag)
    deleted = ecr.batch_delete_image(repositoryName=unique, imageIds=[{"imageTag": "one"}, {"imageDigest": "bad"}])
    assert deleted["imageIds"] == [{"imageDigest": digest, "imageTag": "one"}]
    assert [f["failureCode"] for f in deleted["failures"]] == ["InvalidImageDigest"]
    assert ecr.list_images(repositoryName=unique)["imageIds"] == [{"imageDigest": digest, "imageTag": "two"}]
    assert error_of(ecr.delete_repository, repositoryName=unique) == (
        "RepositoryNotEmptyException",
        f"The repository with name '{unique}' in registry with id '{REGISTRY}' cannot be deleted because it still "
        "contains images")
    assert ecr.delete_repository(repositoryName=unique, force=True)["repository"]["repositoryName"] == unique
    assert error_of(ecr.describe_repositories, repositoryNames=[unique])[0] == "RepositoryNotFoundException"


def test_aws_cli_describes_repositories_and_gets_a_login_password(server: ServerProcess, ecr: Any, unique: str,
                                                                   tmp_path: Path) -> None:
    ecr.create_repository(repositoryName=unique)
    shell = user_shell(server.url, tmp_path)
    done = aws(shell, "ecr", "describe-repositories", "--repository-names", unique)
    assert done.returncode == 0, done.stderr
    [repository] = json.loads(done.stdout)["repositories"]
    assert repository["repositoryUri"] == f"{REGISTRY}.dkr.ecr.us-east-1.amazonaws.com/{unique}"
    password = aws(shell, "ecr", "get-login-password")
    assert password.returncode == 0, password.stderr
    assert httpx.get(server.url + "/v2/", auth=("AWS", password.stdout.strip())).status_code == 200
