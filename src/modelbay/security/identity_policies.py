"""The identity-based policies of a user or a role, parsed, as the authorizer and SimulatePrincipalPolicy evaluate them.

A user's are its inline policies, then its groups' (group by group), then the managed policies attached to it or to
any of its groups (each once, its default version; AWS managed ones from managed_policies.py); a role's are its
inline and attached policies. They are read in a few queries (IamPolicyRepository.granted); the caller caches the
answer until IAM changes, and documents are parsed once per text here, as a text's parse never changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from modelbay.security.managed_policies import AWS_MANAGED_POLICIES
from modelbay.security.policy_document import PolicyDocument, parse_policy
from modelbay.security.policy_evaluation import NamedPolicy
from modelbay.store.metadata import MetadataStore
from modelbay.store.metadata.iam_policies import GrantedPolicy


@dataclass(frozen=True)
class SourcedPolicy:
    """A policy with where it comes from, as SimulatePrincipalPolicy's MatchedStatements name it: `source_type`
    "user", "group" or "role" (an inline policy of one), "aws-managed" or "user-managed"; `source_id` the inline
    policy's name or the managed policy's name."""

    source_type: str
    source_id: str
    policy: NamedPolicy


def identity_policies(metadata: MetadataStore, kind: str, name: str) -> list[NamedPolicy]:
    """The policies of the user (`kind` "user") or role ("role") named `name`; none if there is no such one.
    Inline policies are named by their names, managed ones by their ARNs."""
    return [sourced.policy for sourced in sourced_policies(metadata, kind, name)]


def sourced_policies(metadata: MetadataStore, kind: str, name: str) -> list[SourcedPolicy]:
    """identity_policies, each with its source."""
    return [sourced for granted in metadata.iam_policies.granted(kind, name) or []
            if (sourced := _sourced(granted)) is not None]


def permissions_boundary(metadata: MetadataStore, name: str) -> NamedPolicy | None:
    """The managed policy that bounds the user's permissions (what it allows is all its policies may allow), if any.
    A boundary whose policy has gone bounds nothing (IAM refuses to delete a policy in use as one)."""
    user = metadata.iam.user(name)
    if user is None or user.permissions_boundary is None:
        return None
    return managed_policy(metadata, user.permissions_boundary)


def managed_policy(metadata: MetadataStore, arn: str) -> NamedPolicy | None:
    """An AWS managed or customer managed policy's default version, named by its ARN; None if there is none."""
    aws = AWS_MANAGED_POLICIES.get(arn)
    if aws is not None:
        return NamedPolicy(arn, aws.document)
    policy = metadata.iam_policies.policy(arn)
    if policy is None:
        return None
    return NamedPolicy(arn, parsed(metadata.iam_policies.version(arn, policy.default_version).document))


@lru_cache(maxsize=4096)
def parsed(text: str) -> PolicyDocument:
    """A stored document, parsed once (IAM checked it as it was stored, so it parses)."""
    return parse_policy(text)


def _sourced(granted: GrantedPolicy) -> SourcedPolicy | None:
    source_id = granted.name.rpartition("/")[2]  # a managed policy's name; an inline policy's name has no slash
    if granted.document is None:  # an AWS managed policy, whose document is modelbay's
        aws = AWS_MANAGED_POLICIES.get(granted.name)
        return None if aws is None else SourcedPolicy("aws-managed", source_id, NamedPolicy(granted.name, aws.document))
    source_type = "user-managed" if granted.source == "managed" else granted.source
    return SourcedPolicy(source_type, source_id, NamedPolicy(granted.name, parsed(granted.document)))
