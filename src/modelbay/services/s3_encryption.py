"""S3's server-side encryption in requests and answers: the x-amz-server-side-encryption headers of
object writes, what every object operation answers, and a bucket's ServerSideEncryptionConfiguration.

The store records the encryption with each object (see store/objects/base.py); SSE-KMS is recorded
and answered, its keys come with KMS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelbay.errors import ValidationError
from modelbay.services.base import Context
from modelbay.store.objects import BucketEncryption, encryption_of

# What S3 accepts for a general purpose bucket (the model's enum also names FSx's and Backup's).
ALGORITHMS = ("AES256", "aws:kms", "aws:kms:dsse")
_KMS = ("aws:kms", "aws:kms:dsse")


def requested(params: dict[str, Any]) -> dict[str, str]:
    """The encryption an object write asks for (ServerSideEncryption, SSEKMSKeyId), checked as S3 does."""
    algorithm, key_id = params.get("ServerSideEncryption"), params.get("SSEKMSKeyId")
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise ValidationError("The encryption method specified is not supported",
                              ArgumentName="x-amz-server-side-encryption", ArgumentValue=algorithm)
    if key_id and algorithm not in _KMS:
        raise ValidationError("Server Side Encryption with AWS KMS managed key requires HTTP header "
                              "x-amz-server-side-encryption : aws:kms",
                              ArgumentName="x-amz-server-side-encryption-aws-kms-key-id", ArgumentValue=key_id)
    return encryption_of({"ServerSideEncryption": algorithm or "", "SSEKMSKeyId": key_id or ""})


def answered(ctx: Context, headers: Mapping[str, str]) -> dict[str, str]:
    """The encryption members an answer about an object carries: SSE-KMS without a key of the
    writer's names the account's AWS managed key for S3, as S3 does."""
    found = encryption_of(headers)
    if found.get("ServerSideEncryption") in _KMS and "SSEKMSKeyId" not in found:
        found["SSEKMSKeyId"] = f"arn:aws:kms:{ctx.region}:{ctx.principal.account_id}:alias/aws/s3"
    return found


def configuration(encryption: BucketEncryption) -> dict[str, Any]:
    """A bucket's default as GetBucketEncryption answers it."""
    default = {"SSEAlgorithm": encryption.algorithm}
    if encryption.kms_key_id:
        default["KMSMasterKeyID"] = encryption.kms_key_id
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": default,
                       "BucketKeyEnabled": encryption.bucket_key_enabled}]}


def bucket_encryption(configured: dict[str, Any]) -> BucketEncryption:
    """A PutBucketEncryption's configuration (its one rule), checked as S3 does."""
    rules = configured.get("Rules") or []
    if len(rules) != 1:
        raise ValidationError("The server-side encryption configuration has exactly one rule",
                              ArgumentName="ServerSideEncryptionConfiguration", ArgumentValue=str(len(rules)))
    default = rules[0].get("ApplyServerSideEncryptionByDefault") or {}
    algorithm, key_id = default.get("SSEAlgorithm", "AES256"), default.get("KMSMasterKeyID")
    if algorithm not in ALGORITHMS:
        raise ValidationError("The encryption method specified is not supported",
                              ArgumentName="SSEAlgorithm", ArgumentValue=algorithm)
    if key_id and algorithm not in _KMS:
        raise ValidationError("a KMSMasterKeyID is not applicable if the default sse algorithm is not "
                              "aws:kms or aws:kms:dsse", ArgumentName="KMSMasterKeyID", ArgumentValue=key_id)
    return BucketEncryption(algorithm, key_id or None, bool(rules[0].get("BucketKeyEnabled", False)))
