"""IAM roles: the role table that jobs' RoleArns and tools' GetRole name, and that STS's AssumeRole assumes.

The SageMaker Python SDK turns a bare role name into an ARN with GetRole, and people look roles up with
`aws iam get-role`. Every account has the execution role DEFAULT_EXECUTION_ROLE from the start, trusted by
SageMaker: it is recorded the first time any role operation runs, and it cannot be deleted (UnmodifiableEntity),
as AWS protects the roles it manages itself. A role's policies are attachments.py's and inline_policies.py's.

As IAM does: ARNs are `arn:aws:iam::<account>:role<path><name>`, role ids `AROA` and 17 more characters, the trust
policy is checked by the policy engine as a trust policy and comes back URL-encoded (boto3 and the AWS CLI decode
it), ListRoles pages with Marker/MaxItems in name order, a role with policies is not deleted (DeleteConflict).
Not done: role names unique regardless of case, permissions boundaries.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from modelbay.config import DEFAULT_EXECUTION_ROLE
from modelbay.security.policy_document import MalformedPolicy, PolicyKind, parse_policy
from modelbay.services.base import Context, Handler, present
from modelbay.services.iam.attachments import MAX_POLICIES_PER_ENTITY
from modelbay.services.iam.documents import document_wire
from modelbay.services.iam.entities import (
    EntityAlreadyExists,
    MalformedPolicyDocument,
    UnmodifiableEntity,
    arn,
    changed,
    new_id,
    no_such,
    store_errors,
)
from modelbay.services.iam.pages import page
from modelbay.services.iam.tags import MAX_TAGS, tag_list, tag_pairs
from modelbay.services.listing import reading_tokens
from modelbay.store.metadata import ListFilter, RecordExists, Role
from modelbay.store.metadata.iam import drop_tags, merge_tags

DEFAULT_MAX_ITEMS = 100
DEFAULT_ROLE_POLICIES = ("arn:aws:iam::aws:policy/AmazonSageMakerFullAccess",
                         "arn:aws:iam::aws:policy/AmazonS3FullAccess")
SAGEMAKER_TRUST_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def create_role(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    ensure_default_role(ctx)
    role = _create(ctx, params)
    changed(ctx)
    return {"Role": _wire(role)}


def get_role(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    ensure_default_role(ctx)
    return {"Role": _wire(_found(ctx, params["RoleName"]))}


def list_roles(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of roles in name order, only those under PathPrefix if given."""
    ensure_default_role(ctx)
    prefix = arn(ctx, "role", params.get("PathPrefix", "/"), "")
    with reading_tokens():
        found = ctx.metadata.roles.list(ListFilter(arn_prefix=prefix), sort_by="Name", ascending=True,
                                        after_token=params.get("Marker"),
                                        limit=params.get("MaxItems", DEFAULT_MAX_ITEMS))
    roles = [_wire(role) for role in found.items]
    return {"Roles": roles, "IsTruncated": found.next_token is not None} | present(Marker=found.next_token)


