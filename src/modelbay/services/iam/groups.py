"""IAM groups: sets of users that share the policies attached to or embedded in the group.

As IAM does: names are unique regardless of case, ARNs are `arn:aws:iam::<account>:group<path><name>`, group ids
`AGPA` and 17 more characters; GetGroup answers the group with a page of its members; a user is in at most
MAX_GROUPS_PER_USER groups; a group is deleted only once it has no members and no policies (DeleteConflict).
"""

from __future__ import annotations

from typing import Any

from modelbay.services.base import Context, Handler
from modelbay.services.iam.entities import EntityAlreadyExists, arn, changed, new_id, no_such, store_errors
from modelbay.services.iam.pages import page
from modelbay.services.iam.users import user_wire
from modelbay.store.metadata import RecordExists
from modelbay.store.metadata.iam import GroupRecord

MAX_GROUPS_PER_USER = 10


def create_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name, path = params["GroupName"], params.get("Path", "/")
    try:
        group = ctx.metadata.iam.create_group(name, path, arn(ctx, "group", path, name), new_id("AGPA"))
    except RecordExists:
        raise EntityAlreadyExists(f"Group with name {name} already exists.") from None
    changed(ctx)
    return {"Group": _wire(group)}


def get_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The group and a page of its members."""
    with store_errors():
        group, members = ctx.metadata.iam.members(params["GroupName"])
    users, paging = page(params, members, lambda user: user.name.lower(), f"members {group.group_id}")
    return {"Group": _wire(group), "Users": [user_wire(user) for user in users]} | paging


def list_groups(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    groups, paging = page(params, ctx.metadata.iam.groups(params.get("PathPrefix", "/")),
                          lambda group: group.name.lower(), "groups")
    return {"Groups": [_wire(group) for group in groups]} | paging


def update_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    group = ctx.metadata.iam.group(params["GroupName"])
    if group is None:
        raise no_such("group", params["GroupName"])
    name, path = params.get("NewGroupName", group.name), params.get("NewPath", group.path)
    try:
        with store_errors():
            ctx.metadata.iam.update_group(group.name, name, path, arn(ctx, "group", path, name))
    except RecordExists:
        raise EntityAlreadyExists(f"Group with name {name} already exists.") from None
    changed(ctx)
    return {}


def delete_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with store_errors():
        ctx.metadata.iam.delete_group(params["GroupName"])
    changed(ctx)
    return {}


def add_user_to_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with store_errors():
        ctx.metadata.iam.add_member(params["GroupName"], params["UserName"], MAX_GROUPS_PER_USER)
    changed(ctx)
    return {}


def remove_user_from_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with store_errors():
        ctx.metadata.iam.remove_member(params["GroupName"], params["UserName"])
    changed(ctx)
    return {}


def list_groups_for_user(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with store_errors():
        found = ctx.metadata.iam.groups_of(params["UserName"])
    groups, paging = page(params, found, lambda group: group.name.lower(), f"groups of {params['UserName'].lower()}")
    return {"Groups": [_wire(group) for group in groups]} | paging


def _wire(group: GroupRecord) -> dict[str, Any]:
    return {"Path": group.path, "GroupName": group.name, "GroupId": group.group_id, "Arn": group.arn,
            "CreateDate": group.created}


OPERATIONS: dict[str, Handler] = {
    "CreateGroup": create_group, "GetGroup": get_group, "ListGroups": list_groups, "UpdateGroup": update_group,
    "DeleteGroup": delete_group, "AddUserToGroup": add_user_to_group, "RemoveUserFromGroup": remove_user_from_group,
    "ListGroupsForUser": list_groups_for_user,
}
