"""The ECR operations as service functions over a real SQLite metadata store: what the wire tests leave out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from modelbay.config import Settings
from modelbay.services.base import Context
from modelbay.services.ecr import DIRECTORY_MEDIA_TYPE, OPERATIONS
from tests.unit.services.service_calls import ServiceCalls

MODEL = botocore.session.get_session().get_service_model("ecr")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, account_id="123456789012", region="eu-west-1")


@pytest.fixture
def region() -> str:
    """The request is signed for another region: the registry's URIs still name the settings' region."""
    return "us-west-2"


CALLS = ServiceCalls("ecr", OPERATIONS)
call = CALLS.call


def error(ctx: Context, operation: str, **params: Any) -> tuple[str, str]:
    code, _, message = CALLS.error(ctx, operation, **params)
    return code, message


def directory_manifest(directory: object, **extra: Any) -> str:
    return json.dumps({"schemaVersion": 1, "mediaType": DIRECTORY_MEDIA_TYPE, "directory": directory, **extra})


def test_operations_are_the_models() -> None:
    assert set(OPERATIONS) <= set(MODEL.operation_names)


def test_arns_and_uris_name_the_settings_account_and_region(ctx: Context) -> None:
    repository = call(ctx, "CreateRepository", repositoryName="team/model")["repository"]
    assert repository["repositoryArn"] == "arn:aws:ecr:eu-west-1:123456789012:repository/team/model"
    assert repository["repositoryUri"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/model"
    assert repository["encryptionConfiguration"] == {"encryptionType": "AES256"}


@pytest.mark.parametrize(("manifest", "media_type", "problem"), [
    (directory_manifest("/tmp", schemaVersion=2), None, "schemaVersion must be 1"),
    (directory_manifest(None), None, '"directory" must be the absolute path of a directory'),
    (json.dumps({"schemaVersion": 1, "directory": "/tmp"}), None, "the manifest has no mediaType"),
    (directory_manifest("/tmp"), "application/vnd.oci.image.manifest.v1+json", "does not match the manifest's"),
    (json.dumps({"schemaVersion": 2, "mediaType": 5}), None, "mediaType must be a string"),
])
def test_unusable_manifests_are_invalid_parameters(ctx: Context, manifest: str, media_type: str | None,
                                                   problem: str) -> None:
    call(ctx, "CreateRepository", repositoryName="model")
    given = {} if media_type is None else {"imageManifestMediaType": media_type}
    code, message = error(ctx, "PutImage", repositoryName="model", imageManifest=manifest, **given)
    assert code == "InvalidParameterException" and problem in message


def test_a_stated_digest_must_be_the_manifests(ctx: Context) -> None:
    call(ctx, "CreateRepository", repositoryName="model")
    code, _ = error(ctx, "PutImage", repositoryName="model", imageManifest=directory_manifest("/tmp"),
                    imageDigest="sha256:" + "0" * 64)
    assert code == "ImageDigestDoesNotMatchException"


def test_another_registry_or_tag_mutability_is_refused(ctx: Context) -> None:
    assert error(ctx, "DescribeRepositories", registryId="999999999999")[0] == "InvalidParameterException"
    code, message = error(ctx, "CreateRepository", repositoryName="model",
                          imageTagMutability="IMMUTABLE_WITH_EXCLUSION")
    assert code == "InvalidParameterException" and "MUTABLE and IMMUTABLE" in message


def test_names_and_paging_cannot_be_combined(ctx: Context) -> None:
    call(ctx, "CreateRepository", repositoryName="model")
    assert error(ctx, "DescribeRepositories", repositoryNames=["model"], maxResults=1)[0] == "InvalidParameterException"


def test_describe_images_by_id_dedupes_and_needs_a_digest_or_tag(ctx: Context, tmp_path: Path) -> None:
    call(ctx, "CreateRepository", repositoryName="model")
    digest = call(ctx, "PutImage", repositoryName="model", imageManifest=directory_manifest(str(tmp_path)),
                  imageTag="v1")["image"]["imageId"]["imageDigest"]
    details = call(ctx, "DescribeImages", repositoryName="model",
                   imageIds=[{"imageTag": "v1"}, {"imageDigest": digest}])
    assert [d["imageDigest"] for d in details["imageDetails"]] == [digest]
    assert error(ctx, "DescribeImages", repositoryName="model", imageIds=[{}])[0] == "InvalidParameterException"


def test_batch_get_image_honours_accepted_media_types(ctx: Context, tmp_path: Path) -> None:
    call(ctx, "CreateRepository", repositoryName="model")
    call(ctx, "PutImage", repositoryName="model", imageManifest=directory_manifest(str(tmp_path)), imageTag="v1")
    got = call(ctx, "BatchGetImage", repositoryName="model", imageIds=[{"imageTag": "v1"}, {}],
               acceptedMediaTypes=["application/vnd.oci.image.manifest.v1+json"])
    assert got["images"] == []
    assert [f["failureCode"] for f in got["failures"]] == ["ImageNotFound", "MissingDigestAndTag"]
