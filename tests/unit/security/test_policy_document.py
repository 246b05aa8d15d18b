from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from modelbay.security.policy_document import (
    ACTIONS_REQUIRED,
    LEGACY_PARSING,
    LEGACY_VERSION,
    NO_PRINCIPAL_ALLOWED,
    ONE_COLON,
    PRINCIPAL_REQUIRED,
    RESOURCE_PROHIBITED,
    RESOURCES_REQUIRED,
    SIDS_ALPHANUMERIC,
    SIDS_UNIQUE,
    SYNTAX_ERROR,
    TRUST_ACTIONS_ONLY,
    VENDOR_REQUIRED,
    Effect,
    MalformedPolicy,
    PolicyKind,
    Principals,
    parse_policy,
)

IDENTITY, TRUST, RESOURCE = PolicyKind.IDENTITY, PolicyKind.TRUST, PolicyKind.RESOURCE
ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}
ASSUME = {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "sagemaker.amazonaws.com"}}


def document(*statements: dict[str, Any], **fields: Any) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements), **fields})


def test_an_identity_policy_reads_into_statements() -> None:
    policy = parse_policy(document(
        {"Sid": "Read", "Effect": "Allow", "Action": ["sagemaker:Describe*", "sagemaker:List*"], "Resource": "*"},
        {"Effect": "Deny", "NotAction": "s3:*", "NotResource": ["arn:aws:s3:::logs/*"]}, Id="reader"))
    read, deny = policy.statements
    assert (policy.version, policy.id, policy.kind) == ("2012-10-17", "reader", IDENTITY)
    assert (read.position, read.sid, read.effect, read.not_action) == (0, "Read", Effect.ALLOW, False)
    assert [glob.text for glob in read.actions] == ["sagemaker:describe*", "sagemaker:list*"]
    assert (deny.position, deny.sid, deny.effect) == (1, None, Effect.DENY)
    assert (deny.not_action, deny.not_resource) == (True, True)
    assert deny.resources is not None and [glob.text for glob in deny.resources] == ["arn:aws:s3:::logs/*"]


def test_a_single_statement_object_and_no_version_are_legacy_documents() -> None:
    policy = parse_policy(json.dumps({"Statement": ALLOW_ALL}))
    assert policy.version == LEGACY_VERSION
    assert len(policy.statements) == 1


def test_a_document_is_immutable() -> None:
    policy = parse_policy(document(ALLOW_ALL))
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.statements = ()  # type: ignore[misc]


def test_principals_are_read_by_kind() -> None:
    policy = parse_policy(document({**ASSUME, "Principal": {
        "AWS": ["111122223333", "arn:aws:iam::444455556666:root", "arn:aws:iam::111122223333:role/path/Builder",
                "arn:aws:sts::111122223333:assumed-role/Builder/ci"],
        "Service": "SageMaker.amazonaws.com", "Federated": "cognito-identity.amazonaws.com"}}), TRUST)
    assert policy.statements[0].principals == Principals(
        accounts=frozenset({"111122223333", "444455556666"}),
        arns=frozenset({"arn:aws:iam::111122223333:role/path/Builder",
                        "arn:aws:sts::111122223333:assumed-role/Builder/ci"}),
        services=frozenset({"sagemaker.amazonaws.com"}), federated=frozenset({"cognito-identity.amazonaws.com"}))


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["*", "111122223333"]}])
def test_a_wildcard_principal_is_everyone(principal: Any) -> None:
    statement = parse_policy(document({**ASSUME, "Principal": principal}), TRUST).statements[0]
    assert statement.principals is not None and statement.principals.everyone


