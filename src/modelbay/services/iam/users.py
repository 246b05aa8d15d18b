"""IAM users: who signs requests with an access key of their own (access_keys.py) under the policies they hold.

As IAM does: names are unique regardless of case, ARNs are `arn:aws:iam::<account>:user<path><name>`, user ids
`AIDA` and 17 more characters; GetUser without a name answers for the caller (the account root too, as AWS
does); a user is deleted only once it has no access keys, MFA devices, policies or groups (DeleteConflict).
ListUsers leaves tags and the permissions boundary out, as IAM's listings do. A permissions boundary is recorded
and answered; SimulatePrincipalPolicy applies it, and identity_policies.permissions_boundary hands it to the
authorizer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelbay.errors import ValidationError
from modelbay.security.principal import IAM_USER, ROOT
from modelbay.services.base import Context, Handler, present
from modelbay.services.iam.entities import (
    DeleteConflict,
    EntityAlreadyExists,
    arn,
    changed,
    new_id,
    no_such,
    store_errors,
)
from modelbay.services.iam.pages import page
from modelbay.services.iam.policies import check_attachable
from modelbay.services.iam.tags import MAX_TAGS, tag_list, tag_pairs
from modelbay.store.metadata import RecordExists
from modelbay.store.metadata.iam import UserRecord


def create_user(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name, path = params["UserName"], params.get("Path", "/")
    boundary = params.get("PermissionsBoundary")
    if boundary is not None:
        check_attachable(ctx, boundary)
    try:
        user = ctx.metadata.iam.create_user(name, path, arn(ctx, "user", path, name), new_id("AIDA"),
                                            tag_pairs(params.get("Tags", [])), boundary)
    except RecordExists:
        raise EntityAlreadyExists(f"User with name {name} already exists.") from None
    changed(ctx)
    return {"User": user_wire(user, full=True)}


def get_user(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The user named, or the caller: an IAM user itself, the account root as AWS answers for it."""
    name = params.get("UserName")
    if name is None:
        if ctx.principal.kind == ROOT:
            return {"User": _root(ctx)}
        if ctx.principal.kind != IAM_USER or ctx.principal.name is None:
            raise ValidationError("Must specify userName when calling with non-User credentials")
        name = ctx.principal.name
    return {"User": user_wire(found_user(ctx, name), full=True)}


def list_users(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    users, paging = page(params, ctx.metadata.iam.users(params.get("PathPrefix", "/")),
                         lambda user: user.name.lower(), "users")
    return {"Users": [user_wire(user) for user in users]} | paging


def update_user(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    user = found_user(ctx, params["UserName"])
    name, path = params.get("NewUserName", user.name), params.get("NewPath", user.path)
    try:
        with store_errors():
            ctx.metadata.iam.update_user(user.name, name, path, arn(ctx, "user", path, name))
    except RecordExists:
        raise EntityAlreadyExists(f"User with name {name} already exists.") from None
    changed(ctx)
    return {}


def delete_user(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    user = found_user(ctx, params["UserName"])
    if ctx.metadata.mfa_devices.owned_by(user.user_id):
        raise DeleteConflict("Cannot delete entity, must delete MFA device first.")
    with store_errors():
        ctx.metadata.iam.delete_user(user.name)
    changed(ctx)
    return {}


def tag_user(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with store_errors():
        ctx.metadata.iam.set_user_tags(params["UserName"], tag_pairs(params["Tags"]), MAX_TAGS)
    changed(ctx)  # a user's tags are its aws:PrincipalTag/… condition keys
    return {}


def untag_user(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with store_errors():
        ctx.metadata.iam.remove_user_tags(params["UserName"], params["TagKeys"])
    changed(ctx)
    return {}


def list_user_tags(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tags = tag_list(found_user(ctx, params["UserName"]).tags)
    chosen, paging = page(params, tags, lambda tag: str(tag["Key"]).lower(), "user tags")
    return {"Tags": chosen} | paging


def put_user_permissions_boundary(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    check_attachable(ctx, params["PermissionsBoundary"])
    with store_errors():
        ctx.metadata.iam.set_permissions_boundary(params["UserName"], params["PermissionsBoundary"])
    changed(ctx)
    return {}


def delete_user_permissions_boundary(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with store_errors():
        ctx.metadata.iam.set_permissions_boundary(params["UserName"], None)
    changed(ctx)
    return {}


def found_user(ctx: Context, name: str) -> UserRecord:
    user = ctx.metadata.iam.user(name)
    if user is None:
        raise no_such("user", name)
    return user


def user_wire(user: UserRecord, full: bool = False) -> dict[str, Any]:
    """A User as IAM answers it; `full` (Create, Get) with its permissions boundary and tags, which listings omit."""
    wire = {"Path": user.path, "UserName": user.name, "UserId": user.user_id, "Arn": user.arn,
            "CreateDate": user.created}
    if not full:
        return wire
    boundary = None if user.permissions_boundary is None else {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": user.permissions_boundary}
    return wire | present(PermissionsBoundary=boundary, Tags=tag_list(user.tags) or None)


def _root(ctx: Context) -> dict[str, Any]:
    """GetUser for the account root: its id and ARN, no name or path; created when its root key was made (the
    data directory, in the open mode that has none)."""
    made = ctx.settings.root_key_file if ctx.settings.root_key_file.exists() else ctx.settings.data_dir
    account = ctx.settings.account_id
    return {"UserId": account, "Arn": f"arn:aws:iam::{account}:root",
            "CreateDate": datetime.fromtimestamp(made.stat().st_mtime, UTC)}


OPERATIONS: dict[str, Handler] = {
    "CreateUser": create_user, "GetUser": get_user, "ListUsers": list_users, "UpdateUser": update_user,
    "DeleteUser": delete_user, "TagUser": tag_user, "UntagUser": untag_user, "ListUserTags": list_user_tags,
    "PutUserPermissionsBoundary": put_user_permissions_boundary,
    "DeleteUserPermissionsBoundary": delete_user_permissions_boundary,
}
