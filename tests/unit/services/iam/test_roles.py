"""What IAM changes on a role: its tags, trust policy and description; a role with policies is not deleted."""

from __future__ import annotations

import json
import urllib.parse

from modelbay.config import DEFAULT_EXECUTION_ROLE
from modelbay.services.base import Context
from tests.unit.services.iam.iam_calls import TRUST, allow, call, error


def test_tags(ctx: Context) -> None:
    call(ctx, "CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "a", "Value": "1"}])
    call(ctx, "TagRole", RoleName="r", Tags=[{"Key": "A", "Value": "2"}, {"Key": "b", "Value": "3"}])
    assert call(ctx, "ListRoleTags", RoleName="r")["Tags"] == [{"Key": "A", "Value": "2"}, {"Key": "b", "Value": "3"}]
    call(ctx, "UntagRole", RoleName="r", TagKeys=["B"])
    assert call(ctx, "GetRole", RoleName="r")["Role"]["Tags"] == [{"Key": "A", "Value": "2"}]
    assert error(ctx, "TagRole", RoleName="none", Tags=[{"Key": "a", "Value": "1"}])[0] == "NoSuchEntity"


def test_trust_policy_and_description(ctx: Context) -> None:
    call(ctx, "CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "sts:AssumeRole"}]})
    call(ctx, "UpdateAssumeRolePolicy", RoleName="r", PolicyDocument=trust)
    role = call(ctx, "GetRole", RoleName="r")["Role"]
    assert urllib.parse.unquote(role["AssumeRolePolicyDocument"]) == trust
    assert error(ctx, "UpdateAssumeRolePolicy", RoleName="r", PolicyDocument=allow("s3:*")) == (
        "MalformedPolicyDocument", 400, "Missing required field Principal")
    assert call(ctx, "UpdateRoleDescription", RoleName="r", Description="d")["Role"]["Description"] == "d"
    call(ctx, "UpdateRole", RoleName="r", MaxSessionDuration=7200)
    assert call(ctx, "GetRole", RoleName="r")["Role"]["MaxSessionDuration"] == 7200
    assert error(ctx, "UpdateAssumeRolePolicy", RoleName=DEFAULT_EXECUTION_ROLE, PolicyDocument=trust)[0] == \
        "UnmodifiableEntity"


def test_a_role_with_policies_is_not_deleted(ctx: Context) -> None:
    call(ctx, "CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST)
    call(ctx, "PutRolePolicy", RoleName="r", PolicyName="p", PolicyDocument=allow("s3:*"))
    call(ctx, "AttachRolePolicy", RoleName="r", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    assert error(ctx, "DeleteRole", RoleName="r") == ("DeleteConflict", 409,
                                                      "Cannot delete entity, must detach all policies first.")
    call(ctx, "DetachRolePolicy", RoleName="r", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    assert error(ctx, "DeleteRole", RoleName="r")[2] == "Cannot delete entity, must delete policies first."
    call(ctx, "DeleteRolePolicy", RoleName="r", PolicyName="p")
    call(ctx, "DeleteRole", RoleName="r")
    assert error(ctx, "DeleteRole", RoleName="r") == ("NoSuchEntity", 404, "The role with name r cannot be found.")
