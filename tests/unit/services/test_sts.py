"""STS as service functions over a real SQLite store: who is calling, a user's own sessions (with MFA), and role
sessions under the role's trust policy, with their limits, tags, policies and chaining."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
from datetime import timedelta
from typing import Any

import pyotp
import pytest

from modelbay.security.principal import ASSUMED_ROLE, IAM_USER, Principal
from modelbay.services.base import Context
from modelbay.services.iam import OPERATIONS as IAM
from modelbay.services.sts import OPERATIONS
from tests.helpers import T0, Clock
from tests.unit.services.service_calls import ServiceCalls

STEP = timedelta(seconds=30)
NOW = T0 + timedelta(seconds=1)


@pytest.fixture(autouse=True)
def frozen(clock: Clock) -> None:
    clock.step = timedelta(0)
    clock.now = NOW


@pytest.fixture
def root(ctx: Context) -> Context:
    return dataclasses.replace(ctx, principal=Principal("AKIAROOT", ctx.settings.account_id))


@pytest.fixture
def alice(ctx: Context) -> Context:
    """A call by the IAM user alice (tagged team=ml)."""
    account = ctx.settings.account_id
    user = ctx.metadata.iam.create_user("alice", "/", f"arn:aws:iam::{account}:user/alice", "AIDAALICEEXAMPLE",
                                        tags=(("team", "ml"),))
    return dataclasses.replace(ctx, principal=Principal("AKIAALICE", account, IAM_USER, "alice", "/", user.user_id,
                                                        tags=(("team", "ml"),)))


CALLS = ServiceCalls("sts", OPERATIONS)
call, error = CALLS.call, CALLS.error


ALL_TRUST_ACTIONS = ("sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity")


def role(ctx: Context, name: str, principal: object, condition: dict[str, Any] | None = None,
         actions: tuple[str, ...] = ALL_TRUST_ACTIONS, **params: Any) -> str:
    """A role trusting `principal` (a Principal element's AWS value) with `actions`; its ARN."""
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": list(actions)}
    trust = {"Version": "2012-10-17", "Statement": [statement | ({"Condition": condition} if condition else {})]}
    made = IAM["CreateRole"](ctx, {"RoleName": name, "AssumeRolePolicyDocument": json.dumps(trust), **params})
    return str(made["Role"]["Arn"])  # type: ignore[index]


def session_context(ctx: Context, credentials: dict[str, Any]) -> Context:
    """A call signed with the credentials, as the authenticator makes its principal."""
    found = ctx.metadata.sessions.find(credentials["AccessKeyId"])
    assert found is not None
    return dataclasses.replace(ctx, principal=Principal(
        found.access_key_id, ctx.settings.account_id, found.kind, found.name, found.path, found.unique_id,
        found.session_name, found.mfa_authenticated_at, tuple(sorted(found.tags.items()))))


def mfa_device(alice: Context) -> tuple[str, pyotp.TOTP]:
    """Alice's enabled virtual MFA device (the codes of NOW - 1 step and NOW used to enable it)."""
    made = IAM["CreateVirtualMFADevice"](alice, {"VirtualMFADeviceName": "alice-phone"})["VirtualMFADevice"]  # type: ignore[index]
    serial, totp = made["SerialNumber"], pyotp.TOTP(made["Base32StringSeed"].decode())
    IAM["EnableMFADevice"](alice, {"UserName": "alice", "SerialNumber": serial, "AuthenticationCode1":
                                   totp.at(NOW - STEP), "AuthenticationCode2": totp.at(NOW)})
    return serial, totp


def test_every_kind_of_caller_is_told_who_it_is(root: Context, alice: Context) -> None:
    account = root.settings.account_id
    assert call(root, "GetCallerIdentity") == {"UserId": account, "Account": account,
                                               "Arn": f"arn:aws:iam::{account}:root"}
    assert call(alice, "GetCallerIdentity") == {"UserId": "AIDAALICEEXAMPLE", "Account": account,
                                                "Arn": f"arn:aws:iam::{account}:user/alice"}
    session = dataclasses.replace(alice, principal=Principal("ASIAX", account, ASSUMED_ROLE, "builder", "/ci/",
                                                             "AROABUILDER", "nightly"))
    assert call(session, "GetCallerIdentity") == {"UserId": "AROABUILDER:nightly", "Account": account,
                                                  "Arn": f"arn:aws:sts::{account}:assumed-role/builder/nightly"}


def test_a_users_session_credentials_are_kept_sealed_and_hashed(alice: Context) -> None:
    generation = alice.platform.iam_changes.value
    credentials = call(alice, "GetSessionToken")["Credentials"]
    assert re.fullmatch(r"ASIA[A-Z2-7]{16}", credentials["AccessKeyId"])
    assert len(credentials["SecretAccessKey"]) == 40 and len(credentials["SessionToken"]) >= 300
    assert credentials["Expiration"] == NOW + timedelta(hours=12)
    stored = alice.metadata.sessions.find(credentials["AccessKeyId"])
    assert stored is not None
    assert stored.token_sha256 == hashlib.sha256(credentials["SessionToken"].encode()).hexdigest()
    assert credentials["SecretAccessKey"].encode() not in stored.sealed_secret
    assert alice.platform.master_key.unseal(stored.sealed_secret, credentials["AccessKeyId"].encode()) == \
        credentials["SecretAccessKey"].encode()
    assert (stored.kind, stored.name, stored.unique_id, stored.mfa_authenticated_at) == (
        IAM_USER, "alice", "AIDAALICEEXAMPLE", None)
    assert alice.platform.iam_changes.value > generation


def test_session_lengths_of_users_and_the_root(root: Context, alice: Context) -> None:
    assert call(alice, "GetSessionToken", DurationSeconds=900)["Credentials"]["Expiration"] == NOW + STEP * 30
    assert call(root, "GetSessionToken", DurationSeconds=7200)["Credentials"]["Expiration"] == NOW + STEP * 120
    credentials = call(alice, "GetSessionToken")["Credentials"]
    assert error(session_context(alice, credentials), "GetSessionToken") == (
        "AccessDenied", 403, "Cannot call GetSessionToken with session credentials")


def test_a_session_is_mfa_authenticated_by_a_code_used_once(alice: Context) -> None:
    serial, totp = mfa_device(alice)
    credentials = call(alice, "GetSessionToken", SerialNumber=serial, TokenCode=totp.at(NOW + STEP))["Credentials"]
    stored = alice.metadata.sessions.find(credentials["AccessKeyId"])
    assert stored is not None and stored.mfa_authenticated_at == NOW
    invalid = ("AccessDenied", 403, "MultiFactorAuthentication failed with invalid MFA one time pass code.")
    assert error(alice, "GetSessionToken", SerialNumber=serial, TokenCode=totp.at(NOW + STEP)) == invalid  # reused
    assert error(alice, "GetSessionToken", SerialNumber=serial, TokenCode=totp.at(NOW + 3 * STEP)) == invalid
    assert error(alice, "GetSessionToken", SerialNumber=serial)[2] == (
        "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code.")


def test_only_the_callers_own_device_authenticates_it(alice: Context, root: Context) -> None:
    serial, totp = mfa_device(alice)
    code, status, message = error(root, "GetSessionToken", SerialNumber=serial, TokenCode=totp.at(NOW + STEP))
    assert (code, status) == ("AccessDenied", 403) and "associated with this user" in message


def test_a_role_trusting_the_caller_gives_a_role_session(alice: Context) -> None:
    account = alice.settings.account_id
    arn = role(alice, "builder", f"arn:aws:iam::{account}:user/alice", Path="/ci/")
    policy = json.dumps({"Version": "2012-10-17",
                         "Statement": [{"Effect": "Allow", "Action": "sagemaker:List*", "Resource": "*"}]})
    answer = call(alice, "AssumeRole", RoleArn=arn, RoleSessionName="nightly", Policy=policy,
                  Tags=[{"Key": "project", "Value": "churn"}], TransitiveTagKeys=["project"], SourceIdentity="alice")
    role_id = alice.metadata.roles.get("builder").request["RoleId"]  # type: ignore[union-attr]
    assert answer["AssumedRoleUser"] == {"AssumedRoleId": f"{role_id}:nightly",
                                         "Arn": f"arn:aws:sts::{account}:assumed-role/builder/nightly"}
    assert 0 < answer["PackedPolicySize"] <= 100 and answer["SourceIdentity"] == "alice"
    assert answer["Credentials"]["Expiration"] == NOW + timedelta(hours=1)
    stored = alice.metadata.sessions.find(answer["Credentials"]["AccessKeyId"])
    assert stored == dataclasses.replace(
        stored, kind=ASSUMED_ROLE, name="builder", path="/ci/", unique_id=role_id, session_name="nightly",
        tags={"project": "churn"}, transitive_tag_keys=("project",), session_policy=policy, source_identity="alice",
        chained=False)


def test_a_role_not_trusting_the_caller_or_not_there_is_refused_alike(alice: Context, root: Context) -> None:
    account = alice.settings.account_id
    arn = role(alice, "other", f"arn:aws:iam::{account}:role/somebody")
    refused = f"User: arn:aws:iam::{account}:user/alice is not authorized to perform: sts:AssumeRole on resource: "
    assert error(alice, "AssumeRole", RoleArn=arn, RoleSessionName="s1") == ("AccessDenied", 403, refused + arn)
    missing = f"arn:aws:iam::{account}:role/missing"
    assert error(alice, "AssumeRole", RoleArn=missing, RoleSessionName="s1") == ("AccessDenied", 403,
                                                                                 refused + missing)
    assert error(root, "AssumeRole", RoleArn=arn, RoleSessionName="s1")[2] == (
        "Roles may not be assumed by root accounts.")


def test_an_account_in_the_trust_policy_trusts_its_principals(alice: Context) -> None:
    arn = role(alice, "team", alice.settings.account_id)
    assert call(alice, "AssumeRole", RoleArn=arn, RoleSessionName="s1")["Credentials"]["AccessKeyId"]


def test_passing_tags_or_a_source_identity_needs_the_trust_policy_to_allow_it(alice: Context) -> None:
    arn = role(alice, "plain", alice.settings.account_id, actions=("sts:AssumeRole",))
    assert call(alice, "AssumeRole", RoleArn=arn, RoleSessionName="s1")
    for extra, action in (({"Tags": [{"Key": "a", "Value": "1"}]}, "sts:TagSession"),
                          ({"SourceIdentity": "alice"}, "sts:SetSourceIdentity")):
        code, _, message = error(alice, "AssumeRole", RoleArn=arn, RoleSessionName="s1", **extra)
        assert code == "AccessDenied" and f"not authorized to perform: {action} on resource: {arn}" in message


def test_a_session_lasts_up_to_the_roles_maximum_and_an_hour_when_chained(alice: Context) -> None:
    account = alice.settings.account_id
    first = role(alice, "first", f"arn:aws:iam::{account}:user/alice", MaxSessionDuration=7200)
    assert error(alice, "AssumeRole", RoleArn=first, RoleSessionName="s1", DurationSeconds=7201) == (
        "ValidationException", 400, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    answer = call(alice, "AssumeRole", RoleArn=first, RoleSessionName="s1", DurationSeconds=7200,
                  Tags=[{"Key": "project", "Value": "churn"}, {"Key": "stage", "Value": "dev"}],
                  TransitiveTagKeys=["project"])
    assert answer["Credentials"]["Expiration"] == NOW + timedelta(hours=2)
    chain = session_context(alice, answer["Credentials"])
    second = role(alice, "second", f"arn:aws:iam::{account}:role/first", MaxSessionDuration=43200)
    assert error(chain, "AssumeRole", RoleArn=second, RoleSessionName="s2", DurationSeconds=3601)[2] == (
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
    chained = call(chain, "AssumeRole", RoleArn=second, RoleSessionName="s2")["Credentials"]
    stored = alice.metadata.sessions.find(chained["AccessKeyId"])
    assert stored is not None and stored.chained and stored.tags == {"project": "churn"}  # the transitive tag only
    assert error(chain, "AssumeRole", RoleArn=second, RoleSessionName="s3",
                 Tags=[{"Key": "Project", "Value": "x"}])[:2] == ("ValidationException", 400)


def test_a_trust_policy_may_ask_for_mfa(alice: Context) -> None:
    serial, totp = mfa_device(alice)
    arn = role(alice, "admin", f"arn:aws:iam::{alice.settings.account_id}:user/alice",
               {"Bool": {"aws:MultiFactorAuthPresent": "true"}})
    assert error(alice, "AssumeRole", RoleArn=arn, RoleSessionName="s1")[:2] == ("AccessDenied", 403)
    credentials = call(alice, "AssumeRole", RoleArn=arn, RoleSessionName="s1", SerialNumber=serial,
                       TokenCode=totp.at(NOW + STEP))["Credentials"]
    stored = alice.metadata.sessions.find(credentials["AccessKeyId"])
    assert stored is not None and stored.mfa_authenticated_at == NOW


def test_an_mfa_authenticated_session_assumes_a_role_asking_for_mfa_without_a_new_code(alice: Context) -> None:
    serial, totp = mfa_device(alice)
    arn = role(alice, "admin", alice.settings.account_id, {"Bool": {"aws:MultiFactorAuthPresent": "true"}})
    mfa_session = call(alice, "GetSessionToken", SerialNumber=serial, TokenCode=totp.at(NOW + STEP))["Credentials"]
    plain_session = call(alice, "GetSessionToken")["Credentials"]
    assert error(session_context(alice, plain_session), "AssumeRole", RoleArn=arn, RoleSessionName="s1")[0] == (
        "AccessDenied")
    credentials = call(session_context(alice, mfa_session), "AssumeRole", RoleArn=arn,
                       RoleSessionName="s1")["Credentials"]
    stored = alice.metadata.sessions.find(credentials["AccessKeyId"])
    assert stored is not None and stored.mfa_authenticated_at == NOW and not stored.chained


def test_a_trust_policy_may_ask_for_an_external_id(alice: Context) -> None:
    arn = role(alice, "vendor", alice.settings.account_id, {"StringEquals": {"sts:ExternalId": "k-1234"}})
    assert error(alice, "AssumeRole", RoleArn=arn, RoleSessionName="s1", ExternalId="wrong")[:2] == (
        "AccessDenied", 403)
    assert call(alice, "AssumeRole", RoleArn=arn, RoleSessionName="s1", ExternalId="k-1234")


def test_session_policies_and_tags_are_checked(alice: Context) -> None:
    arn = role(alice, "team", alice.settings.account_id)
    assert error(alice, "AssumeRole", RoleArn=arn, RoleSessionName="s1", Policy="{not json")[:2] == (
        "MalformedPolicyDocument", 400)
    assert error(alice, "AssumeRole", RoleArn=arn, RoleSessionName="s1",
                 Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])[2] == (
        "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
    assert error(alice, "AssumeRole", RoleArn=arn, RoleSessionName="s1", Tags=[{"Key": "a", "Value": "1"}],
                 TransitiveTagKeys=["b"])[2] == (
        "The specified transitive tag key must be included in the requested tags.")
    huge = json.dumps({"Version": "2012-10-17", "Statement": [  # random names: they do not compress
        {"Effect": "Allow", "Action": f"sagemaker:{secrets.token_hex(20)}", "Resource": "*"} for _ in range(200)]})
    assert error(alice, "AssumeRole", RoleArn=arn, RoleSessionName="s1", Policy=huge)[:2] == (
        "PackedPolicyTooLarge", 400)