def test_statements_for_an_action_match_case_insensitively_and_honour_not_action() -> None:
    policy = parse_policy(document(
        {"Sid": "Jobs", "Effect": "Allow", "Action": "sagemaker:*TrainingJob?", "Resource": "*"},
        {"Sid": "NotS3", "Effect": "Deny", "NotAction": "s3:*", "Resource": "*"}))
    assert [s.sid for s in policy.statements_for("SageMaker:ListTrainingJobs")] == ["Jobs", "NotS3"]
    assert [s.sid for s in policy.statements_for("sagemaker:CreateTrainingJob")] == ["NotS3"]  # ? is one character
    assert [s.sid for s in policy.statements_for("s3:GetObject")] == []


def test_sids_need_not_be_alphanumeric_in_resource_policies() -> None:
    policy = parse_policy(document({**ALLOW_ALL, "Sid": "allow-all", "Principal": "*"}), RESOURCE)
    assert policy.statements[0].sid == "allow-all"


def test_a_resource_policy_statement_may_omit_its_resource() -> None:
    policy = parse_policy(document({"Effect": "Allow", "Action": "kms:*", "Principal": {"AWS": "111122223333"}}),
                          RESOURCE)
    assert policy.statements[0].resources is None


@pytest.mark.parametrize(("text", "kind", "message"), [
    ("not json", IDENTITY, SYNTAX_ERROR),
    ("[]", IDENTITY, SYNTAX_ERROR),
    ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Effect": "Deny", "Action": "*", "Resource": "*"}}',
     IDENTITY, SYNTAX_ERROR),
    ('{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericEquals": {"k": NaN}}}}',
     IDENTITY, SYNTAX_ERROR),
    (document(ALLOW_ALL, Version="2012-10-18"), IDENTITY, SYNTAX_ERROR),
    (document(ALLOW_ALL, Id=7), IDENTITY, SYNTAX_ERROR),
    (document(), IDENTITY, SYNTAX_ERROR),
    (json.dumps({"Version": "2012-10-17"}), IDENTITY, SYNTAX_ERROR),
    (document(ALLOW_ALL, Extra=1), IDENTITY, "Unknown field Extra"),
    (document({**ALLOW_ALL, "Actions": "*"}), IDENTITY, "Unknown field Actions"),
    (json.dumps({"Statement": ["Allow"]}), IDENTITY, SYNTAX_ERROR),
    (document({**ALLOW_ALL, "Effect": "allow"}), IDENTITY, LEGACY_PARSING),
    (document({**ALLOW_ALL, "Effect": "Permit"}), IDENTITY, SYNTAX_ERROR),
    (document({"Action": "*", "Resource": "*"}), IDENTITY, SYNTAX_ERROR),
    (document({**ALLOW_ALL, "NotAction": "s3:*"}), IDENTITY, SYNTAX_ERROR),
    (document({**ALLOW_ALL, "NotResource": "*"}), IDENTITY, SYNTAX_ERROR),
    (document({**ALLOW_ALL, "Action": 5}), IDENTITY, SYNTAX_ERROR),
    (document({**ALLOW_ALL, "Resource": ["*", None]}), IDENTITY, SYNTAX_ERROR),
    (document({**ALLOW_ALL, "Sid": 1}), IDENTITY, SYNTAX_ERROR),
    (document({"Effect": "Allow", "Resource": "*"}), IDENTITY, ACTIONS_REQUIRED),
    (document({**ALLOW_ALL, "Action": []}), IDENTITY, ACTIONS_REQUIRED),
    (document({**ALLOW_ALL, "Principal": "*"}), IDENTITY, NO_PRINCIPAL_ALLOWED),
    (document({"Effect": "Allow", "Action": "*"}), IDENTITY, RESOURCES_REQUIRED),
    (document({**ALLOW_ALL, "Resource": []}), IDENTITY, RESOURCES_REQUIRED),
    (document({**ALLOW_ALL, "Action": "GetObject"}), IDENTITY, VENDOR_REQUIRED),
    (document({**ALLOW_ALL, "Action": "s3:Get:Object"}), IDENTITY, ONE_COLON),
    (document({**ALLOW_ALL, "Action": "s 3:GetObject"}), IDENTITY, "Vendor s 3 is not valid"),
    (document({**ALLOW_ALL, "Resource": "my-bucket"}), IDENTITY, 'Resource my-bucket must be in ARN format or "*".'),
    (document({**ALLOW_ALL, "Sid": "A"}, {**ALLOW_ALL, "Sid": "A"}), IDENTITY, SIDS_UNIQUE),
    (document({**ALLOW_ALL, "Sid": "allow-all"}), IDENTITY, SIDS_ALPHANUMERIC),
    (document({**ALLOW_ALL, "Condition": []}), IDENTITY, SYNTAX_ERROR),
    (document({**ALLOW_ALL, "Condition": {"StringEquals": "x"}}), IDENTITY, SYNTAX_ERROR),
    (document({**ALLOW_ALL, "Condition": {"StringEquals": {"aws:username": {"a": 1}}}}), IDENTITY, SYNTAX_ERROR),
    (document({**ALLOW_ALL, "Condition": {"StringEquals": {"aws:username": []}}}), IDENTITY, SYNTAX_ERROR),
    (document({**ALLOW_ALL, "Condition": {"StringEqualz": {"aws:username": "a"}}}), IDENTITY, SYNTAX_ERROR),
    (document({**ALLOW_ALL, "Condition": {"ForSomeValues:StringEquals": {"k": "a"}}}), IDENTITY, SYNTAX_ERROR),
    (document({**ALLOW_ALL, "Condition": {"NullIfExists": {"k": "true"}}}), IDENTITY, SYNTAX_ERROR),
    (document({**ALLOW_ALL, "Condition": {"DateLessThan": {"aws:CurrentTime": "tomorrow"}}}), IDENTITY,
     LEGACY_PARSING),
    (document({**ALLOW_ALL, "Condition": {"NumericLessThan": {"s3:max-keys": "ten"}}}), IDENTITY, LEGACY_PARSING),
    (document({**ALLOW_ALL, "Condition": {"IpAddress": {"aws:SourceIp": "300.0.0.0/8"}}}), IDENTITY,
     LEGACY_PARSING),
    (document({**ALLOW_ALL, "Condition": {"Bool": {"aws:SecureTransport": "yes"}}}), IDENTITY, LEGACY_PARSING),
    (document({"Effect": "Allow", "Action": "sts:AssumeRole"}), TRUST, PRINCIPAL_REQUIRED),
    (document({**ASSUME, "Resource": "*"}), TRUST, RESOURCE_PROHIBITED),
    (document({**ASSUME, "Action": ["sts:AssumeRole", "s3:GetObject"]}), TRUST, TRUST_ACTIONS_ONLY),
    (document({**ASSUME, "Principal": "arn:aws:iam::111122223333:root"}), TRUST, SYNTAX_ERROR),
    (document({**ASSUME, "Principal": {}}), TRUST, SYNTAX_ERROR),
    (document({**ASSUME, "Principal": {"AWS": "arn:aws:iam::111122223333:user/*"}}), TRUST,
     'Invalid principal in policy: "AWS":"arn:aws:iam::111122223333:user/*"'),
    (document({**ASSUME, "Principal": {"AWS": "alice"}}), TRUST, 'Invalid principal in policy: "AWS":"alice"'),
    (document({**ASSUME, "Principal": {"CanonicalUser": "79a5"}}), TRUST,
     'Invalid principal in policy: "CanonicalUser":"79a5"'),
    (document(ALLOW_ALL), RESOURCE, PRINCIPAL_REQUIRED),
    (document({**ALLOW_ALL, "Principal": "*", "Resource": []}), RESOURCE, RESOURCES_REQUIRED),
])
def test_malformed_documents_are_refused_with_iams_messages(text: str, kind: PolicyKind, message: str) -> None:
    with pytest.raises(MalformedPolicy) as refused:
        parse_policy(text, kind)
    assert str(refused.value) == message
