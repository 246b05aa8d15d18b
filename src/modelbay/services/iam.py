"""IAM roles (botocore `iam`, AWS query protocol): the role table that jobs' RoleArns and tools' GetRole name.

The SageMaker Python SDK turns a bare role name into an ARN with GetRole, and people look roles up with
`aws iam get-role`; here roles are records only (policies that mean something come with the security
work). Every account has the execution role DEFAULT_EXECUTION_ROLE from the start, trusted by SageMaker:
it is recorded the first time any role operation runs, and it cannot be deleted (UnmodifiableEntity), as
AWS protects the roles it manages itself.

As IAM does: ARNs are `arn:aws:iam::<account>:role<path><name>`, role ids `AROA` and 17 more characters,
the trust policy comes back URL-encoded (boto3 and the AWS CLI decode it), ListRoles pages with
Marker/MaxItems in name order. Not done: role names unique regardless of case, tags on their own
(TagRole…), policies attached to roles, permissions boundaries.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import string
import urllib.parse
from typing import Any

from modelbay.config import DEFAULT_EXECUTION_ROLE
from modelbay.errors import aws_error
from modelbay.services.base import Context, Handler
from modelbay.services.listing import reading_tokens
from modelbay.store.metadata import ListFilter, RecordExists, Role

NoSuchEntity = aws_error("NoSuchEntity", 404)
EntityAlreadyExists = aws_error("EntityAlreadyExists", 409)
UnmodifiableEntity = aws_error("UnmodifiableEntity")
MalformedPolicyDocument = aws_error("MalformedPolicyDocument")

DEFAULT_MAX_ITEMS = 100
_ID_ALPHABET = string.ascii_uppercase + string.digits
SAGEMAKER_TRUST_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def create_role(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _ensure_default_role(ctx)
    return {"Role": _wire(_create(ctx, params))}


def get_role(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _ensure_default_role(ctx)
    return {"Role": _wire(_found(ctx, params["RoleName"]))}


def list_roles(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of roles in name order, only those under PathPrefix if given."""
    _ensure_default_role(ctx)
    prefix = _arn(ctx, params.get("PathPrefix", "/"), "")
    with reading_tokens():
        page = ctx.metadata.roles.list(ListFilter(arn_prefix=prefix), sort_by="Name", ascending=True,
                                       after_token=params.get("Marker"),
                                       limit=params.get("MaxItems", DEFAULT_MAX_ITEMS))
    answer: dict[str, Any] = {"Roles": [_wire(role) for role in page.items], "IsTruncated": page.next_token is not None}
    return answer | ({"Marker": page.next_token} if page.next_token else {})


def delete_role(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["RoleName"]
    if name == DEFAULT_EXECUTION_ROLE:
        raise UnmodifiableEntity(f"Cannot perform the operation on the protected role '{name}' - this role is "
                                 "only modifiable by modelbay")
    if ctx.metadata.roles.delete(name) is None:
        raise _no_such_role(name)
    return {}


def _create(ctx: Context, params: dict[str, Any]) -> Role:
    name, path = params["RoleName"], params.get("Path", "/")
    try:
        json.loads(params["AssumeRolePolicyDocument"])
    except ValueError:
        raise MalformedPolicyDocument("This policy contains invalid Json") from None
    request = {"Path": path, "MaxSessionDuration": 3600, **params,
               "RoleId": "AROA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))}
    try:
        return ctx.metadata.roles.create(name, _arn(ctx, path, name), request)
    except RecordExists:
        raise EntityAlreadyExists(f"Role with name {name} already exists.") from None


def _ensure_default_role(ctx: Context) -> None:
    """Record the account's execution role if it is not yet (concurrent first calls may race: one wins)."""
    if ctx.metadata.roles.get(DEFAULT_EXECUTION_ROLE) is None:
        with contextlib.suppress(EntityAlreadyExists):
            _create(ctx, {"RoleName": DEFAULT_EXECUTION_ROLE, "AssumeRolePolicyDocument": SAGEMAKER_TRUST_POLICY,
                          "Description": "The execution role every modelbay account starts with."})


def _found(ctx: Context, name: str) -> Role:
    role = ctx.metadata.roles.get(name)
    if role is None:
        raise _no_such_role(name)
    return role


def _no_such_role(name: str) -> Exception:
    return NoSuchEntity(f"The role with name {name} cannot be found.")


def _arn(ctx: Context, path: str, name: str) -> str:
    return f"arn:aws:iam::{ctx.settings.account_id}:role{path}{name}"


def _wire(role: Role) -> dict[str, Any]:
    request = role.request
    wire = {"Path": request["Path"], "RoleName": role.name, "RoleId": request["RoleId"], "Arn": role.arn,
            "CreateDate": role.creation_time, "MaxSessionDuration": request["MaxSessionDuration"],
            "AssumeRolePolicyDocument": urllib.parse.quote(request["AssumeRolePolicyDocument"], safe=""),
            "RoleLastUsed": {}}
    return wire | {key: request[key] for key in ("Description", "Tags") if key in request}


OPERATIONS: dict[str, Handler] = {"CreateRole": create_role, "GetRole": get_role, "ListRoles": list_roles,
                                  "DeleteRole": delete_role}
