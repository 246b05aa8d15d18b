"""S3 server-side encryption through boto3: what objects record and answer, a bucket's default, and SSE-KMS
objects encrypted at rest under the server's KMS keys."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from modelbay.store.objects.key_paths import object_path
from tests.conftest import client
from tests.helpers import ServerProcess
from tests.integration.test_s3_api import error_code
from tests.integration.test_training_jobs import WAITER, program


@pytest.fixture(scope="module")
def kms(server: ServerProcess) -> Any:
    return client(server.url, "kms")


@pytest.fixture(scope="module")
def key_arn(kms: Any) -> str:
    arn: str = kms.create_key(Description="SSE-KMS tests")["KeyMetadata"]["Arn"]
    return arn


@pytest.fixture(scope="module")
def managed_key(kms: Any) -> str:
    """The account's AWS managed key for S3, made by the first SSE-KMS write that names no key."""
    arn: str = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["Arn"]
    return arn


@pytest.fixture
def bucket(s3: Any, unique: str) -> str:
    s3.create_bucket(Bucket=unique)
    return unique


def stored(server: ServerProcess, bucket: str, key: str) -> bytes:
    """An object's file in the server's object store, as it lies on disk."""
    return object_path(server.data_dir / "objects" / bucket, key).read_bytes()


def encryption(answer: dict[str, Any]) -> tuple[str | None, str | None]:
    return answer.get("ServerSideEncryption"), answer.get("SSEKMSKeyId")


def test_every_object_is_sse_s3_unless_asked_and_every_answer_says_so(s3: Any, bucket: str, key_arn: str,
                                                                      managed_key: str) -> None:
    assert encryption(s3.put_object(Bucket=bucket, Key="plain", Body=b"x")) == ("AES256", None)
    assert encryption(s3.head_object(Bucket=bucket, Key="plain")) == ("AES256", None)
    assert encryption(s3.get_object(Bucket=bucket, Key="plain")) == ("AES256", None)
    asked = s3.put_object(Bucket=bucket, Key="kms", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn)
    assert encryption(asked) == ("aws:kms", key_arn)
    assert encryption(s3.get_object(Bucket=bucket, Key="kms", Range="bytes=0-0")) == ("aws:kms", key_arn)
    s3.put_object(Bucket=bucket, Key="managed", Body=b"x", ServerSideEncryption="aws:kms")
    assert encryption(s3.head_object(Bucket=bucket, Key="managed")) == ("aws:kms", managed_key)


def test_a_copy_is_encrypted_as_asked_or_as_its_bucket(s3: Any, bucket: str, key_arn: str, managed_key: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"data", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn)
    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/src")
    assert encryption(copied) == ("AES256", None)  # S3 never copies the source's encryption
    assert encryption(s3.head_object(Bucket=bucket, Key="copy")) == ("AES256", None)
    in_place = s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/copy", ServerSideEncryption="aws:kms")
    assert encryption(in_place) == ("aws:kms", managed_key)
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == b"data"


def test_a_multipart_upload_answers_its_encryption_at_every_step(s3: Any, bucket: str, key_arn: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn)
    assert encryption(upload) == ("aws:kms", key_arn)
    parts = [os.urandom(5 * 1024 * 1024), b"tail"]
    answers = [s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=n + 1, Body=part)
               for n, part in enumerate(parts)]
    assert [encryption(a) for a in answers] == [("aws:kms", key_arn)] * 2
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": a["ETag"]} for n, a in enumerate(answers)]})
    assert encryption(done) == ("aws:kms", key_arn)
    assert encryption(s3.head_object(Bucket=bucket, Key="mp")) == ("aws:kms", key_arn)
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(parts)


def test_a_buckets_default_encryption_applies_to_new_objects(s3: Any, bucket: str, key_arn: str) -> None:
    sse_s3 = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                         "BucketKeyEnabled": False}]}
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"] == sse_s3
    s3.put_object(Bucket=bucket, Key="before", Body=b"x")
    kms = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                      "BucketKeyEnabled": True}]}
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=kms)
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"] == kms
    assert encryption(s3.put_object(Bucket=bucket, Key="after", Body=b"x")) == ("aws:kms", key_arn)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    assert encryption(upload) == ("aws:kms", key_arn)
    assert encryption(s3.put_object(Bucket=bucket, Key="asked", Body=b"x", ServerSideEncryption="AES256")) == (
        "AES256", None)
    assert encryption(s3.head_object(Bucket=bucket, Key="before")) == ("AES256", None)
    s3.delete_bucket_encryption(Bucket=bucket)
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"] == sse_s3
    assert encryption(s3.put_object(Bucket=bucket, Key="reset", Body=b"x")) == ("AES256", None)
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"])


