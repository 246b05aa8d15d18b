"""Inline policies of users, groups and roles: put (replacing), read URL-encoded, listed and deleted."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from modelbay.services.base import Context
from tests.unit.services.iam.iam_calls import TRUST, allow, call, error


@pytest.mark.parametrize("kind", ["User", "Group", "Role"])
def test_put_get_list_delete(ctx: Context, kind: str) -> None:
    create = {"User": {}, "Group": {}, "Role": {"AssumeRolePolicyDocument": TRUST}}[kind]
    call(ctx, f"Create{kind}", **{f"{kind}Name": "e"}, **create)
    entity = {f"{kind}Name": "e"}
    call(ctx, f"Put{kind}Policy", **entity, PolicyName="b", PolicyDocument=allow("s3:*"))
    call(ctx, f"Put{kind}Policy", **entity, PolicyName="a", PolicyDocument=allow("s3:*"))
    call(ctx, f"Put{kind}Policy", **entity, PolicyName="b", PolicyDocument=allow("sagemaker:*"))  # replaces
    got = call(ctx, f"Get{kind}Policy", **entity, PolicyName="b")
    assert got["PolicyDocument"] == urllib.parse.quote(allow("sagemaker:*"), safe="")
    assert call(ctx, f"List{kind}Policies", **entity)["PolicyNames"] == ["a", "b"]
    call(ctx, f"Delete{kind}Policy", **entity, PolicyName="b")
    assert error(ctx, f"Get{kind}Policy", **entity, PolicyName="b") == (
        "NoSuchEntity", 404, f"The {kind.lower()} policy with name b cannot be found.")
    assert error(ctx, f"Put{kind}Policy", **{f"{kind}Name": "none"}, PolicyName="p",
                 PolicyDocument=allow("s3:*")) == ("NoSuchEntity", 404,
                                                   f"The {kind.lower()} with name none cannot be found.")


def test_documents_are_checked_and_sized_per_kind(ctx: Context) -> None:
    call(ctx, "CreateUser", UserName="u")
    principal = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]})
    assert error(ctx, "PutUserPolicy", UserName="u", PolicyName="p", PolicyDocument=principal) == (
        "MalformedPolicyDocument", 400, "Policy document should not specify a principal.")
    big = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": f"s3:GetObject{n}", "Resource": "*"} for n in range(60)]})
    assert error(ctx, "PutUserPolicy", UserName="u", PolicyName="p", PolicyDocument=big) == (
        "LimitExceeded", 409, "Maximum policy size of 2048 bytes exceeded for user u")
    call(ctx, "CreateGroup", GroupName="g")
    call(ctx, "PutGroupPolicy", GroupName="g", PolicyName="p", PolicyDocument=big)  # a group's may be 5120
