"""IAM managed policies: the account's own (customer managed, with up to five versions, one the default) and AWS's
(security/managed_policies.py: listed, read and attached like the account's, never changed or deleted).

As IAM does: policy ids are `ANPA` and 17 more characters, ARNs `arn:aws:iam::<account>:policy<path><name>`,
names unique regardless of case; a document is checked by the policy engine (MalformedPolicyDocument with its
message) and comes back URL-encoded; a policy is deleted only once it is attached to nothing and has no version but
its default (DeleteConflict). ListPolicies leaves descriptions and tags out, as IAM's listings do; its
PolicyUsageFilter is not applied.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelbay.security.managed_policies import AWS_MANAGED_POLICIES, ManagedPolicy
from modelbay.services.base import Context, Handler, present
from modelbay.services.iam.documents import check_managed, document_wire
from modelbay.services.iam.entities import (
    EntityAlreadyExists,
    NoSuchEntity,
    UnmodifiableEntity,
    arn,
    changed,
    new_id,
    no_such,
    store_errors,
)
from modelbay.services.iam.pages import page
from modelbay.services.iam.tags import MAX_TAGS, tag_list, tag_pairs
from modelbay.store.metadata import RecordExists
from modelbay.store.metadata.iam_policies import AWS_POLICY_PREFIX, PolicyRecord, PolicyVersion

MAX_VERSIONS = 5
AWS_POLICIES_CREATED = datetime(2025, 1, 1, tzinfo=UTC)  # when modelbay's AWS managed policies were written


@dataclass(frozen=True)
class Counts:
    """How many entities each policy (by ARN) is attached to, and is the permissions boundary of."""

    attachments: dict[str, int]
    boundaries: Counter[str]


def create_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name, path, document = params["PolicyName"], params.get("Path", "/"), params["PolicyDocument"]
    check_managed(document)
    try:
        policy = ctx.metadata.iam_policies.create_policy(name, path, arn(ctx, "policy", path, name), new_id("ANPA"),
                                                         document, params.get("Description"),
                                                         tag_pairs(params.get("Tags", [])))
    except RecordExists:
        raise EntityAlreadyExists(f"A policy called {name} already exists. Duplicate names are not allowed.") from None
    changed(ctx)
    return {"Policy": _local_wire(policy, 0, full=True)}


def get_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    policy_arn = params["PolicyArn"]
    counts = _counts(ctx)
    aws = AWS_MANAGED_POLICIES.get(policy_arn)
    if aws is not None:
        return {"Policy": _aws_wire(aws, counts, full=True)}
    return {"Policy": _local_wire(_found(ctx, policy_arn), counts.boundaries[policy_arn], full=True)}


def list_policies(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Scope All (the default), AWS or Local; OnlyAttached: those attached to a user, group or role."""
    scope, prefix, counts = params.get("Scope", "All"), params.get("PathPrefix", "/"), _counts(ctx)
    wires = []
    if scope in ("All", "AWS"):
        aws = [policy for policy in AWS_MANAGED_POLICIES.values() if policy.path.startswith(prefix)]
        wires += [_aws_wire(policy, counts) for policy in aws]
    if scope in ("All", "Local"):
        local = ctx.metadata.iam_policies.policies(prefix)
        wires += [_local_wire(policy, counts.boundaries[policy.arn]) for policy in local]
    if params.get("OnlyAttached"):
        wires = [wire for wire in wires if wire["AttachmentCount"]]
    policies, paging = page(params, wires, lambda wire: str(wire["Arn"]), "policies")
    return {"Policies": policies} | paging


def delete_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with store_errors():
        ctx.metadata.iam_policies.delete_policy(_local(params["PolicyArn"]))
    changed(ctx)
    return {}


