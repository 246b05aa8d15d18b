"""The KMS operations as service functions over a real SQLite metadata store, their answers checked against
botocore's output shapes."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest

from modelbay.services.base import Context
from modelbay.services.kms import OPERATIONS
from tests.helpers import Clock
from tests.unit.services.service_calls import ServiceCalls

MODEL = botocore.session.get_session().get_service_model("kms")
ROLE = "arn:aws:iam::000000000000:role/sagemaker"


CALLS = ServiceCalls("kms", OPERATIONS)
call = CALLS.call


def error(ctx: Context, operation: str, **params: Any) -> tuple[str, str]:
    code, _, message = CALLS.error(ctx, operation, **params)
    return code, message


def new_key(ctx: Context, **params: Any) -> dict[str, Any]:
    return call(ctx, "CreateKey", **params)["KeyMetadata"]  # type: ignore[no-any-return]


def arn(key_id: str) -> str:
    return f"arn:aws:kms:us-east-1:000000000000:key/{key_id}"


def test_operations_are_the_models() -> None:
    assert set(OPERATIONS) <= set(MODEL.operation_names)


def test_create_key_answers_key_metadata_with_the_default_policy(ctx: Context) -> None:
    key = new_key(ctx, Description="training data", Tags=[{"TagKey": "team", "TagValue": "ml"}])
    assert key["Arn"] == f"arn:aws:kms:us-east-1:000000000000:key/{key['KeyId']}"
    assert (key["KeyState"], key["Enabled"], key["KeyManager"], key["KeySpec"]) == ("Enabled", True, "CUSTOMER",
                                                                                    "SYMMETRIC_DEFAULT")
    assert call(ctx, "DescribeKey", KeyId=key["Arn"])["KeyMetadata"] == key
    policy = json.loads(call(ctx, "GetKeyPolicy", KeyId=key["KeyId"])["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::000000000000:root"}
    assert policy["Statement"][0]["Action"] == "kms:*"
    assert call(ctx, "ListResourceTags", KeyId=key["KeyId"])["Tags"] == [{"TagKey": "team", "TagValue": "ml"}]


@pytest.mark.parametrize(("params", "code"), [
    ({"KeySpec": "RSA_2048"}, "UnsupportedOperationException"),
    ({"KeyUsage": "SIGN_VERIFY"}, "ValidationException"),
    ({"MultiRegion": True}, "UnsupportedOperationException"),
    ({"Origin": "EXTERNAL"}, "UnsupportedOperationException"),
    ({"Policy": "{not json"}, "MalformedPolicyDocumentException"),
    ({"Policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})},
     "MalformedPolicyDocumentException"),
    ({"Tags": [{"TagKey": "aws:reserved", "TagValue": "x"}]}, "TagException"),
])
def test_keys_modelbay_does_not_make_are_refused(ctx: Context, params: dict[str, Any], code: str) -> None:
    assert error(ctx, "CreateKey", **params)[0] == code
    assert call(ctx, "ListKeys")["Keys"] == []


def test_list_keys_pages_with_markers(ctx: Context) -> None:
    ids = [new_key(ctx)["KeyId"] for _ in range(3)]
    first = call(ctx, "ListKeys", Limit=2)
    assert [k["KeyId"] for k in first["Keys"]] == ids[:2] and first["Truncated"]
    rest = call(ctx, "ListKeys", Limit=2, Marker=first["NextMarker"])
    assert [k["KeyId"] for k in rest["Keys"]] == ids[2:] and not rest["Truncated"] and "NextMarker" not in rest
    assert error(ctx, "ListKeys", Marker="bogus")[0] == "InvalidMarkerException"


def test_encrypt_and_decrypt_bind_the_encryption_context(ctx: Context) -> None:
    key = new_key(ctx)
    call(ctx, "CreateAlias", AliasName="alias/data", TargetKeyId=key["KeyId"])
    encrypted = call(ctx, "Encrypt", KeyId="alias/data", Plaintext=b"secret", EncryptionContext={"k": "v"})
    assert encrypted["KeyId"] == key["Arn"]
    decrypted = call(ctx, "Decrypt", CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext={"k": "v"})
    assert (decrypted["Plaintext"], decrypted["KeyId"]) == (b"secret", key["Arn"])
    assert decrypted["KeyMaterialId"] == key["CurrentKeyMaterialId"]
    assert error(ctx, "Decrypt", CiphertextBlob=encrypted["CiphertextBlob"])[0] == "InvalidCiphertextException"
    other = new_key(ctx)
    assert error(ctx, "Decrypt", CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext={"k": "v"},
                 KeyId=other["KeyId"])[0] == "IncorrectKeyException"
    assert error(ctx, "Encrypt", KeyId=key["KeyId"], Plaintext=b"x", DryRun=True)[0] == "DryRunOperationException"
    assert error(ctx, "Encrypt", KeyId=key["KeyId"], Plaintext=b"x",
                 EncryptionAlgorithm="RSAES_OAEP_SHA_1")[0] == "InvalidKeyUsageException"


def test_data_keys_and_re_encryption(ctx: Context) -> None:
    key, other = new_key(ctx), new_key(ctx)
    data_key = call(ctx, "GenerateDataKey", KeyId=key["KeyId"], KeySpec="AES_128")
    assert len(data_key["Plaintext"]) == 16
    assert len(call(ctx, "GenerateDataKey", KeyId=key["KeyId"], NumberOfBytes=64)["Plaintext"]) == 64
    hidden = call(ctx, "GenerateDataKeyWithoutPlaintext", KeyId=key["KeyId"], KeySpec="AES_256")
    assert "Plaintext" not in hidden
    assert len(call(ctx, "Decrypt", CiphertextBlob=hidden["CiphertextBlob"])["Plaintext"]) == 32
    for params in ({}, {"KeySpec": "AES_256", "NumberOfBytes": 32}):
        assert error(ctx, "GenerateDataKey", KeyId=key["KeyId"], **params)[0] == "ValidationException"
    moved = call(ctx, "ReEncrypt", CiphertextBlob=data_key["CiphertextBlob"], DestinationKeyId=other["Arn"],
                 DestinationEncryptionContext={"to": "other"})
    assert (moved["SourceKeyId"], moved["KeyId"]) == (key["Arn"], other["Arn"])
    again = call(ctx, "Decrypt", CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"to": "other"})
    assert again["Plaintext"] == data_key["Plaintext"]
    assert error(ctx, "ReEncrypt", CiphertextBlob=data_key["CiphertextBlob"], SourceKeyId=other["KeyId"],
                 DestinationKeyId=other["KeyId"])[0] == "IncorrectKeyException"
    assert len(call(ctx, "GenerateRandom", NumberOfBytes=24)["Plaintext"]) == 24


def test_disabling_and_scheduling_deletion(ctx: Context, clock: Clock) -> None:
    key = new_key(ctx)
    arn = key["Arn"]
    call(ctx, "DisableKey", KeyId=arn)
    assert error(ctx, "Encrypt", KeyId=arn, Plaintext=b"x") == ("DisabledException", f"{arn} is disabled.")
    assert error(ctx, "ScheduleKeyDeletion", KeyId=arn, PendingWindowInDays=6)[0] == "ValidationException"
    scheduled = call(ctx, "ScheduleKeyDeletion", KeyId=arn)
    assert (scheduled["KeyState"], scheduled["PendingWindowInDays"]) == ("PendingDeletion", 30)
    described = call(ctx, "DescribeKey", KeyId=arn)["KeyMetadata"]
    assert described["DeletionDate"] == scheduled["DeletionDate"] and described["PendingDeletionWindowInDays"] == 30
    assert error(ctx, "EnableKey", KeyId=arn) == ("KMSInvalidStateException", f"{arn} is pending deletion.")
    assert error(ctx, "GenerateDataKey", KeyId=arn, KeySpec="AES_256")[0] == "KMSInvalidStateException"
    assert call(ctx, "CancelKeyDeletion", KeyId=arn) == {"KeyId": arn}
    assert call(ctx, "DescribeKey", KeyId=arn)["KeyMetadata"]["KeyState"] == "Disabled"
    assert error(ctx, "CancelKeyDeletion", KeyId=arn) == ("KMSInvalidStateException",
                                                          f"{arn} is not pending deletion.")
    call(ctx, "ScheduleKeyDeletion", KeyId=arn, PendingWindowInDays=7)
    clock.now = scheduled["DeletionDate"]
    assert call(ctx, "ListKeys")["Keys"] == []
    assert error(ctx, "DescribeKey", KeyId=arn)[0] == "NotFoundException"


def test_rotation_settings_and_rotations(ctx: Context) -> None:
    key_id = new_key(ctx)["KeyId"]
    assert call(ctx, "GetKeyRotationStatus", KeyId=key_id)["KeyRotationEnabled"] is False
    call(ctx, "EnableKeyRotation", KeyId=key_id, RotationPeriodInDays=180)
    status = call(ctx, "GetKeyRotationStatus", KeyId=key_id)
    assert status["KeyRotationEnabled"] and status["RotationPeriodInDays"] == 180 and "NextRotationDate" in status
    assert call(ctx, "ListKeyRotations", KeyId=key_id)["Rotations"] == []
    before = call(ctx, "Encrypt", KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    call(ctx, "RotateKeyOnDemand", KeyId=key_id)
    rotations = call(ctx, "ListKeyRotations", KeyId=key_id)["Rotations"]
    assert [(r["RotationType"], r["KeyMaterialState"]) for r in rotations] == [("ON_DEMAND", "CURRENT")]
    everything = call(ctx, "ListKeyRotations", KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [r["KeyMaterialState"] for r in everything] == ["NON_CURRENT", "CURRENT"]
    assert call(ctx, "Decrypt", CiphertextBlob=before)["Plaintext"] == b"before"
    call(ctx, "DisableKeyRotation", KeyId=key_id)
    assert call(ctx, "GetKeyRotationStatus", KeyId=key_id) == {"KeyRotationEnabled": False,
                                                               "KeyId": arn(key_id)}
    call(ctx, "DisableKey", KeyId=key_id)
    assert error(ctx, "EnableKeyRotation", KeyId=key_id)[0] == "DisabledException"


def test_aliases(ctx: Context) -> None:
    first, second = new_key(ctx)["KeyId"], new_key(ctx)["KeyId"]
    call(ctx, "CreateAlias", AliasName="alias/model", TargetKeyId=first)
    assert error(ctx, "CreateAlias", AliasName="alias/model", TargetKeyId=second) == (
        "AlreadyExistsException",
        "An alias with the name arn:aws:kms:us-east-1:000000000000:alias/model already exists")
    assert error(ctx, "CreateAlias", AliasName="model", TargetKeyId=first)[0] == "ValidationException"
    assert error(ctx, "CreateAlias", AliasName="alias/aws/mine", TargetKeyId=first)[0] == "NotAuthorizedException"
    assert error(ctx, "CreateAlias", AliasName="alias/other", TargetKeyId="alias/model")[0] == "ValidationException"
    call(ctx, "UpdateAlias", AliasName="alias/model", TargetKeyId=second)
    assert call(ctx, "DescribeKey", KeyId="alias/model")["KeyMetadata"]["KeyId"] == second
    listed = call(ctx, "ListAliases")["Aliases"]
    assert [(a["AliasName"], a.get("TargetKeyId")) for a in listed] == [
        ("alias/model", second), ("alias/aws/s3", None), ("alias/aws/sagemaker", None)]
    assert call(ctx, "ListAliases", KeyId=first)["Aliases"] == []
    call(ctx, "DeleteAlias", AliasName="alias/model")
    assert error(ctx, "DeleteAlias", AliasName="alias/model") == (
        "NotFoundException", "Alias arn:aws:kms:us-east-1:000000000000:alias/model is not found.")


def test_aws_managed_keys_are_made_on_first_use_and_not_changed_by_users(ctx: Context) -> None:
    managed = call(ctx, "DescribeKey", KeyId="alias/aws/s3")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    assert call(ctx, "GetKeyRotationStatus", KeyId="alias/aws/s3")["RotationPeriodInDays"] == 365
    for operation in ("DisableKey", "ScheduleKeyDeletion", "EnableKeyRotation"):
        assert error(ctx, operation, KeyId="alias/aws/s3")[0] == "UnsupportedOperationException"
    assert [a.get("TargetKeyId") for a in call(ctx, "ListAliases")["Aliases"]] == [managed["KeyId"], None]


def test_key_policies(ctx: Context) -> None:
    key_id = new_key(ctx)["KeyId"]
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt", "Resource": "*"}]})
    call(ctx, "PutKeyPolicy", KeyId=key_id, Policy=policy)
    assert call(ctx, "GetKeyPolicy", KeyId=key_id, PolicyName="default")["Policy"] == policy
    assert error(ctx, "GetKeyPolicy", KeyId=key_id, PolicyName="other") == ("NotFoundException",
                                                                            "No such policy exists")
    assert error(ctx, "PutKeyPolicy", KeyId=key_id, Policy="[]")[0] == "MalformedPolicyDocumentException"
    assert call(ctx, "ListKeyPolicies", KeyId=key_id)["PolicyNames"] == ["default"]


def test_grants(ctx: Context) -> None:
    key_id = new_key(ctx)["KeyId"]
    params = {"KeyId": key_id, "GranteePrincipal": ROLE, "Operations": ["Decrypt", "GenerateDataKey"],
              "Name": "training-volume"}
    grant = call(ctx, "CreateGrant", **params)
    assert call(ctx, "CreateGrant", **params) == grant  # the same grant again
    other = call(ctx, "CreateGrant", KeyId=key_id, GranteePrincipal=ROLE, Operations=["Encrypt"])
    listed = call(ctx, "ListGrants", KeyId=key_id)["Grants"]
    assert [(g["GrantId"], g.get("Name")) for g in listed] == [(grant["GrantId"], "training-volume"),
                                                               (other["GrantId"], None)]
    assert listed[0]["IssuingAccount"] == "arn:aws:iam::000000000000:root"
    call(ctx, "RetireGrant", GrantToken=grant["GrantToken"])
    call(ctx, "RevokeGrant", KeyId=key_id, GrantId=other["GrantId"])
    assert call(ctx, "ListGrants", KeyId=key_id)["Grants"] == []
    assert error(ctx, "RevokeGrant", KeyId=key_id, GrantId=other["GrantId"])[0] == "InvalidGrantIdException"
    assert error(ctx, "RetireGrant", GrantToken=grant["GrantToken"])[0] == "InvalidGrantTokenException"


def test_tags(ctx: Context) -> None:
    key_id = new_key(ctx)["KeyId"]
    call(ctx, "TagResource", KeyId=key_id, Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": "2"}])
    call(ctx, "UntagResource", KeyId=key_id, TagKeys=["a"])
    assert call(ctx, "ListResourceTags", KeyId=key_id)["Tags"] == [{"TagKey": "b", "TagValue": "2"}]
    many = [{"TagKey": f"k{n}", "TagValue": "v"} for n in range(50)]
    assert error(ctx, "TagResource", KeyId=key_id, Tags=many)[0] == "TagException"
    assert len(call(ctx, "ListResourceTags", KeyId=key_id)["Tags"]) == 1
