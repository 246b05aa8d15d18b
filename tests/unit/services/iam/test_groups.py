"""IAM groups as service functions: made, their members added, listed with the group and removed; deleted only once
empty."""

from __future__ import annotations

from modelbay.services.base import Context
from tests.unit.services.iam.iam_calls import allow, call, error


def test_members(ctx: Context) -> None:
    created = call(ctx, "CreateGroup", GroupName="Devs", Path="/eng/")["Group"]
    assert created["Arn"] == "arn:aws:iam::000000000000:group/eng/Devs" and created["GroupId"].startswith("AGPA")
    assert error(ctx, "CreateGroup", GroupName="devs") == ("EntityAlreadyExists", 409,
                                                           "Group with name devs already exists.")
    for name in ("b", "a", "c"):
        call(ctx, "CreateUser", UserName=name)
        call(ctx, "AddUserToGroup", GroupName="devs", UserName=name)
    first = call(ctx, "GetGroup", GroupName="devs", MaxItems=2)
    assert first["Group"]["GroupName"] == "Devs" and [user["UserName"] for user in first["Users"]] == ["a", "b"]
    rest = call(ctx, "GetGroup", GroupName="devs", Marker=first["Marker"])
    assert [user["UserName"] for user in rest["Users"]] == ["c"] and not rest["IsTruncated"]
    assert [group["GroupName"] for group in call(ctx, "ListGroupsForUser", UserName="a")["Groups"]] == ["Devs"]
    assert error(ctx, "AddUserToGroup", GroupName="devs", UserName="nobody") == (
        "NoSuchEntity", 404, "The user with name nobody cannot be found.")
    assert error(ctx, "GetGroup", GroupName="ops") == ("NoSuchEntity", 404, "The group with name ops cannot be found.")


def test_a_user_joins_at_most_ten_groups(ctx: Context) -> None:
    call(ctx, "CreateUser", UserName="u")
    for number in range(11):
        call(ctx, "CreateGroup", GroupName=f"g{number}")
    for number in range(10):
        call(ctx, "AddUserToGroup", GroupName=f"g{number}", UserName="u")
    assert error(ctx, "AddUserToGroup", GroupName="g10", UserName="u") == (
        "LimitExceeded", 409, "Cannot exceed quota for GroupsPerUser: 10")


def test_delete_refuses_a_group_with_members_or_policies(ctx: Context) -> None:
    call(ctx, "CreateGroup", GroupName="g")
    call(ctx, "CreateUser", UserName="u")
    call(ctx, "AddUserToGroup", GroupName="g", UserName="u")
    call(ctx, "PutGroupPolicy", GroupName="g", PolicyName="p", PolicyDocument=allow("s3:*"))
    assert error(ctx, "DeleteGroup", GroupName="g") == ("DeleteConflict", 409,
                                                        "Cannot delete entity, must remove users from group first.")
    call(ctx, "RemoveUserFromGroup", GroupName="g", UserName="u")
    assert error(ctx, "RemoveUserFromGroup", GroupName="g", UserName="u")[0] == "NoSuchEntity"
    assert error(ctx, "DeleteGroup", GroupName="g")[2] == "Cannot delete entity, must delete policies first."
    call(ctx, "DeleteGroupPolicy", GroupName="g", PolicyName="p")
    call(ctx, "DeleteGroup", GroupName="g")
    assert call(ctx, "ListGroups")["Groups"] == []


def test_update_renames(ctx: Context) -> None:
    call(ctx, "CreateGroup", GroupName="g")
    call(ctx, "UpdateGroup", GroupName="g", NewGroupName="h", NewPath="/p/")
    assert call(ctx, "ListGroups", PathPrefix="/p/")["Groups"][0]["Arn"] == "arn:aws:iam::000000000000:group/p/h"
