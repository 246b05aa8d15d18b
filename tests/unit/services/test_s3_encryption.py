"""S3's SSE-KMS over the region's key ring: data keys used for the caller, and KMS's refusals in S3's words."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from modelbay.errors import AwsError, aws_error
from modelbay.security.principal import Principal
from modelbay.services import kms, s3
from modelbay.services.base import Context, Reply
from modelbay.services.sagemaker.kms_key_ids import check_training_keys, check_usable
from modelbay.store.objects import LocalObjectStore

AccessDenied = aws_error("AccessDenied", 403)


@pytest.fixture
def s3_ctx(ctx: Context, tmp_path: Path) -> Context:
    """The request's context with an object store, and a bucket in it."""
    objects = LocalObjectStore(tmp_path / "objects")
    objects.create_bucket("bkt", ctx.region)
    return replace(ctx, platform=replace(ctx.platform, objects=objects))


def put(ctx: Context, key: str, body: bytes, **sse: str) -> dict[str, Any]:
    return s3.put_object(ctx, {"Bucket": "bkt", "Key": key, "Body": io.BytesIO(body), **sse})


def get(ctx: Context, key: str, **params: str) -> bytes:
    answer = s3.get_object(ctx, {"Bucket": "bkt", "Key": key, **params})
    assert isinstance(answer, Reply)
    with answer.output["Body"] as body:
        data: bytes = body.read()
    return data


def test_an_sse_kms_object_names_its_key_by_arn_and_reads_back(s3_ctx: Context) -> None:
    key = s3_ctx.platform.kms.create_key()
    answer = put(s3_ctx, "k", b"secret", ServerSideEncryption="aws:kms", SSEKMSKeyId=key.key_id)
    assert (answer["ServerSideEncryption"], answer["SSEKMSKeyId"]) == ("aws:kms", key.arn)
    assert get(s3_ctx, "k") == b"secret" and get(s3_ctx, "k", Range="bytes=1-2") == b"ec"


def test_kmss_refusals_are_answered_in_s3s_words(s3_ctx: Context) -> None:
    key = s3_ctx.platform.kms.create_key()
    put(s3_ctx, "k", b"secret", ServerSideEncryption="aws:kms", SSEKMSKeyId=key.arn)
    kms.disable_key(s3_ctx, {"KeyId": key.key_id})
    with pytest.raises(AwsError) as caught:
        get(s3_ctx, "k")
    assert (caught.value.code, caught.value.status) == ("KMS.DisabledException", 400)
    with pytest.raises(AwsError) as caught:
        put(s3_ctx, "n", b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId="alias/none")
    assert (caught.value.code, caught.value.status) == ("KMS.NotFoundException", 400)


def test_reading_needs_kms_decrypt_and_writing_kms_generate_data_key(s3_ctx: Context) -> None:
    key = s3_ctx.platform.kms.create_key()
    asked: list[tuple[str, str]] = []

    def deny_decrypt(principal: Principal, action: str, resource: str) -> None:
        asked.append((action, resource))
        if action == "kms:Decrypt":
            raise AccessDenied(f"not authorized to perform: {action} on resource: {resource}")

    caller = replace(s3_ctx, permission_check=deny_decrypt)
    put(caller, "k", b"secret", ServerSideEncryption="aws:kms", SSEKMSKeyId=key.arn)
    with pytest.raises(AwsError) as caught:
        get(caller, "k")
    assert caught.value.code == "AccessDenied"
    assert asked == [("kms:GenerateDataKey", key.arn), ("kms:Decrypt", key.arn)]


def test_sagemaker_checks_the_keys_it_is_given(s3_ctx: Context) -> None:
    usable = s3_ctx.platform.kms.create_key()
    check_usable(s3_ctx, usable.arn, "KmsKeyId")
    check_usable(s3_ctx, "", "KmsKeyId")  # the default SageMaker fills in: no key
    with pytest.raises(AwsError, match="KmsKeyId: the KMS key 'alias/none' cannot be used"):
        check_usable(s3_ctx, "alias/none", "KmsKeyId")
    with pytest.raises(AwsError, match="ResourceConfig.VolumeKmsKeyId: the KMS key 'alias/none' cannot be used"):
        check_training_keys(s3_ctx, {"OutputDataConfig": {"KmsKeyId": usable.arn},
                                     "ResourceConfig": {"VolumeKmsKeyId": "alias/none"}})


def test_rotation_keeps_old_objects_readable(s3_ctx: Context) -> None:
    key = s3_ctx.platform.kms.create_key()
    put(s3_ctx, "old", b"before", ServerSideEncryption="aws:kms", SSEKMSKeyId=key.arn)
    kms.rotate_key_on_demand(s3_ctx, {"KeyId": key.key_id})
    put(s3_ctx, "new", b"after", ServerSideEncryption="aws:kms", SSEKMSKeyId=key.arn)
    assert (get(s3_ctx, "old"), get(s3_ctx, "new")) == (b"before", b"after")
