"""S3's server-side encryption in requests and answers: the x-amz-server-side-encryption headers of
object writes, what every object operation answers, and a bucket's ServerSideEncryptionConfiguration.

The store records the encryption with each object (see store/objects/base.py) and keeps SSE-KMS objects
encrypted under data keys of the region's KMS keys, which it reaches through `CallerKeys`: each use
checked against the caller's permissions, as S3 asks KMS on its caller's behalf. KMS's refusals are
answered in S3's words (`kms_errors`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from modelbay.errors import AwsError, ValidationError, aws_error
from modelbay.security.kms_keys import DataKey
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


class CallerKeys:
    """The region's KMS keys as S3 uses them for the caller (the store's DataKeys): a data key is generated
    under a key the caller may kms:GenerateDataKey with, and opened for a caller who may kms:Decrypt with it."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def generate_data_key(self, key_id: str, context: Mapping[str, str] | None = None) -> DataKey:
        ring = self._ctx.platform.kms
        self._ctx.check_permission("kms:GenerateDataKey", ring.key_arn(key_id))
        return ring.generate_data_key(key_id, context)

    def decrypt_data_key(self, ciphertext_blob: bytes, context: Mapping[str, str] | None = None) -> DataKey:
        data_key = self._ctx.platform.kms.decrypt_data_key(ciphertext_blob, context)
        self._ctx.check_permission("kms:Decrypt", data_key.key_arn)  # denied: the plaintext key goes unused
        return data_key


# KMS's refusals of S3's requests, which S3 answers with KMS's code prefixed by 'KMS.' and KMS's message.
_KMS_REFUSALS = ("DisabledException", "NotFoundException", "KMSInvalidStateException", "InvalidCiphertextException")
_S3_KMS_ERRORS = {code: aws_error(f"KMS.{code}", 400) for code in _KMS_REFUSALS}


@contextmanager
def kms_errors() -> Iterator[None]:
    """Answer KMS's refusals of an object's key in S3's words: a disabled key's read is a 400 KMS.DisabledException."""
    try:
        yield
    except AwsError as error:
        if error.code not in _S3_KMS_ERRORS:
            raise
        raise _S3_KMS_ERRORS[error.code](error.message) from error


def answered(headers: Mapping[str, str]) -> dict[str, str]:
    """The encryption members an answer about an object carries (an SSE-KMS object's name its key by ARN)."""
    return encryption_of(headers)


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
