"""IAM access keys as service functions: made as IAM makes them, the secret shown once and kept sealed, at most two
per user, deactivated and deleted; a user's own keys without UserName."""

from __future__ import annotations

import re

from modelbay.services.base import Context
from modelbay.store.metadata.iam import KeyUse
from tests.helpers import T0
from tests.unit.services.iam.iam_calls import as_user, call, error


def test_a_key_is_made_as_iam_makes_them_and_its_secret_is_kept_sealed(ctx: Context) -> None:
    call(ctx, "CreateUser", UserName="u")
    key = call(ctx, "CreateAccessKey", UserName="u")["AccessKey"]
    assert re.fullmatch("AKIA[A-Z2-7]{16}", key["AccessKeyId"]) and len(key["SecretAccessKey"]) == 40
    assert key["Status"] == "Active"
    stored = ctx.metadata.iam.find_access_key(key["AccessKeyId"])
    assert stored is not None and key["SecretAccessKey"].encode() not in stored.sealed_secret
    secret = ctx.platform.master_key.unseal(stored.sealed_secret, key["AccessKeyId"].encode())
    assert secret == key["SecretAccessKey"].encode()
    listed = call(ctx, "ListAccessKeys", UserName="u")["AccessKeyMetadata"]
    assert listed == [{"UserName": "u", "AccessKeyId": key["AccessKeyId"], "Status": "Active",
                       "CreateDate": stored.created}]  # no secret


def test_two_keys_at_most(ctx: Context) -> None:
    call(ctx, "CreateUser", UserName="u")
    call(ctx, "CreateAccessKey", UserName="u")
    call(ctx, "CreateAccessKey", UserName="u")
    assert error(ctx, "CreateAccessKey", UserName="u") == ("LimitExceeded", 409,
                                                           "Cannot exceed quota for AccessKeysPerUser: 2")


def test_a_user_manages_its_own_keys_without_naming_itself(ctx: Context) -> None:
    call(ctx, "CreateUser", UserName="u")
    user = as_user(ctx, "u")
    key_id = call(user, "CreateAccessKey")["AccessKey"]["AccessKeyId"]
    generation = ctx.platform.iam_changes.value
    call(user, "UpdateAccessKey", AccessKeyId=key_id, Status="Inactive")
    assert ctx.platform.iam_changes.value > generation  # the authenticator's cache must drop the key
    assert [key["Status"] for key in call(user, "ListAccessKeys")["AccessKeyMetadata"]] == ["Inactive"]
    call(ctx, "CreateUser", UserName="other")
    assert error(ctx, "DeleteAccessKey", UserName="other", AccessKeyId=key_id) == (
        "NoSuchEntity", 404, f"The Access Key with id {key_id} cannot be found.")
    call(user, "DeleteAccessKey", AccessKeyId=key_id)
    assert call(user, "ListAccessKeys")["AccessKeyMetadata"] == []
    assert error(ctx, "CreateAccessKey")[0] == "ValidationException"  # the root names the user


def test_last_used(ctx: Context) -> None:
    call(ctx, "CreateUser", UserName="u")
    key_id = call(ctx, "CreateAccessKey", UserName="u")["AccessKey"]["AccessKeyId"]
    assert call(ctx, "GetAccessKeyLastUsed", AccessKeyId=key_id) == {
        "UserName": "u", "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}}
    ctx.metadata.iam.record_key_use(key_id, KeyUse(T0, "sagemaker", "eu-west-1"))
    assert call(ctx, "GetAccessKeyLastUsed", AccessKeyId=key_id)["AccessKeyLastUsed"] == {
        "LastUsedDate": T0, "ServiceName": "sagemaker", "Region": "eu-west-1"}
    assert error(ctx, "GetAccessKeyLastUsed", AccessKeyId="AKIAAAAAAAAAAAAAAAAA")[0] == "NoSuchEntity"