def create_policy_version(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    check_managed(params["PolicyDocument"])
    with store_errors():
        version = ctx.metadata.iam_policies.create_version(_local(params["PolicyArn"]), params["PolicyDocument"],
                                                           params.get("SetAsDefault", False), MAX_VERSIONS)
    changed(ctx)
    return {"PolicyVersion": _version_wire(version, with_document=False)}


def get_policy_version(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    policy_arn, version_id = params["PolicyArn"], params["VersionId"]
    aws = AWS_MANAGED_POLICIES.get(policy_arn)
    if aws is not None:
        if version_id != aws.version_id:
            raise no_such("policy version", version_id)
        return {"PolicyVersion": _version_wire(_aws_version(aws))}
    with store_errors():
        return {"PolicyVersion": _version_wire(ctx.metadata.iam_policies.version(policy_arn, version_id))}


def list_policy_versions(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Newest first, without their documents."""
    aws = AWS_MANAGED_POLICIES.get(params["PolicyArn"])
    if aws is not None:
        versions = [_aws_version(aws)]
    else:
        with store_errors():
            versions = ctx.metadata.iam_policies.versions(params["PolicyArn"])
    chosen, paging = page(params, versions, lambda version: -int(version.version_id[1:]), "policy versions")
    return {"Versions": [_version_wire(version, with_document=False) for version in chosen]} | paging


def delete_policy_version(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with store_errors():
        ctx.metadata.iam_policies.delete_version(_local(params["PolicyArn"]), params["VersionId"])
    changed(ctx)
    return {}


def set_default_policy_version(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with store_errors():
        ctx.metadata.iam_policies.set_default_version(_local(params["PolicyArn"]), params["VersionId"])
    changed(ctx)
    return {}


def tag_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with store_errors():
        ctx.metadata.iam_policies.set_policy_tags(_local(params["PolicyArn"]), tag_pairs(params["Tags"]), MAX_TAGS)
    changed(ctx)
    return {}


def untag_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with store_errors():
        ctx.metadata.iam_policies.remove_policy_tags(_local(params["PolicyArn"]), params["TagKeys"])
    changed(ctx)
    return {}


def list_policy_tags(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    tags = tag_list(_found(ctx, _local(params["PolicyArn"])).tags)
    chosen, paging = page(params, tags, lambda tag: str(tag["Key"]).lower(), "policy tags")
    return {"Tags": chosen} | paging


def check_attachable(ctx: Context, policy_arn: str) -> None:
    """Raise NoSuchEntity unless `policy_arn` names an AWS managed policy or one of the account's."""
    if policy_arn not in AWS_MANAGED_POLICIES and ctx.metadata.iam_policies.policy(policy_arn) is None:
        raise NoSuchEntity(f"Policy {policy_arn} does not exist or is not attachable.")


def _local(policy_arn: str) -> str:
    """`policy_arn`, if it may be changed: not an AWS managed policy's."""
    if policy_arn.startswith(AWS_POLICY_PREFIX):
        raise UnmodifiableEntity(f"Policy {policy_arn} is managed by AWS: it cannot be changed or deleted.")
    return policy_arn


def _found(ctx: Context, policy_arn: str) -> PolicyRecord:
    policy = ctx.metadata.iam_policies.policy(policy_arn)
    if policy is None:
        raise no_such("policy", policy_arn)
    return policy


def _counts(ctx: Context) -> Counts:
    boundaries = Counter(user.permissions_boundary for user in ctx.metadata.iam.users() if user.permissions_boundary)
    return Counts(ctx.metadata.iam_policies.attachment_counts(), boundaries)


def _aws_version(policy: ManagedPolicy) -> PolicyVersion:
    return PolicyVersion(policy.version_id, policy.document_text, True, AWS_POLICIES_CREATED)


def _aws_wire(policy: ManagedPolicy, counts: Counts, full: bool = False) -> dict[str, Any]:
    wire = {"PolicyName": policy.name, "PolicyId": policy.policy_id, "Arn": policy.arn, "Path": policy.path,
            "DefaultVersionId": policy.version_id, "AttachmentCount": counts.attachments.get(policy.arn, 0),
            "PermissionsBoundaryUsageCount": counts.boundaries[policy.arn], "IsAttachable": True,
            "CreateDate": AWS_POLICIES_CREATED, "UpdateDate": AWS_POLICIES_CREATED}
    return wire | ({"Description": policy.description} if full else {})


def _local_wire(policy: PolicyRecord, boundary_count: int, full: bool = False) -> dict[str, Any]:
    wire = {"PolicyName": policy.name, "PolicyId": policy.policy_id, "Arn": policy.arn, "Path": policy.path,
            "DefaultVersionId": policy.default_version, "AttachmentCount": policy.attachment_count,
            "PermissionsBoundaryUsageCount": boundary_count, "IsAttachable": True,
            "CreateDate": policy.created, "UpdateDate": policy.updated}
    return wire | (present(Description=policy.description, Tags=tag_list(policy.tags) or None) if full else {})


def _version_wire(version: PolicyVersion, with_document: bool = True) -> dict[str, Any]:
    wire = {"VersionId": version.version_id, "IsDefaultVersion": version.is_default, "CreateDate": version.created}
    return wire | ({"Document": document_wire(version.document)} if with_document else {})


OPERATIONS: dict[str, Handler] = {
    "CreatePolicy": create_policy, "GetPolicy": get_policy, "ListPolicies": list_policies,
    "DeletePolicy": delete_policy, "CreatePolicyVersion": create_policy_version,
    "GetPolicyVersion": get_policy_version, "ListPolicyVersions": list_policy_versions,
    "DeletePolicyVersion": delete_policy_version, "SetDefaultPolicyVersion": set_default_policy_version,
    "TagPolicy": tag_policy, "UntagPolicy": untag_policy, "ListPolicyTags": list_policy_tags,
}
