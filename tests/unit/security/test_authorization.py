"""Authorization: a call's needs against the caller's policies, narrowed by boundaries and session policies, with
the condition keys AWS gives (the request's, the global ones, the resource's tags read only when asked)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from modelbay.config import Settings
from modelbay.errors import AccessDenied
from modelbay.platform import Platform, open_platform
from modelbay.security.authentication import Identity
from modelbay.security.authorization import Authorizer
from modelbay.security.principal import ASSUMED_ROLE, IAM_USER, Principal
from modelbay.services.base import Context
from modelbay.services.iam import OPERATIONS as IAM

ACCOUNT = "000000000000"
READ_ONLY = "arn:aws:iam::aws:policy/AmazonSageMakerReadOnly"
FULL = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
MODEL = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model/m"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Platform]:
    platform = open_platform(Settings(data_dir=tmp_path, auth="iam"))
    yield platform
    platform.metadata.close()


def iam(home: Platform, operation: str, **params: Any) -> Any:
    return IAM[operation](Context(home, "test", "us-east-1", Principal("AKIAROOT", ACCOUNT)), params)


def user(home: Platform, name: str, *managed: str, **inline: dict[str, Any]) -> Identity:
    made = iam(home, "CreateUser", UserName=name)["User"]
    for arn in managed:
        iam(home, "AttachUserPolicy", UserName=name, PolicyArn=arn)
    for policy, document in inline.items():
        iam(home, "PutUserPolicy", UserName=name, PolicyName=policy, PolicyDocument=json.dumps(document))
    return Identity(Principal("AKIAUSER", ACCOUNT, IAM_USER, name, "/", made["UserId"]))


def statement(effect: str, action: str, resource: str = "*", **condition: Any) -> dict[str, Any]:
    found = {"Effect": effect, "Action": action, "Resource": resource}
    return {"Version": "2012-10-17", "Statement": [found | ({"Condition": condition} if condition else {})]}


def refusal(authorizer: Authorizer, identity: Identity, home: Platform, operation: str, **params: Any) -> str:
    with pytest.raises(AccessDenied) as caught:
        authorizer.authorize(identity, "sagemaker", operation, params, home, "10.0.0.1")
    return caught.value.message


def test_the_root_may_do_anything_and_an_unsigned_call_nothing(home: Platform) -> None:
    authorizer = Authorizer(home, "iam")
    authorizer.authorize(Identity(Principal("AKIAROOT", ACCOUNT)), "sagemaker", "DeleteModel", {"ModelName": "m"},
                         home, None)
    message = refusal(authorizer, Identity(Principal(None, ACCOUNT)), home, "ListModels")
    assert message.startswith("Anonymous users are not authorized to perform: sagemaker:ListModels")


def test_in_open_mode_nothing_is_refused(home: Platform) -> None:
    Authorizer(home, "open").authorize(Identity(Principal(None, ACCOUNT)), "sagemaker", "DeleteModel",
                                       {"ModelName": "m"}, home, None)


def test_a_read_only_user_lists_but_may_not_delete_and_is_told_why(home: Platform) -> None:
    authorizer, reader = Authorizer(home, "iam"), user(home, "reader", READ_ONLY)
    authorizer.authorize(reader, "sagemaker", "ListModels", {}, home, None)
    assert refusal(authorizer, reader, home, "DeleteModel", ModelName="M") == (
        f"User: arn:aws:iam::{ACCOUNT}:user/reader is not authorized to perform: sagemaker:DeleteModel on resource: "
        f"{MODEL} because no identity-based policy allows the sagemaker:DeleteModel action")


def test_an_explicit_deny_wins_and_a_policy_added_later_counts_at_once(home: Platform) -> None:
    authorizer, full = Authorizer(home, "iam"), user(home, "full", FULL)
    authorizer.authorize(full, "sagemaker", "DeleteModel", {"ModelName": "m"}, home, None)  # now cached
    iam(home, "PutUserPolicy", UserName="full", PolicyName="keep",
        PolicyDocument=json.dumps(statement("Deny", "sagemaker:Delete*")))
    assert "with an explicit deny in an identity-based policy" in refusal(authorizer, full, home, "DeleteModel",
                                                                         ModelName="m")


def test_a_permissions_boundary_and_a_session_policy_each_narrow_what_is_allowed(home: Platform) -> None:
    authorizer, bounded = Authorizer(home, "iam"), user(home, "bounded", FULL)
    iam(home, "PutUserPermissionsBoundary", UserName="bounded", PermissionsBoundary=READ_ONLY)
    authorizer.authorize(bounded, "sagemaker", "ListModels", {}, home, None)
    assert "because no permissions boundary allows" in refusal(authorizer, bounded, home, "DeleteModel",
                                                               ModelName="m")
    role = iam(home, "CreateRole", RoleName="worker", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT},
                                                "Action": "sts:AssumeRole"}]}))["Role"]
    iam(home, "AttachRolePolicy", RoleName="worker", PolicyArn=FULL)
    session = Principal("ASIASESSION", ACCOUNT, ASSUMED_ROLE, "worker", "/", role["RoleId"], "s")
    narrowed = Identity(session, session_policy=json.dumps(statement("Allow", "sagemaker:List*")))
    authorizer.authorize(narrowed, "sagemaker", "ListModels", {}, home, None)
    assert "because no session policy allows" in refusal(authorizer, narrowed, home, "DeleteModel", ModelName="m")
    by_arn = Identity(session, session_policy_arns=(READ_ONLY,))
    assert "because no session policy allows" in refusal(authorizer, by_arn, home, "DeleteModel", ModelName="m")
    authorizer.authorize(dataclasses.replace(by_arn, session_policy_arns=()), "sagemaker", "DeleteModel",
                         {"ModelName": "m"}, home, None)


def test_conditions_read_the_request_the_caller_and_the_resources_tags(home: Platform) -> None:
    authorizer = Authorizer(home, "iam", clock=lambda: datetime(2026, 12, 6, tzinfo=UTC))
    tagged = user(home, "tagged", by_tag=statement("Allow", "sagemaker:DeleteModel", **{
        "StringEquals": {"sagemaker:ResourceTag/team": "ml"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
        "DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}))
    assert "no identity-based policy allows" in refusal(authorizer, tagged, home, "DeleteModel", ModelName="m")
    home.metadata.tags.add(MODEL, [("Team", "ml")])
    authorizer.authorize(tagged, "sagemaker", "DeleteModel", {"ModelName": "m"}, home, "10.0.0.1")
    with pytest.raises(AccessDenied):
        authorizer.authorize(tagged, "sagemaker", "DeleteModel", {"ModelName": "m"}, home, "192.168.0.1")


def test_mfa_is_present_only_in_a_sessions_context(home: Platform) -> None:
    """Long-term keys carry no aws:MultiFactorAuthPresent (so BoolIfExists … false denies them); sessions do."""
    authorizer = Authorizer(home, "iam")
    deny_without_mfa = statement("Deny", "sagemaker:*", **{"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})
    guarded = user(home, "guarded", FULL, mfa=deny_without_mfa)
    assert "explicit deny" in refusal(authorizer, guarded, home, "ListModels")
    with_mfa = dataclasses.replace(guarded.principal, access_key_id="ASIAMFA",
                                   mfa_authenticated_at=datetime.now(UTC))
    authorizer.authorize(Identity(with_mfa), "sagemaker", "ListModels", {}, home, None)
    without = dataclasses.replace(guarded.principal, access_key_id="ASIANOMFA")
    assert "explicit deny" in refusal(authorizer, Identity(without), home, "ListModels")
