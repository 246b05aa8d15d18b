"""IAM managed policies as service functions: the account's (documents checked, up to five versions, deleted only
alone) and AWS's (listed, read, counted as attached, never changed)."""

from __future__ import annotations

import json
import urllib.parse

from modelbay.security.managed_policies import AWS_MANAGED_POLICIES
from modelbay.services.base import Context
from modelbay.services.iam.roles import DEFAULT_ROLE_POLICIES
from tests.unit.services.iam.iam_calls import TRUST, allow, call, error

READ_ONLY = "arn:aws:iam::aws:policy/AmazonSageMakerReadOnly"


def _create(ctx: Context, name: str, document: str | None = None, **params: object) -> dict[str, object]:
    policy: dict[str, object] = call(ctx, "CreatePolicy", PolicyName=name, PolicyDocument=document or allow("s3:*"),
                                     **params)["Policy"]
    return policy


def test_create_and_get(ctx: Context) -> None:
    policy = _create(ctx, "p", Path="/team/", Description="reads", Tags=[{"Key": "k", "Value": "v"}])
    assert policy["Arn"] == "arn:aws:iam::000000000000:policy/team/p" and str(policy["PolicyId"]).startswith("ANPA")
    assert (policy["DefaultVersionId"], policy["AttachmentCount"], policy["IsAttachable"]) == ("v1", 0, True)
    got = call(ctx, "GetPolicy", PolicyArn=policy["Arn"])["Policy"]
    assert (got["Description"], got["Tags"]) == ("reads", [{"Key": "k", "Value": "v"}])
    assert error(ctx, "CreatePolicy", PolicyName="P", PolicyDocument=allow("s3:*")) == (
        "EntityAlreadyExists", 409, "A policy called P already exists. Duplicate names are not allowed.")
    assert error(ctx, "GetPolicy", PolicyArn="arn:aws:iam::000000000000:policy/none") == (
        "NoSuchEntity", 404, "Policy arn:aws:iam::000000000000:policy/none was not found.")


def test_documents_are_checked_by_the_policy_engine(ctx: Context) -> None:
    no_resource = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]})
    assert error(ctx, "CreatePolicy", PolicyName="p", PolicyDocument=no_resource) == (
        "MalformedPolicyDocument", 400, "Policy statement must contain resources.")
    assert error(ctx, "CreatePolicy", PolicyName="p", PolicyDocument="{nope")[0] == "MalformedPolicyDocument"
    huge = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": f"s3:GetObject{n}", "Resource": "*"} for n in range(200)]})
    assert error(ctx, "CreatePolicy", PolicyName="p", PolicyDocument=huge) == (
        "LimitExceeded", 409, "Cannot exceed quota for PolicySize: 6144")


def test_versions(ctx: Context) -> None:
    arn = _create(ctx, "p")["Arn"]
    second = allow("sagemaker:List*")
    made = call(ctx, "CreatePolicyVersion", PolicyArn=arn, PolicyDocument=second, SetAsDefault=True)["PolicyVersion"]
    assert (made["VersionId"], made["IsDefaultVersion"]) == ("v2", True) and "Document" not in made
    got = call(ctx, "GetPolicyVersion", PolicyArn=arn, VersionId="v2")["PolicyVersion"]
    assert got["Document"] == urllib.parse.quote(second, safe="")  # URL-encoded, as IAM answers
    for _ in range(3):
        call(ctx, "CreatePolicyVersion", PolicyArn=arn, PolicyDocument=second)
    assert error(ctx, "CreatePolicyVersion", PolicyArn=arn, PolicyDocument=second)[:2] == ("LimitExceeded", 409)
    listed = call(ctx, "ListPolicyVersions", PolicyArn=arn, MaxItems=3)
    assert [version["VersionId"] for version in listed["Versions"]] == ["v5", "v4", "v3"] and listed["IsTruncated"]
    rest = call(ctx, "ListPolicyVersions", PolicyArn=arn, Marker=listed["Marker"])
    assert [version["VersionId"] for version in rest["Versions"]] == ["v2", "v1"]
    assert error(ctx, "DeletePolicyVersion", PolicyArn=arn, VersionId="v2") == (
        "DeleteConflict", 409, "Cannot delete the default version of a policy.")
    call(ctx, "SetDefaultPolicyVersion", PolicyArn=arn, VersionId="v1")
    assert call(ctx, "GetPolicy", PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v1"
    assert error(ctx, "DeletePolicy", PolicyArn=arn)[2].startswith("This policy has more than one version.")
    for version in ("v2", "v3", "v4", "v5"):
        call(ctx, "DeletePolicyVersion", PolicyArn=arn, VersionId=version)
    assert error(ctx, "GetPolicyVersion", PolicyArn=arn, VersionId="v5")[0] == "NoSuchEntity"
    call(ctx, "DeletePolicy", PolicyArn=arn)
    assert error(ctx, "GetPolicy", PolicyArn=arn)[0] == "NoSuchEntity"


def test_aws_managed_policies_are_listed_read_counted_and_never_changed(ctx: Context) -> None:
    local = _create(ctx, "mine")["Arn"]
    aws = call(ctx, "ListPolicies", Scope="AWS")["Policies"]
    assert {policy["Arn"] for policy in aws} == set(AWS_MANAGED_POLICIES)
    assert [policy["Arn"] for policy in call(ctx, "ListPolicies", Scope="Local")["Policies"]] == [local]
    everything = call(ctx, "ListPolicies", MaxItems=5)
    assert len(everything["Policies"]) == 5 and everything["IsTruncated"]
    call(ctx, "CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST)
    call(ctx, "AttachRolePolicy", RoleName="r", PolicyArn=READ_ONLY)
    attached = call(ctx, "ListPolicies", OnlyAttached=True)["Policies"]
    assert sorted((policy["Arn"], policy["AttachmentCount"]) for policy in attached) == sorted(
        [(READ_ONLY, 1), *((arn, 1) for arn in DEFAULT_ROLE_POLICIES)])  # the default execution role's too
    version = call(ctx, "GetPolicyVersion", PolicyArn=READ_ONLY, VersionId="v1")["PolicyVersion"]
    assert urllib.parse.unquote(version["Document"]) == AWS_MANAGED_POLICIES[READ_ONLY].document_text
    assert [v["VersionId"] for v in call(ctx, "ListPolicyVersions", PolicyArn=READ_ONLY)["Versions"]] == ["v1"]
    for operation, params in (("DeletePolicy", {}), ("SetDefaultPolicyVersion", {"VersionId": "v1"}),
                              ("CreatePolicyVersion", {"PolicyDocument": allow("s3:*")})):
        assert error(ctx, operation, PolicyArn=READ_ONLY, **params)[0] == "UnmodifiableEntity"


def test_a_policy_attached_is_not_deleted(ctx: Context) -> None:
    arn = _create(ctx, "p")["Arn"]
    call(ctx, "CreateGroup", GroupName="g")
    call(ctx, "AttachGroupPolicy", GroupName="g", PolicyArn=arn)
    assert error(ctx, "DeletePolicy", PolicyArn=arn) == ("DeleteConflict", 409,
                                                         "Cannot delete a policy attached to entities.")

