"""Policy documents as IAM takes and gives them: checked by the policy engine and within IAM's size quotas on the
way in, URL-encoded on the way out (boto3 and the AWS CLI decode them)."""

from __future__ import annotations

import urllib.parse

from modelbay.security.policy_document import MalformedPolicy, parse_policy
from modelbay.services.iam.entities import LimitExceeded, MalformedPolicyDocument

MANAGED_POLICY_SIZE = 6144
INLINE_POLICY_SIZES = {"user": 2048, "group": 5120, "role": 10240}


def check_managed(document: str) -> None:
    """Raise MalformedPolicyDocument, or LimitExceeded past a managed policy's size (whitespace aside)."""
    _parse(document)
    if _size(document) > MANAGED_POLICY_SIZE:
        raise LimitExceeded(f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}")


def check_inline(document: str, kind: str, name: str) -> None:
    """Raise MalformedPolicyDocument, or LimitExceeded past the size of the inline policies of a `kind` (user,
    group, role)."""
    _parse(document)
    quota = INLINE_POLICY_SIZES[kind]
    if _size(document) > quota:
        raise LimitExceeded(f"Maximum policy size of {quota} bytes exceeded for {kind} {name}")


def document_wire(document: str) -> str:
    """A document as IAM answers it: URL-encoded."""
    return urllib.parse.quote(document, safe="")


def _parse(document: str) -> None:
    try:
        parse_policy(document)
    except MalformedPolicy as err:
        raise MalformedPolicyDocument(str(err)) from None


def _size(document: str) -> int:
    return sum(1 for char in document if not char.isspace())
