"""IAM users as service functions over a real SQLite store: made, found regardless of case, listed in pages,
renamed, tagged and deleted only once they hold nothing, as IAM answers."""

from __future__ import annotations

import dataclasses

from modelbay.errors import ValidationError
from modelbay.security.principal import ASSUMED_ROLE, Principal
from modelbay.services.base import Context
from modelbay.services.iam.users import get_user
from tests.unit.services.iam.iam_calls import allow, as_user, call, error

READ_ONLY = "arn:aws:iam::aws:policy/AmazonSageMakerReadOnly"


def test_create_get_and_the_errors_of_a_name_taken_or_unknown(ctx: Context) -> None:
    generation = ctx.platform.iam_changes.value
    created = call(ctx, "CreateUser", UserName="Alice", Path="/team/", Tags=[{"Key": "team", "Value": "ml"}])["User"]
    assert ctx.platform.iam_changes.value > generation
    assert created["Arn"] == "arn:aws:iam::000000000000:user/team/Alice"
    assert created["UserId"].startswith("AIDA") and len(created["UserId"]) == 21
    assert set(created["UserId"][4:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    got = call(ctx, "GetUser", UserName="alice")["User"]
    assert (got["UserName"], got["Tags"]) == ("Alice", [{"Key": "team", "Value": "ml"}])
    assert error(ctx, "CreateUser", UserName="ALICE") == ("EntityAlreadyExists", 409,
                                                           "User with name ALICE already exists.")
    assert error(ctx, "GetUser", UserName="bob") == ("NoSuchEntity", 404, "The user with name bob cannot be found.")


def test_get_user_without_a_name_is_the_caller(ctx: Context) -> None:
    call(ctx, "CreateUser", UserName="alice")
    assert call(as_user(ctx, "alice"), "GetUser")["User"]["UserName"] == "alice"
    root = get_user(ctx, {})["User"]  # as AWS: no UserName nor Path for the root
    assert (root["UserId"], root["Arn"]) == ("000000000000", "arn:aws:iam::000000000000:root")
    assert "UserName" not in root and root["CreateDate"].tzinfo is not None
    session = dataclasses.replace(ctx, principal=Principal("ASIAX", "000000000000", ASSUMED_ROLE, "r", "/", "AROAX",
                                                           "s"))
    assert error(session, "GetUser")[0] == ValidationError.code  # the codec spells it IAM's way


def test_list_pages_in_name_order_under_a_path(ctx: Context) -> None:
    for name in ("c", "A", "b", "d"):
        call(ctx, "CreateUser", UserName=name, Path="/x/" if name != "d" else "/")
    first = call(ctx, "ListUsers", PathPrefix="/x/", MaxItems=2)
    assert [user["UserName"] for user in first["Users"]] == ["A", "b"] and first["IsTruncated"]
    assert "Tags" not in first["Users"][0]
    call(ctx, "CreateUser", UserName="a2", Path="/x/")  # added between pages: after the marker, so listed next
    rest = call(ctx, "ListUsers", PathPrefix="/x/", Marker=first["Marker"])
    assert [user["UserName"] for user in rest["Users"]] == ["c"] and rest == rest | {"IsTruncated": False}
    assert error(ctx, "ListUsers", Marker="nonsense")[0] == ValidationError.code  # the codec spells it IAM's way


def test_update_renames_and_moves(ctx: Context) -> None:
    call(ctx, "CreateUser", UserName="a")
    call(ctx, "CreateUser", UserName="b")
    assert error(ctx, "UpdateUser", UserName="a", NewUserName="B")[0] == "EntityAlreadyExists"
    call(ctx, "UpdateUser", UserName="a", NewUserName="c", NewPath="/p/")
    assert call(ctx, "GetUser", UserName="c")["User"]["Arn"] == "arn:aws:iam::000000000000:user/p/c"
    assert error(ctx, "GetUser", UserName="a")[0] == "NoSuchEntity"


def test_tags(ctx: Context) -> None:
    call(ctx, "CreateUser", UserName="u")
    call(ctx, "TagUser", UserName="u", Tags=[{"Key": "b", "Value": "1"}, {"Key": "a", "Value": "2"}])
    call(ctx, "TagUser", UserName="u", Tags=[{"Key": "B", "Value": "3"}])
    assert call(ctx, "ListUserTags", UserName="u")["Tags"] == [{"Key": "a", "Value": "2"}, {"Key": "B", "Value": "3"}]
    call(ctx, "UntagUser", UserName="u", TagKeys=["a"])
    assert call(ctx, "ListUserTags", UserName="u")["Tags"] == [{"Key": "B", "Value": "3"}]
    duplicate = error(ctx, "TagUser", UserName="u", Tags=[{"Key": "k", "Value": "1"}, {"Key": "K", "Value": "2"}])
    assert duplicate[0] == "InvalidInput"
    many = [{"Key": f"k{n}", "Value": ""} for n in range(50)]
    assert error(ctx, "TagUser", UserName="u", Tags=many) == ("LimitExceeded", 409,
                                                             "Cannot exceed quota for TagsPerUser: 50")


def test_delete_refuses_a_user_that_holds_anything(ctx: Context) -> None:
    call(ctx, "CreateUser", UserName="u")
    call(ctx, "CreateGroup", GroupName="g")
    key = call(ctx, "CreateAccessKey", UserName="u")["AccessKey"]["AccessKeyId"]
    call(ctx, "AddUserToGroup", GroupName="g", UserName="u")
    call(ctx, "PutUserPolicy", UserName="u", PolicyName="p", PolicyDocument=allow("s3:*"))
    call(ctx, "AttachUserPolicy", UserName="u", PolicyArn=READ_ONLY)
    for message, undo, params in (
            ("must delete access keys first.", "DeleteAccessKey", {"AccessKeyId": key}),
            ("must delete policies first.", "DeleteUserPolicy", {"PolicyName": "p"}),
            ("must detach all policies first.", "DetachUserPolicy", {"PolicyArn": READ_ONLY}),
            ("must remove users from group first.", "RemoveUserFromGroup", {"GroupName": "g"})):
        assert error(ctx, "DeleteUser", UserName="u") == ("DeleteConflict", 409,
                                                          f"Cannot delete entity, {message}")
        call(ctx, undo, UserName="u", **params)
    call(ctx, "DeleteUser", UserName="u")
    assert error(ctx, "DeleteUser", UserName="u")[0] == "NoSuchEntity"


def test_permissions_boundary(ctx: Context) -> None:
    assert error(ctx, "CreateUser", UserName="u", PermissionsBoundary="arn:aws:iam::aws:policy/None")[0] == \
        "NoSuchEntity"
    call(ctx, "CreateUser", UserName="u", PermissionsBoundary=READ_ONLY)
    assert call(ctx, "GetUser", UserName="u")["User"]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": READ_ONLY}
    assert call(ctx, "GetPolicy", PolicyArn=READ_ONLY)["Policy"]["PermissionsBoundaryUsageCount"] == 1
    call(ctx, "DeleteUserPermissionsBoundary", UserName="u")
    assert "PermissionsBoundary" not in call(ctx, "GetUser", UserName="u")["User"]
