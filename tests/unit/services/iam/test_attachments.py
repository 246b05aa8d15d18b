"""Managed policies attached to users, groups and roles, and the entities a policy is attached to."""

from __future__ import annotations

from modelbay.services.base import Context
from modelbay.services.iam.attachments import policy_path_and_name
from tests.unit.services.iam.iam_calls import TRUST, allow, call, error

READ_ONLY = "arn:aws:iam::aws:policy/AmazonSageMakerReadOnly"
DATA_SCIENTIST = "arn:aws:iam::aws:policy/job-function/DataScientist"


def test_attach_list_and_detach_for_each_kind(ctx: Context) -> None:
    mine = call(ctx, "CreatePolicy", PolicyName="mine", Path="/team/", PolicyDocument=allow("s3:*"))["Policy"]["Arn"]
    call(ctx, "CreateUser", UserName="u")
    call(ctx, "CreateGroup", GroupName="g")
    call(ctx, "CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST)
    for kind, name in (("User", "u"), ("Group", "g"), ("Role", "r")):
        for arn in (mine, DATA_SCIENTIST, mine):  # the second attachment of one policy changes nothing
            call(ctx, f"Attach{kind}Policy", **{f"{kind}Name": name}, PolicyArn=arn)
        listed = call(ctx, f"ListAttached{kind}Policies", **{f"{kind}Name": name})["AttachedPolicies"]
        assert listed == [{"PolicyName": "mine", "PolicyArn": mine},
                          {"PolicyName": "DataScientist", "PolicyArn": DATA_SCIENTIST}]
        under = call(ctx, f"ListAttached{kind}Policies", **{f"{kind}Name": name}, PathPrefix="/job-function/")
        assert [policy["PolicyName"] for policy in under["AttachedPolicies"]] == ["DataScientist"]
        call(ctx, f"Detach{kind}Policy", **{f"{kind}Name": name}, PolicyArn=mine)
        assert error(ctx, f"Detach{kind}Policy", **{f"{kind}Name": name}, PolicyArn=mine) == (
            "NoSuchEntity", 404, f"Policy {mine} was not found.")
    assert call(ctx, "GetPolicy", PolicyArn=DATA_SCIENTIST)["Policy"]["AttachmentCount"] == 3


def test_unknown_policies_and_entities(ctx: Context) -> None:
    call(ctx, "CreateUser", UserName="u")
    for arn in ("arn:aws:iam::aws:policy/NoSuchPolicy", "arn:aws:iam::000000000000:policy/none"):
        assert error(ctx, "AttachUserPolicy", UserName="u", PolicyArn=arn)[:2] == ("NoSuchEntity", 404)
    assert error(ctx, "AttachRolePolicy", RoleName="none", PolicyArn=READ_ONLY) == (
        "NoSuchEntity", 404, "The role with name none cannot be found.")


def test_ten_policies_per_entity(ctx: Context) -> None:
    call(ctx, "CreateGroup", GroupName="g")
    for number in range(11):
        arn = call(ctx, "CreatePolicy", PolicyName=f"p{number}", PolicyDocument=allow("s3:*"))["Policy"]["Arn"]
        if number < 10:
            call(ctx, "AttachGroupPolicy", GroupName="g", PolicyArn=arn)
    assert error(ctx, "AttachGroupPolicy", GroupName="g", PolicyArn=arn) == (
        "LimitExceeded", 409, "Cannot exceed quota for PoliciesPerGroup: 10")


def test_entities_for_policy(ctx: Context) -> None:
    for name in ("b", "a"):
        call(ctx, "CreateUser", UserName=name, Path="/x/" if name == "a" else "/")
        call(ctx, "AttachUserPolicy", UserName=name, PolicyArn=READ_ONLY)
    call(ctx, "CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST)
    call(ctx, "AttachRolePolicy", RoleName="r", PolicyArn=READ_ONLY)
    found = call(ctx, "ListEntitiesForPolicy", PolicyArn=READ_ONLY)
    assert [user["UserName"] for user in found["PolicyUsers"]] == ["a", "b"]
    assert [role["RoleName"] for role in found["PolicyRoles"]] == ["r"] and found["PolicyGroups"] == []
    assert found["PolicyRoles"][0]["RoleId"].startswith("AROA")
    users = call(ctx, "ListEntitiesForPolicy", PolicyArn=READ_ONLY, EntityFilter="User", PathPrefix="/x/")
    assert [user["UserName"] for user in users["PolicyUsers"]] == ["a"] and users["PolicyRoles"] == []
    paged = call(ctx, "ListEntitiesForPolicy", PolicyArn=READ_ONLY, MaxItems=2)
    assert paged["IsTruncated"] and [role["RoleName"] for role in paged["PolicyRoles"]] == ["r"]
    local = call(ctx, "ListEntitiesForPolicy", PolicyArn=READ_ONLY, EntityFilter="LocalManagedPolicy")
    assert local["PolicyUsers"] == local["PolicyRoles"] == []


def test_policy_path_and_name() -> None:
    assert policy_path_and_name(DATA_SCIENTIST) == ("/job-function/", "DataScientist")
    assert policy_path_and_name("arn:aws:iam::000000000000:policy/p") == ("/", "p")
