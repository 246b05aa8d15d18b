"""A user's and a role's identity-based policies as the authorizer gets them: inline, groups', attached (default
versions; AWS managed from the catalog), parsed, and what they decide."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay.security.identity_policies import identity_policies, permissions_boundary, sourced_policies
from modelbay.security.managed_policies import AWS_MANAGED_POLICIES
from modelbay.security.policy_evaluation import AuthorizationRequest, Decision, evaluate
from modelbay.store.metadata import MetadataStore, open_metadata_store

ACCOUNT = "arn:aws:iam::000000000000"
READ_ONLY = "arn:aws:iam::aws:policy/AmazonSageMakerReadOnly"


def _doc(action: str, effect: str = "Allow") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": action, "Resource": "*"}]})


@pytest.fixture
def metadata(tmp_path: Path) -> Iterator[MetadataStore]:
    """A store with the user alice in the group team."""
    store = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}")
    store.iam.create_user("alice", "/", f"{ACCOUNT}:user/alice", "AIDAALICE")
    store.iam.create_group("team", "/", f"{ACCOUNT}:group/team", "AGPATEAM")
    store.iam.add_member("team", "alice", max_groups=10)
    yield store
    store.close()


def test_a_users_policies_are_its_own_and_its_groups(metadata: MetadataStore) -> None:
    arn = f"{ACCOUNT}:policy/logs"
    metadata.iam_policies.create_policy("logs", "/", arn, "ANPALOGS", _doc("logs:Nothing"))
    metadata.iam_policies.create_version(arn, _doc("logs:GetLogEvents"), set_as_default=True, max_versions=5)
    metadata.iam_policies.put_inline("user", "alice", "deny-deletes", _doc("sagemaker:Delete*", "Deny"))
    metadata.iam_policies.put_inline("group", "team", "s3", _doc("s3:GetObject"))
    metadata.iam_policies.attach("group", "team", READ_ONLY, max_policies=10)
    metadata.iam_policies.attach("user", "alice", arn, max_policies=10)
    policies = identity_policies(metadata, "user", "alice")
    assert [policy.name for policy in policies] == ["deny-deletes", "s3", READ_ONLY, arn]
    assert policies[2].document is AWS_MANAGED_POLICIES[READ_ONLY].document

    def decision(action: str) -> Decision:
        return evaluate(policies, AuthorizationRequest(action, "*")).decision

    assert decision("sagemaker:ListModels") == Decision.ALLOWED  # the group's AWS managed policy
    assert decision("s3:GetObject") == Decision.ALLOWED  # the group's inline policy
    assert decision("logs:GetLogEvents") == Decision.ALLOWED  # the default version, not v1
    assert decision("sagemaker:DeleteModel") == Decision.EXPLICIT_DENY
    assert decision("sagemaker:CreateModel") == Decision.IMPLICIT_DENY
    assert [(source.source_type, source.source_id) for source in sourced_policies(metadata, "user", "alice")] == [
        ("user", "deny-deletes"), ("group", "s3"), ("aws-managed", "AmazonSageMakerReadOnly"),
        ("user-managed", "logs")]


def test_a_roles_policies_and_unknown_principals(metadata: MetadataStore) -> None:
    metadata.roles.create("r", f"{ACCOUNT}:role/r", {"Path": "/", "RoleId": "AROAR"})
    metadata.iam_policies.put_inline("role", "r", "p", _doc("s3:*"))
    assert [policy.name for policy in identity_policies(metadata, "role", "r")] == ["p"]
    assert identity_policies(metadata, "role", "none") == identity_policies(metadata, "user", "none") == []


def test_permissions_boundary(metadata: MetadataStore) -> None:
    assert permissions_boundary(metadata, "alice") is None
    metadata.iam.set_permissions_boundary("alice", READ_ONLY)
    boundary = permissions_boundary(metadata, "alice")
    assert boundary is not None and boundary.name == READ_ONLY
