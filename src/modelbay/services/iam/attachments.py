"""Managed policies attached to users, groups and roles: Attach/Detach{User,Group,Role}Policy,
ListAttached{User,Group,Role}Policies (the three kinds alike, made by one function each) and ListEntitiesForPolicy.

As IAM does: an entity has at most MAX_POLICIES_PER_ENTITY managed policies (LimitExceeded); attaching a policy
twice changes nothing; detaching one that is not attached is NoSuchEntity.
"""

from __future__ import annotations

from typing import Any

from modelbay.security.managed_policies import AWS_MANAGED_POLICIES
from modelbay.services.base import Context, Handler
from modelbay.services.iam.entities import changed, store_errors
from modelbay.services.iam.pages import page
from modelbay.services.iam.policies import check_attachable
from modelbay.store.metadata.iam_policies import AWS_POLICY_PREFIX, Holder

MAX_POLICIES_PER_ENTITY = 10
_ENTITY_FILTERS = {"User": "user", "Group": "group", "Role": "role"}


def policy_path_and_name(policy_arn: str) -> tuple[str, str]:
    """The path and the name an attached policy's ARN holds (arn:aws:iam::<account>:policy/<path…/>name)."""
    path, _, name = policy_arn.partition(":policy")[2].rpartition("/")
    return path + "/", name


def _operations(kind: str) -> dict[str, Handler]:
    """The attachment operations of users, groups or roles (`kind`), named as IAM names them."""
    title = kind.capitalize()
    member = f"{title}Name"

    def attach(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        if params["PolicyArn"].startswith(AWS_POLICY_PREFIX):
            check_attachable(ctx, params["PolicyArn"])
        with store_errors():
            ctx.metadata.iam_policies.attach(kind, params[member], params["PolicyArn"], MAX_POLICIES_PER_ENTITY)
        changed(ctx)
        return {}

    def detach(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        with store_errors():
            ctx.metadata.iam_policies.detach(kind, params[member], params["PolicyArn"])
        changed(ctx)
        return {}

    def list_attached(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        """The attached policies under PathPrefix."""
        with store_errors():
            arns = ctx.metadata.iam_policies.attached(kind, params[member])
        prefix = params.get("PathPrefix", "/")
        wanted = [arn for arn in arns if policy_path_and_name(arn)[0].startswith(prefix)]
        chosen, paging = page(params, wanted, lambda arn: arn, f"{kind} {params[member].lower()} policies")
        return {"AttachedPolicies": [{"PolicyName": policy_path_and_name(arn)[1], "PolicyArn": arn}
                                     for arn in chosen]} | paging

    return {f"Attach{title}Policy": attach, f"Detach{title}Policy": detach,
            f"ListAttached{title}Policies": list_attached}


def list_entities_for_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The users, groups and roles the policy is attached to, of the kind EntityFilter names, under PathPrefix."""
    policy_arn = params["PolicyArn"]
    check_attachable(ctx, policy_arn)
    kinds = _kinds(params.get("EntityFilter"), policy_arn in AWS_MANAGED_POLICIES)
    prefix = params.get("PathPrefix", "/")
    holders = [holder for holder in ctx.metadata.iam_policies.holders(policy_arn)
               if holder.kind in kinds and holder.path.startswith(prefix)]
    chosen, paging = page(params, holders, lambda holder: f"{holder.kind} {holder.name.lower()}",
                          f"entities of {policy_arn}")
    return {"PolicyGroups": _of(chosen, "group"), "PolicyUsers": _of(chosen, "user"),
            "PolicyRoles": _of(chosen, "role")} | paging


def _kinds(entity_filter: str | None, aws_managed: bool) -> set[str]:
    """The kinds of holder EntityFilter asks for (LocalManagedPolicy and AWSManagedPolicy: all, if the policy is of
    that kind, else none)."""
    if entity_filter in _ENTITY_FILTERS:
        return {_ENTITY_FILTERS[entity_filter]}
    if entity_filter is None or entity_filter == ("AWSManagedPolicy" if aws_managed else "LocalManagedPolicy"):
        return set(_ENTITY_FILTERS.values())
    return set()


def _of(holders: list[Holder], kind: str) -> list[dict[str, str]]:
    title = kind.capitalize()
    return [{f"{title}Name": holder.name, f"{title}Id": holder.unique_id} for holder in holders if holder.kind == kind]


OPERATIONS: dict[str, Handler] = {
    **_operations("user"), **_operations("group"), **_operations("role"),
    "ListEntitiesForPolicy": list_entities_for_policy,
}
