"""S3 server-side encryption through boto3: what objects record and answer, and a bucket's default."""

from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_s3_api import error_code

KEY_ARN = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
MANAGED_KEY = "arn:aws:kms:us-east-1:000000000000:alias/aws/s3"  # the account's AWS managed key for S3


@pytest.fixture
def bucket(s3: Any, unique: str) -> str:
    s3.create_bucket(Bucket=unique)
    return unique


def encryption(answer: dict[str, Any]) -> tuple[str | None, str | None]:
    return answer.get("ServerSideEncryption"), answer.get("SSEKMSKeyId")


def test_every_object_is_sse_s3_unless_asked_and_every_answer_says_so(s3: Any, bucket: str) -> None:
    assert encryption(s3.put_object(Bucket=bucket, Key="plain", Body=b"x")) == ("AES256", None)
    assert encryption(s3.head_object(Bucket=bucket, Key="plain")) == ("AES256", None)
    assert encryption(s3.get_object(Bucket=bucket, Key="plain")) == ("AES256", None)
    asked = s3.put_object(Bucket=bucket, Key="kms", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=KEY_ARN)
    assert encryption(asked) == ("aws:kms", KEY_ARN)
    assert encryption(s3.get_object(Bucket=bucket, Key="kms", Range="bytes=0-0")) == ("aws:kms", KEY_ARN)
    s3.put_object(Bucket=bucket, Key="managed", Body=b"x", ServerSideEncryption="aws:kms")
    assert encryption(s3.head_object(Bucket=bucket, Key="managed")) == ("aws:kms", MANAGED_KEY)


def test_a_copy_is_encrypted_as_asked_or_as_its_bucket(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"data", ServerSideEncryption="aws:kms", SSEKMSKeyId=KEY_ARN)
    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/src")
    assert encryption(copied) == ("AES256", None)  # S3 never copies the source's encryption
    assert encryption(s3.head_object(Bucket=bucket, Key="copy")) == ("AES256", None)
    in_place = s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/copy", ServerSideEncryption="aws:kms")
    assert encryption(in_place) == ("aws:kms", MANAGED_KEY)
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == b"data"


def test_a_multipart_upload_answers_its_encryption_at_every_step(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="aws:kms", SSEKMSKeyId=KEY_ARN)
    assert encryption(upload) == ("aws:kms", KEY_ARN)
    parts = [os.urandom(5 * 1024 * 1024), b"tail"]
    answers = [s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=n + 1, Body=part)
               for n, part in enumerate(parts)]
    assert [encryption(a) for a in answers] == [("aws:kms", KEY_ARN)] * 2
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": a["ETag"]} for n, a in enumerate(answers)]})
    assert encryption(done) == ("aws:kms", KEY_ARN)
    assert encryption(s3.head_object(Bucket=bucket, Key="mp")) == ("aws:kms", KEY_ARN)


def test_a_buckets_default_encryption_applies_to_new_objects(s3: Any, bucket: str) -> None:
    sse_s3 = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                         "BucketKeyEnabled": False}]}
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"] == sse_s3
    s3.put_object(Bucket=bucket, Key="before", Body=b"x")
    kms = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_ARN},
                      "BucketKeyEnabled": True}]}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=kms)
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"] == kms
    assert encryption(s3.put_object(Bucket=bucket, Key="after", Body=b"x")) == ("aws:kms", KEY_ARN)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    assert encryption(upload) == ("aws:kms", KEY_ARN)
    assert encryption(s3.put_object(Bucket=bucket, Key="asked", Body=b"x", ServerSideEncryption="AES256")) == (
        "AES256", None)
    assert encryption(s3.head_object(Bucket=bucket, Key="before")) == ("AES256", None)
    s3.delete_bucket_encryption(Bucket=bucket)
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"] == sse_s3
    assert encryption(s3.put_object(Bucket=bucket, Key="reset", Body=b"x")) == ("AES256", None)
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"])


def test_encryption_errors_in_s3s_words(s3: Any, bucket: str, unique: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256", SSEKMSKeyId=KEY_ARN)
    assert error_code(caught) == "InvalidArgument"
    assert "requires HTTP header x-amz-server-side-encryption : aws:kms" in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:fsx")
    assert error_code(caught) == "InvalidArgument"
    aes_with_key = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256",
                                                                      "KMSMasterKeyID": KEY_ARN}}]}
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=aes_with_key)
    assert error_code(caught) == "InvalidArgument"
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_encryption(Bucket=unique + "-missing")
    assert error_code(caught) == "NoSuchBucket"
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key="k")  # nothing refused was stored
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
