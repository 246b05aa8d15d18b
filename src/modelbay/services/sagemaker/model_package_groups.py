"""SageMaker's model package groups (the Model Registry's folders of versions): CreateModelPackageGroup,
DescribeModelPackageGroup, ListModelPackageGroups, DeleteModelPackageGroup, and the group's resource policy
(PutModelPackageGroupPolicy, GetModelPackageGroupPolicy, DeleteModelPackageGroupPolicy).

modelbay answers for one account, so a policy is kept and given back (parsed, to refuse a malformed one) but grants
nothing: no other account calls.
"""

from __future__ import annotations

import json
from typing import Any

from modelbay.errors import ValidationError, aws_error
from modelbay.services.base import Context, Handler
from modelbay.services.listing import list_page
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.store.metadata import RecordExists
from modelbay.store.metadata.model_packages import GroupNotEmpty, ModelPackageGroup, ModelPackageGroupNotFound

ConflictException = aws_error("ConflictException")


def create_model_package_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record the group, Completed, with its tags; ValidationException if a group has the name."""
    if "ManagedConfiguration" in params:
        raise ValidationError("ManagedConfiguration (an MLflow model registry) is not supported by modelbay.")
    name: str = params["ModelPackageGroupName"]
    arn = ctx.arn("sagemaker", f"model-package-group/{name.lower()}")
    tags = creation_tags(params)
    try:
        ctx.metadata.model_package_groups.create(name, arn, params.get("ModelPackageGroupDescription"),
                                                 user_context(ctx))
    except RecordExists as err:
        raise ValidationError(f"Model Package Group already exists: {err.arn}") from err
    store_tags(ctx, arn, tags)
    return {"ModelPackageGroupArn": arn}


def user_context(ctx: Context) -> dict[str, Any]:
    """Who calls, as CreatedBy and LastModifiedBy say it (a UserContext): the caller's IAM identity, if signed."""
    if ctx.principal.access_key_id is None:
        return {}
    return {"IamIdentity": {"Arn": ctx.principal.arn, "PrincipalId": ctx.principal.user_id}}


def get_group(ctx: Context, name_or_arn: str) -> ModelPackageGroup:
    """The group of this name or ARN; ValidationException (SageMaker's "does not exist") if there is none."""
    found = ctx.metadata.model_package_groups.get(name_or_arn)
    if found is None:
        raise not_found(name_or_arn)
    return found


def not_found(name: str) -> ValidationError:
    return ValidationError(f"ModelPackageGroup {name} does not exist.")


def describe_model_package_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return get_group(ctx, params["ModelPackageGroupName"]).members()


def list_model_package_groups(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of group summaries, newest first unless asked otherwise (every group is this account's)."""
    return list_page(params, ctx.metadata.model_package_groups.list, "ModelPackageGroupSummaryList",
                     lambda group: {key: value for key, value in group.members().items() if key != "CreatedBy"})


def delete_model_package_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete an empty group and its tags; ConflictException while it holds versions."""
    group = get_group(ctx, params["ModelPackageGroupName"])
    try:
        ctx.metadata.model_package_groups.delete(group.name)
    except ModelPackageGroupNotFound as err:  # deleted meanwhile
        raise not_found(group.name) from err
    except GroupNotEmpty as err:
        raise ConflictException(f"Model Package Group {group.arn} cannot be deleted: it holds {err.count} model "
                                "package versions. Delete them first.") from err
    return {}


def put_model_package_group_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Keep the group's resource policy, a JSON policy document; ValidationException for one that is not."""
    policy: str = params["ResourcePolicy"]
    try:
        parsed = json.loads(policy)
    except ValueError as err:
        raise ValidationError(f"The ResourcePolicy is not valid JSON: {err}") from err
    if not isinstance(parsed, dict) or "Statement" not in parsed:
        raise ValidationError("The ResourcePolicy must be a JSON policy document: an object with a Statement.")
    return {"ModelPackageGroupArn": _set_policy(ctx, params["ModelPackageGroupName"], policy).arn}


def get_model_package_group_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    group = get_group(ctx, params["ModelPackageGroupName"])
    if group.resource_policy is None:
        raise _no_policy(group)
    return {"ResourcePolicy": group.resource_policy}


def delete_model_package_group_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    group = get_group(ctx, params["ModelPackageGroupName"])
    if group.resource_policy is None:
        raise _no_policy(group)
    _set_policy(ctx, group.name, None)
    return {}


def _set_policy(ctx: Context, name_or_arn: str, policy: str | None) -> ModelPackageGroup:
    group = get_group(ctx, name_or_arn)
    try:
        return ctx.metadata.model_package_groups.set_policy(group.name, policy)
    except ModelPackageGroupNotFound as err:  # deleted meanwhile
        raise not_found(name_or_arn) from err


def _no_policy(group: ModelPackageGroup) -> ValidationError:
    return ValidationError(f"Model Package Group {group.arn} has no resource policy.")


OPERATIONS: dict[str, Handler] = {
    "CreateModelPackageGroup": create_model_package_group,
    "DescribeModelPackageGroup": describe_model_package_group,
    "ListModelPackageGroups": list_model_package_groups,
    "DeleteModelPackageGroup": delete_model_package_group,
    "PutModelPackageGroupPolicy": put_model_package_group_policy,
    "GetModelPackageGroupPolicy": get_model_package_group_policy,
    "DeleteModelPackageGroupPolicy": delete_model_package_group_policy}
