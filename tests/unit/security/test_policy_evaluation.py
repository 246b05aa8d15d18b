from __future__ import annotations

import json
from typing import Any

import pytest

from modelbay.security.policy_document import PolicyKind, parse_policy
from modelbay.security.policy_evaluation import (
    AuthorizationRequest,
    Decision,
    MatchedStatement,
    NamedPolicy,
    RequestPrincipal,
    evaluate,
)
from modelbay.security.principal import ANONYMOUS, ASSUMED_ROLE, IAM_USER, ROOT, Principal
from modelbay.security.request_context import ContextValue

ACCOUNT = "111122223333"
JOB = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/churn"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Builder"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/Builder/ci"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"


def policy(name: str, *statements: dict[str, Any], version: str = "2012-10-17",
           kind: PolicyKind = PolicyKind.IDENTITY) -> NamedPolicy:
    return NamedPolicy(name, parse_policy(json.dumps({"Version": version, "Statement": list(statements)}), kind))


def allow(action: str | list[str] = "*", resource: str | list[str] = "*", **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


def deny(action: str | list[str] = "*", resource: str | list[str] = "*", **more: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **more}


def decide(policies: list[NamedPolicy], action: str = "sagemaker:CreateTrainingJob", resource: str = JOB,
           context: dict[str, ContextValue] | None = None, principal: RequestPrincipal | None = None) -> Decision:
    return evaluate(policies, AuthorizationRequest(action, resource, context or {}, principal)).decision


def test_no_policy_is_an_implicit_deny() -> None:
    assert evaluate([], AuthorizationRequest("sagemaker:ListModels", "*")).decision is Decision.IMPLICIT_DENY


def test_an_allow_allows_and_names_its_statements() -> None:
    evaluation = evaluate(
        [policy("jobs", allow("sagemaker:*TrainingJob", Sid="Jobs")), policy("all", allow(Sid="All")),
         policy("s3", allow("s3:*"))],
        AuthorizationRequest("sagemaker:CreateTrainingJob", JOB))
    assert evaluation.allowed
    assert evaluation.matched == (MatchedStatement("jobs", "Jobs", 0), MatchedStatement("all", "All", 0))


def test_an_explicit_deny_in_any_policy_wins_and_names_only_the_denials() -> None:
    evaluation = evaluate(
        [policy("all", allow()), policy("guard", allow("s3:*"), deny("sagemaker:Create*", Sid="NoCreate"))],
        AuthorizationRequest("sagemaker:CreateTrainingJob", JOB))
    assert evaluation.decision is Decision.EXPLICIT_DENY and not evaluation.allowed
    assert evaluation.matched == (MatchedStatement("guard", "NoCreate", 1),)


@pytest.mark.parametrize(("statement", "action", "resource", "expected"), [
    (allow("sagemaker:CreateTrainingJob"), "SAGEMAKER:createtrainingjob", JOB, Decision.ALLOWED),
    (allow("sagemaker:Describe*"), "sagemaker:CreateTrainingJob", JOB, Decision.IMPLICIT_DENY),
    (allow("sagemaker:?reateTrainingJob"), "sagemaker:CreateTrainingJob", JOB, Decision.ALLOWED),
    ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "sagemaker:CreateTrainingJob", JOB,
     Decision.ALLOWED),
    ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "iam:CreateUser", "*", Decision.IMPLICIT_DENY),
    (allow(resource=JOB), "sagemaker:CreateTrainingJob", JOB, Decision.ALLOWED),
    (allow(resource=JOB), "sagemaker:CreateTrainingJob", JOB + "-2", Decision.IMPLICIT_DENY),
    (allow(resource=JOB + "*"), "sagemaker:CreateTrainingJob", JOB + "-2", Decision.ALLOWED),
    (allow(resource="arn:aws:sagemaker:*:*:training-job/*"), "sagemaker:CreateTrainingJob", JOB, Decision.ALLOWED),
    (allow(resource="arn:aws:sagemaker:*:*:training-job/Churn"), "sagemaker:CreateTrainingJob", JOB,
     Decision.IMPLICIT_DENY),  # resources match case-sensitively
    (allow(resource="arn:aws:sagemaker:*:*:training-job/chur?"), "sagemaker:CreateTrainingJob", JOB,
     Decision.ALLOWED),
    (allow(resource="arn:aws:sagemaker:*:*:endpoint/*"), "sagemaker:ListTrainingJobs", "*", Decision.IMPLICIT_DENY),
    (allow(resource="*"), "sagemaker:ListTrainingJobs", "*", Decision.ALLOWED),
    ({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::secrets/*"}, "s3:GetObject",
     "arn:aws:s3:::secrets/key", Decision.IMPLICIT_DENY),
    ({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::secrets/*"}, "s3:GetObject",
     "arn:aws:s3:::data/key", Decision.ALLOWED),
    ({"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::data/*"}, "s3:GetObject",
     "arn:aws:s3:::other/key", Decision.EXPLICIT_DENY),
])
def test_actions_and_resources(statement: dict[str, Any], action: str, resource: str, expected: Decision) -> None:
    assert decide([policy("p", statement)], action, resource) is expected


def test_all_conditions_of_a_statement_must_hold() -> None:
    statement = allow(Condition={"StringEquals": {"aws:RequestedRegion": "us-east-1"},
                                 "Bool": {"aws:SecureTransport": "true", "aws:MultiFactorAuthPresent": "true"}})
    both = {"aws:RequestedRegion": "us-east-1", "aws:SecureTransport": True, "aws:MultiFactorAuthPresent": True}
    assert decide([policy("p", statement)], context=both) is Decision.ALLOWED
    assert decide([policy("p", statement)], context={**both, "aws:MultiFactorAuthPresent": False}) \
        is Decision.IMPLICIT_DENY


def test_a_deny_whose_condition_fails_does_not_apply() -> None:
    guard = deny(Condition={"Bool": {"aws:SecureTransport": "false"}})
    assert decide([policy("p", allow(), guard)], context={"aws:SecureTransport": True}) is Decision.ALLOWED
    assert decide([policy("p", allow(), guard)], context={"aws:SecureTransport": False}) is Decision.EXPLICIT_DENY


@pytest.mark.parametrize(("resource", "version", "context", "expected"), [
    ("arn:aws:s3:::home/${aws:username}/*", "2012-10-17", {"aws:username": "alice"}, Decision.ALLOWED),
    ("arn:aws:s3:::home/${aws:username}/*", "2012-10-17", {"aws:username": "bob"}, Decision.IMPLICIT_DENY),
    ("arn:aws:s3:::home/${aws:username}/*", "2012-10-17", {}, Decision.IMPLICIT_DENY),
    ("arn:aws:s3:::home/${aws:username, 'alice'}/*", "2012-10-17", {}, Decision.ALLOWED),
    ("arn:aws:s3:::home/${aws:PrincipalTag/home}/*", "2012-10-17", {"aws:principaltag/home": "alice"},
     Decision.ALLOWED),
    ("arn:aws:s3:::home/${aws:username}/*", "2008-10-17", {"aws:username": "alice"}, Decision.IMPLICIT_DENY),
])
def test_policy_variables_in_resources(resource: str, version: str, context: dict[str, ContextValue],
                                       expected: Decision) -> None:
    documents = [policy("home", allow("s3:GetObject", resource), version=version)]
    assert decide(documents, "s3:GetObject", "arn:aws:s3:::home/alice/notes.txt", context) is expected


def test_a_legacy_document_reads_a_variable_as_text() -> None:
    documents = [policy("home", allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}"), version="2008-10-17")]
    assert decide(documents, "s3:GetObject", "arn:aws:s3:::home/${aws:username}", {"aws:username": "alice"}) \
        is Decision.ALLOWED


def test_a_variable_value_is_literal_and_escapes_write_wildcard_characters() -> None:
    documents = [policy("p", allow("s3:GetObject", ["arn:aws:s3:::b/${aws:PrincipalTag/dir}/x",
                                                    "arn:aws:s3:::b/star-${*}"]))]
    assert decide(documents, "s3:GetObject", "arn:aws:s3:::b/anything/x", {"aws:PrincipalTag/dir": "*"}) \
        is Decision.IMPLICIT_DENY
    assert decide(documents, "s3:GetObject", "arn:aws:s3:::b/*/x", {"aws:PrincipalTag/dir": "*"}) is Decision.ALLOWED
    assert decide(documents, "s3:GetObject", "arn:aws:s3:::b/star-*") is Decision.ALLOWED
    assert decide(documents, "s3:GetObject", "arn:aws:s3:::b/star-s") is Decision.IMPLICIT_DENY


def trust(principal: Any, negated: bool = False) -> NamedPolicy:
    element = "NotPrincipal" if negated else "Principal"
    return policy("trust", {"Effect": "Allow", "Action": "sts:AssumeRole", element: principal}, kind=PolicyKind.TRUST)


USER = RequestPrincipal(frozenset({ALICE}), ACCOUNT)
ROLE_SESSION = RequestPrincipal(frozenset({SESSION, ROLE}), ACCOUNT)
OTHER_ACCOUNT = RequestPrincipal(frozenset({"arn:aws:iam::444455556666:user/mallory"}), "444455556666")
SAGEMAKER = RequestPrincipal(service="sagemaker.amazonaws.com")


@pytest.mark.parametrize(("principal", "caller", "expected"), [
    ({"AWS": ALICE}, USER, Decision.ALLOWED),
    ({"AWS": ALICE}, ROLE_SESSION, Decision.IMPLICIT_DENY),
    ({"AWS": ACCOUNT}, USER, Decision.ALLOWED),
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, ROLE_SESSION, Decision.ALLOWED),
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, OTHER_ACCOUNT, Decision.IMPLICIT_DENY),
    ({"AWS": ROLE}, ROLE_SESSION, Decision.ALLOWED),
    ({"AWS": SESSION}, ROLE_SESSION, Decision.ALLOWED),
    ({"Service": "sagemaker.amazonaws.com"}, SAGEMAKER, Decision.ALLOWED),
    ({"Service": "sagemaker.amazonaws.com"}, RequestPrincipal(service="SageMaker.amazonaws.com"), Decision.ALLOWED),
    ({"Service": "sagemaker.amazonaws.com"}, USER, Decision.IMPLICIT_DENY),
    ({"Service": "ec2.amazonaws.com"}, SAGEMAKER, Decision.IMPLICIT_DENY),
    ({"Federated": "cognito-identity.amazonaws.com"}, RequestPrincipal(federated="cognito-identity.amazonaws.com"),
     Decision.ALLOWED),
    ("*", OTHER_ACCOUNT, Decision.ALLOWED),
    ({"AWS": "*"}, SAGEMAKER, Decision.ALLOWED),
    ({"AWS": ACCOUNT}, None, Decision.IMPLICIT_DENY),  # no principal: anonymous
    ("*", None, Decision.ALLOWED),
])
def test_principals(principal: Any, caller: RequestPrincipal | None, expected: Decision) -> None:
    assert decide([trust(principal)], "sts:AssumeRole", ROLE, principal=caller) is expected


@pytest.mark.parametrize(("excepted", "caller", "expected"), [
    ([ALICE, ACCOUNT], USER, Decision.ALLOWED),
    ([ALICE], USER, Decision.EXPLICIT_DENY),  # its account is not excepted, so neither is the user (IAM's rule)
    ([ACCOUNT], USER, Decision.EXPLICIT_DENY),
    ([SESSION, ROLE, f"arn:aws:iam::{ACCOUNT}:root"], ROLE_SESSION, Decision.ALLOWED),
    ([ROLE, ACCOUNT], ROLE_SESSION, Decision.EXPLICIT_DENY),
    ([ALICE, ACCOUNT], OTHER_ACCOUNT, Decision.EXPLICIT_DENY),
    ([ALICE, ACCOUNT], None, Decision.EXPLICIT_DENY),
    ([ACCOUNT], RequestPrincipal(account_id=ACCOUNT), Decision.ALLOWED),  # the account's root is its account
    ("*", OTHER_ACCOUNT, Decision.ALLOWED),
])
def test_a_deny_with_not_principal_spares_only_callers_it_names_entirely(
        excepted: Any, caller: RequestPrincipal | None, expected: Decision) -> None:
    bucket = policy("bucket", {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"},
                    {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
                     "NotPrincipal": "*" if excepted == "*" else {"AWS": excepted}},
                    kind=PolicyKind.RESOURCE)
    assert decide([bucket], "s3:GetObject", "arn:aws:s3:::b/k", principal=caller) is expected


def test_not_principal_spares_a_service_it_names() -> None:
    bucket = policy("bucket", {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"},
                    {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
                     "NotPrincipal": {"Service": "sagemaker.amazonaws.com"}},
                    kind=PolicyKind.RESOURCE)
    assert decide([bucket], "s3:GetObject", "arn:aws:s3:::b/k", principal=SAGEMAKER) is Decision.ALLOWED
    assert decide([bucket], "s3:GetObject", "arn:aws:s3:::b/k", principal=USER) is Decision.EXPLICIT_DENY


def test_a_statement_without_resource_covers_the_resource_its_policy_is_on() -> None:
    key_policy = policy("key", {"Effect": "Allow", "Action": "kms:Decrypt", "Principal": {"AWS": ACCOUNT}},
                        kind=PolicyKind.RESOURCE)
    assert decide([key_policy], "kms:Decrypt", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k", principal=USER) \
        is Decision.ALLOWED


@pytest.mark.parametrize(("principal", "expected"), [
    (Principal("AKIA1", ACCOUNT, IAM_USER, "alice"), RequestPrincipal(frozenset({ALICE}), ACCOUNT)),
    (Principal("ASIA1", ACCOUNT, ASSUMED_ROLE, "Builder", session_name="ci"),
     RequestPrincipal(frozenset({SESSION, ROLE}), ACCOUNT)),
    (Principal("AKIA0", ACCOUNT, ROOT), RequestPrincipal(account_id=ACCOUNT)),
    (Principal(None, ACCOUNT, ANONYMOUS), RequestPrincipal()),
])
def test_the_request_principal_of_a_caller(principal: Principal, expected: RequestPrincipal) -> None:
    assert RequestPrincipal.of(principal) == expected