def test_encryption_errors_in_s3s_words(s3: Any, bucket: str, unique: str, key_arn: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256", SSEKMSKeyId=key_arn)
    assert error_code(caught) == "InvalidArgument"
    assert "requires HTTP header x-amz-server-side-encryption : aws:kms" in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:fsx")
    assert error_code(caught) == "InvalidArgument"
    aes_with_key = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256",
                                                                      "KMSMasterKeyID": key_arn}}]}
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=aes_with_key)
    assert error_code(caught) == "InvalidArgument"
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_encryption(Bucket=unique + "-missing")
    assert error_code(caught) == "NoSuchBucket"
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key="k")  # nothing refused was stored
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_an_sse_kms_object_is_ciphertext_on_disk_and_reads_back(s3: Any, server: ServerProcess, bucket: str,
                                                                key_arn: str) -> None:
    body = b"the quick brown fox " * 10_000  # 200 kB: several segments
    s3.put_object(Bucket=bucket, Key="secret", Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn)
    s3.put_object(Bucket=bucket, Key="plain", Body=body)
    assert body[:40] in stored(server, bucket, "plain")  # SSE-S3 is recorded only
    assert body[:40] not in stored(server, bucket, "secret")
    assert s3.get_object(Bucket=bucket, Key="secret")["Body"].read() == body
    ranged = s3.get_object(Bucket=bucket, Key="secret", Range="bytes=65530-65545")
    assert (ranged["Body"].read(), ranged["ContentRange"]) == (body[65530:65546], f"bytes 65530-65545/{len(body)}")
    assert s3.head_object(Bucket=bucket, Key="secret")["ContentLength"] == len(body)


def test_a_disabled_key_fails_reads_with_kmss_error(s3: Any, kms: Any, bucket: str) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"data", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id)
    kms.disable_key(KeyId=key_id)
    for read in ({}, {"Range": "bytes=0-1"}):
        with pytest.raises(ClientError) as caught:
            s3.get_object(Bucket=bucket, Key="k", **read)
        assert error_code(caught) == "KMS.DisabledException"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="new", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id)
    assert error_code(caught) == "KMS.DisabledException"
    kms.enable_key(KeyId=key_id)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"data"


def test_rotation_keeps_old_objects_readable(s3: Any, kms: Any, bucket: str) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    s3.put_object(Bucket=bucket, Key="old", Body=b"before", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id)
    kms.rotate_key_on_demand(KeyId=key_id)
    s3.put_object(Bucket=bucket, Key="new", Body=b"after", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id)
    assert s3.get_object(Bucket=bucket, Key="old")["Body"].read() == b"before"
    assert s3.get_object(Bucket=bucket, Key="new")["Body"].read() == b"after"


def test_an_unknown_key_is_refused_before_anything_is_stored(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms",
                      SSEKMSKeyId="alias/no-such-key")
    assert error_code(caught) == "KMS.NotFoundException"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def train(sagemaker: Any, name: str, image: str, bucket: str, output: dict[str, str],
          resources: dict[str, Any] | None = None) -> None:
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn="arn:aws:iam::000000000000:role/SageMakerRole",
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out", **output},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1, **(resources or {})},
        StoppingCondition={"MaxRuntimeInSeconds": 600})


def test_a_training_jobs_output_key_encrypts_its_model_at_rest(sagemaker: Any, s3: Any, server: ServerProcess,
                                                               bucket: str, unique: str, scratch: Path,
                                                               key_arn: str) -> None:
    s3.put_object(Bucket=bucket, Key="data/rows.csv", Body=b"1,2\n")
    image = program(scratch / "image", "cp /opt/ml/input/data/train/rows.csv /opt/ml/model/model.txt\n")
    train(sagemaker, unique, image, bucket, {"KmsKeyId": key_arn})
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=unique, WaiterConfig=WAITER)
    job = sagemaker.describe_training_job(TrainingJobName=unique)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    key = f"out/{unique}/output/model.tar.gz"
    assert encryption(s3.head_object(Bucket=bucket, Key=key)) == ("aws:kms", key_arn)
    assert not stored(server, bucket, key).startswith(b"\x1f\x8b")  # no gzip stream on disk
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        model = archive.extractfile("model.txt")
        assert model is not None and model.read() == b"1,2\n"


def test_sagemaker_refuses_a_disabled_key_and_volume_keys(sagemaker: Any, kms: Any, bucket: str, unique: str,
                                                          key_arn: str) -> None:
    disabled = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=disabled)
    refused = [({"KmsKeyId": disabled}, {}, f"OutputDataConfig.KmsKeyId: the KMS key '{disabled}' cannot be used"),
               ({}, {"VolumeKmsKeyId": disabled}, f"ResourceConfig.VolumeKmsKeyId: the KMS key '{disabled}' cannot be")]
    for output, resources, message in refused:
        with pytest.raises(ClientError) as caught:
            train(sagemaker, unique, "unused", bucket, output, resources)
        assert error_code(caught) == "ValidationException"
        assert message in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as caught:
        sagemaker.create_endpoint_config(EndpointConfigName=unique, KmsKeyId="alias/no-such-key", ProductionVariants=[
            {"VariantName": "v", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}])
    assert error_code(caught) == "ValidationException" and "alias/no-such-key" in str(caught.value)