def delete_role(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["RoleName"]
    _check_modifiable(name)
    with store_errors():
        ctx.metadata.iam_policies.delete_role(name)
    changed(ctx)
    return {}


def update_assume_role_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _check_modifiable(params["RoleName"])
    _check_trust_policy(params["PolicyDocument"])
    _change(ctx, params["RoleName"], lambda request: request | {"AssumeRolePolicyDocument": params["PolicyDocument"]})
    return {}


def update_role(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _check_modifiable(params["RoleName"])
    given = {key: params[key] for key in ("Description", "MaxSessionDuration") if key in params}
    _change(ctx, params["RoleName"], lambda request: request | given)
    return {}


def update_role_description(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _check_modifiable(params["RoleName"])
    role = _change(ctx, params["RoleName"], lambda request: request | {"Description": params["Description"]})
    return {"Role": _wire(role)}


def tag_role(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tags = tag_pairs(params["Tags"])

    def tagged(request: dict[str, Any]) -> dict[str, Any]:
        return _with_tags(request, merge_tags(_pairs(request), tags, MAX_TAGS, "TagsPerRole"))

    _change(ctx, params["RoleName"], tagged)
    return {}


def untag_role(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    keys = params["TagKeys"]
    _change(ctx, params["RoleName"], lambda request: _with_tags(request, drop_tags(_pairs(request), keys)))
    return {}


def list_role_tags(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tags = _found(ctx, params["RoleName"]).request.get("Tags", [])
    chosen, paging = page(params, tags, lambda tag: str(tag["Key"]).lower(), "role tags")
    return {"Tags": chosen} | paging


def _create(ctx: Context, params: dict[str, Any]) -> Role:
    name, path = params["RoleName"], params.get("Path", "/")
    _check_trust_policy(params["AssumeRolePolicyDocument"])
    request = {"Path": path, "MaxSessionDuration": 3600, **params, "RoleId": new_id("AROA")}
    if "Tags" in params:
        request["Tags"] = tag_list(dict(tag_pairs(params["Tags"])))
    try:
        return ctx.metadata.roles.create(name, arn(ctx, "role", path, name), request)
    except RecordExists:
        raise EntityAlreadyExists(f"Role with name {name} already exists.") from None


def ensure_default_role(ctx: Context) -> None:
    """Record the account's execution role if it is not yet, with what a SageMaker execution role made for a
    notebook is given (DEFAULT_ROLE_POLICIES), so that jobs' programs may call SageMaker and S3 with its session's
    credentials (security/sessions.py). Concurrent first calls may race: one wins."""
    if ctx.metadata.roles.get(DEFAULT_EXECUTION_ROLE) is not None:
        return
    with contextlib.suppress(EntityAlreadyExists):
        _create(ctx, {"RoleName": DEFAULT_EXECUTION_ROLE, "AssumeRolePolicyDocument": SAGEMAKER_TRUST_POLICY,
                      "Description": "The execution role every modelbay account starts with."})
        for policy in DEFAULT_ROLE_POLICIES:
            ctx.metadata.iam_policies.attach("role", DEFAULT_EXECUTION_ROLE, policy, MAX_POLICIES_PER_ENTITY)
        changed(ctx)


def _check_trust_policy(document: str) -> None:
    try:
        parse_policy(document, PolicyKind.TRUST)
    except MalformedPolicy as err:
        raise MalformedPolicyDocument(str(err)) from None


def _check_modifiable(name: str) -> None:
    if name == DEFAULT_EXECUTION_ROLE:
        raise UnmodifiableEntity(f"Cannot perform the operation on the protected role '{name}' - this role is "
                                 "only modifiable by modelbay")


def _change(ctx: Context, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> Role:
    with store_errors():
        role = ctx.metadata.iam_policies.change_role(name, change)
    changed(ctx)
    return role


def _pairs(request: dict[str, Any]) -> list[list[str]]:
    return [[tag["Key"], tag["Value"]] for tag in request.get("Tags", [])]


def _with_tags(request: dict[str, Any], tags: list[list[str]]) -> dict[str, Any]:
    return request | {"Tags": [{"Key": key, "Value": value} for key, value in tags]}


def _found(ctx: Context, name: str) -> Role:
    role = ctx.metadata.roles.get(name)
    if role is None:
        raise no_such("role", name)
    return role


def _wire(role: Role) -> dict[str, Any]:
    request = role.request
    wire = {"Path": request["Path"], "RoleName": role.name, "RoleId": request["RoleId"], "Arn": role.arn,
            "CreateDate": role.creation_time, "MaxSessionDuration": request["MaxSessionDuration"],
            "AssumeRolePolicyDocument": document_wire(request["AssumeRolePolicyDocument"]), "RoleLastUsed": {}}
    return wire | {key: request[key] for key in ("Description", "Tags") if key in request}


OPERATIONS: dict[str, Handler] = {
    "CreateRole": create_role, "GetRole": get_role, "ListRoles": list_roles, "DeleteRole": delete_role,
    "UpdateAssumeRolePolicy": update_assume_role_policy, "UpdateRole": update_role,
    "UpdateRoleDescription": update_role_description, "TagRole": tag_role, "UntagRole": untag_role,
    "ListRoleTags": list_role_tags,
}
