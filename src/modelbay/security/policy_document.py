"""IAM policy documents: JSON read into typed, immutable statements, checked as IAM checks them.

The rules depend on where the document is attached (PolicyKind):
- identity: a user's, group's or role's policy, or a managed policy: no Principal; every statement has a Resource
  (or NotResource); Sids are alphanumeric.
- trust: a role's AssumeRolePolicyDocument: every statement has a Principal (or NotPrincipal), no Resource, and
  only the actions that assume a role.
- resource: a bucket's or a key's policy: every statement has a Principal (or NotPrincipal); a statement without a
  Resource is about the resource the policy is attached to.

A document of Version 2012-10-17 reads policy variables (`${aws:username}`); one of 2008-10-17, or without a Version,
reads them as literal text. An invalid document raises MalformedPolicy with IAM's message. A parsed document never
changes, so callers may cache it and share it between threads; it remembers which of its statements each action it
was asked about concerns (statements_for), the one step every evaluation takes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from modelbay.security.conditions import Condition, InvalidConditionValue, UnknownOperator, parse_condition
from modelbay.security.policy_patterns import Glob
from modelbay.security.request_context import RequestContext, as_text

CURRENT_VERSION = "2012-10-17"
LEGACY_VERSION = "2008-10-17"  # what a document without a Version is

SYNTAX_ERROR = "Syntax errors in policy."
LEGACY_PARSING = "The policy failed legacy parsing"
NO_PRINCIPAL_ALLOWED = "Policy document should not specify a principal."
PRINCIPAL_REQUIRED = "Missing required field Principal"
ACTIONS_REQUIRED = "Policy statement must contain actions."
RESOURCES_REQUIRED = "Policy statement must contain resources."
RESOURCE_PROHIBITED = "Has prohibited field Resource."
SIDS_UNIQUE = "Statement IDs (SID) in a single policy must be unique."
SIDS_ALPHANUMERIC = ("Statement IDs (SID) must be alpha-numeric. "
                     "Check that your input satisfies the regular expression [0-9A-Za-z]*")
VENDOR_REQUIRED = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
ONE_COLON = "Actions/Condition can contain only one colon."
TRUST_ACTIONS_ONLY = ("Trust Policy statement actions can only be sts:AssumeRole, sts:AssumeRoleWithSAML,  "
                      "and sts:AssumeRoleWithWebIdentity")

_DOCUMENT_FIELDS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_FIELDS = frozenset({"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal",
                               "NotPrincipal", "Condition"})
_TRUST_ACTIONS = frozenset(name.lower() for name in (
    "sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:AssumeRoleWithWebIdentity", "sts:TagSession",
    "sts:SetSourceIdentity", "sts:SetContext"))
_VENDOR = re.compile(r"[a-zA-Z0-9.-]+")
_SID = re.compile(r"[0-9A-Za-z]*")
_ACCOUNT = re.compile(r"\d{12}")
_ACCOUNT_ROOT = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):root")
_PRINCIPAL_ARN = re.compile(r"arn:aws[a-z-]*:(?:iam::\d{12}:(?:user|role)|sts::\d{12}:(?:assumed-role|federated-user))"
                            r"/[^*?]+")
_ACTIONS_REMEMBERED = 1024  # per document: the actions of the API and then some (SimulatePrincipalPolicy's names)
_NO_VARIABLES = RequestContext({})  # for patterns that hold none (actions)


class MalformedPolicy(ValueError):
    """A document IAM would refuse: the message is IAM's (MalformedPolicyDocument)."""


class PolicyKind(StrEnum):
    IDENTITY = "identity"
    TRUST = "trust"
    RESOURCE = "resource"


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True)
class Principals:
    """A Principal (or NotPrincipal) element."""

    everyone: bool = False  # "*", or {"AWS": "*"}
    accounts: frozenset[str] = frozenset()  # every principal of these accounts (an id, or arn:aws:iam::<id>:root)
    arns: frozenset[str] = frozenset()  # users, roles (and so their sessions), role sessions
    services: frozenset[str] = frozenset()  # sagemaker.amazonaws.com
    federated: frozenset[str] = frozenset()  # identity providers


@dataclass(frozen=True)
class Statement:
    position: int  # in the document, from 0
    sid: str | None
    effect: Effect
    actions: tuple[Glob, ...]  # lowercase: actions match case-insensitively
    not_action: bool
    resources: tuple[Glob, ...] | None  # None: no Resource element (the resource the policy is attached to)
    not_resource: bool
    principals: Principals | None  # None: no Principal element (an identity policy)
    not_principal: bool
    conditions: tuple[Condition, ...]

    def applies_to(self, action: str) -> bool:
        """Whether the statement's Action (or NotAction) covers `action`, lowercase."""
        return any(glob.matches(action, _NO_VARIABLES) for glob in self.actions) != self.not_action


@dataclass(frozen=True, eq=False)
class PolicyDocument:
    version: str
    id: str | None
    statements: tuple[Statement, ...]
    kind: PolicyKind
    _by_action: dict[str, tuple[Statement, ...]] = field(default_factory=dict, init=False, repr=False)

    def statements_for(self, action: str) -> tuple[Statement, ...]:
        """The statements about `action` (any case), in order; remembered per action."""
        key = action.lower()
        found = self._by_action.get(key)
        if found is None:
            found = tuple(statement for statement in self.statements if statement.applies_to(key))
            if len(self._by_action) >= _ACTIONS_REMEMBERED:
                self._by_action.clear()
            self._by_action[key] = found
        return found


def parse_policy(text: str, kind: PolicyKind = PolicyKind.IDENTITY) -> PolicyDocument:
    """Read and check a policy document; raise MalformedPolicy with IAM's message."""
    raw = _load(text)
    for name in raw:
        if name not in _DOCUMENT_FIELDS:
            raise MalformedPolicy(f"Unknown field {name}")
    version = raw.get("Version", LEGACY_VERSION)
    policy_id = raw.get("Id")
    if version not in (CURRENT_VERSION, LEGACY_VERSION) or not isinstance(policy_id, str | None):
        raise MalformedPolicy(SYNTAX_ERROR)
    variables = version == CURRENT_VERSION
    statements = tuple(_statement(position, raw_statement, kind, variables)
                       for position, raw_statement in enumerate(_statement_list(raw.get("Statement"))))
    _check_sids(statements, kind)
    return PolicyDocument(version, policy_id, statements, kind)


def _load(text: str) -> dict[str, Any]:
    try:
        raw = json.loads(text, object_pairs_hook=_object, parse_constant=_no_constant)
    except (TypeError, ValueError, RecursionError) as error:
        raise MalformedPolicy(SYNTAX_ERROR) from error
    if not isinstance(raw, dict):
        raise MalformedPolicy(SYNTAX_ERROR)
    return raw


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    read = dict(pairs)
    if len(read) != len(pairs):  # a key given twice: one would silently win
        raise ValueError("duplicate key")
    return read


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _statement_list(raw: Any) -> Iterator[Any]:
    if isinstance(raw, dict):
        yield raw
    elif isinstance(raw, list) and raw:
        yield from raw
    else:
        raise MalformedPolicy(SYNTAX_ERROR)


def _statement(position: int, raw: Any, kind: PolicyKind, variables: bool) -> Statement:
    if not isinstance(raw, dict):
        raise MalformedPolicy(SYNTAX_ERROR)
    for name in raw:
        if name not in _STATEMENT_FIELDS:
            raise MalformedPolicy(f"Unknown field {name}")
    sid = raw.get("Sid")
    if not isinstance(sid, str | None):
        raise MalformedPolicy(SYNTAX_ERROR)
    effect = _effect(raw.get("Effect"))
    actions, not_action = _one_of(raw, "Action", "NotAction")
    resources, not_resource = _one_of(raw, "Resource", "NotResource")
    principal, not_principal = _one_of(raw, "Principal", "NotPrincipal")
    action_texts = () if actions is None else _texts(actions)
    resource_texts = None if resources is None else _texts(resources)
    conditions = _conditions(raw.get("Condition"), variables)
    principals = None if principal is None else _principals(principal)
    if not action_texts:
        raise MalformedPolicy(ACTIONS_REQUIRED)
    _check_kind(kind, action_texts, resource_texts, principals)
    return Statement(
        position, sid, effect, tuple(_action(text) for text in action_texts), not_action,
        None if resource_texts is None else tuple(_resource(text, variables) for text in resource_texts),
        not_resource, principals, not_principal, conditions)


def _check_kind(kind: PolicyKind, actions: tuple[str, ...], resources: tuple[str, ...] | None,
                principals: Principals | None) -> None:
    if kind is PolicyKind.IDENTITY:
        if principals is not None:
            raise MalformedPolicy(NO_PRINCIPAL_ALLOWED)
        if not resources:
            raise MalformedPolicy(RESOURCES_REQUIRED)
        return
    if principals is None:
        raise MalformedPolicy(PRINCIPAL_REQUIRED)
    if kind is PolicyKind.TRUST:
        if resources is not None:
            raise MalformedPolicy(RESOURCE_PROHIBITED)
        if any(action.lower() not in _TRUST_ACTIONS for action in actions):
            raise MalformedPolicy(TRUST_ACTIONS_ONLY)
    elif resources is not None and not resources:
        raise MalformedPolicy(RESOURCES_REQUIRED)


def _one_of(raw: dict[str, Any], name: str, negated: str) -> tuple[Any, bool]:
    """The element's value (None if absent) and whether it is the negated one."""
    if name in raw and negated in raw:
        raise MalformedPolicy(SYNTAX_ERROR)
    return (raw[negated], True) if negated in raw else (raw.get(name), False)


def _texts(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise MalformedPolicy(SYNTAX_ERROR)


def _effect(value: Any) -> Effect:
    if not isinstance(value, str) or value.lower() not in ("allow", "deny"):
        raise MalformedPolicy(SYNTAX_ERROR)
    if value not in (Effect.ALLOW, Effect.DENY):  # "allow": IAM's legacy parser is case-sensitive
        raise MalformedPolicy(LEGACY_PARSING)
    return Effect(value)


def _action(text: str) -> Glob:
    if text != "*":
        parts = text.split(":")
        if len(parts) == 1:
            raise MalformedPolicy(VENDOR_REQUIRED)
        if len(parts) > 2:
            raise MalformedPolicy(ONE_COLON)
        if not _VENDOR.fullmatch(parts[0]):
            raise MalformedPolicy(f"Vendor {parts[0]} is not valid")
    return Glob(text.lower())


def _resource(text: str, variables: bool) -> Glob:
    if text != "*" and not text.startswith("arn:"):
        raise MalformedPolicy(f'Resource {text} must be in ARN format or "*".')
    return Glob(text, variables=variables)


def _principals(value: Any) -> Principals:
    if value == "*":
        return Principals(everyone=True)
    if not isinstance(value, dict) or not value:
        raise MalformedPolicy(SYNTAX_ERROR)
    accounts: set[str] = set()
    arns: set[str] = set()
    services: set[str] = set()
    federated: set[str] = set()
    everyone = False
    for principal_type, names in value.items():
        for name in _texts(names):
            if principal_type == "AWS" and name == "*":
                everyone = True
            elif principal_type == "AWS":
                _aws_principal(name, accounts, arns)
            elif principal_type == "Service" and name and "*" not in name:
                services.add(name.lower())
            elif principal_type == "Federated" and name:
                federated.add(name)
            else:
                raise MalformedPolicy(f'Invalid principal in policy: "{principal_type}":"{name}"')
    return Principals(everyone, frozenset(accounts), frozenset(arns), frozenset(services), frozenset(federated))


def _aws_principal(name: str, accounts: set[str], arns: set[str]) -> None:
    root = _ACCOUNT_ROOT.fullmatch(name)
    if _ACCOUNT.fullmatch(name) or root:
        accounts.add(root.group(1) if root else name)
    elif _PRINCIPAL_ARN.fullmatch(name):
        arns.add(name)
    else:
        raise MalformedPolicy(f'Invalid principal in policy: "AWS":"{name}"')


def _conditions(raw: Any, variables: bool) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise MalformedPolicy(SYNTAX_ERROR)
    conditions: list[Condition] = []
    for operator_name, keys in raw.items():
        if not isinstance(keys, dict):
            raise MalformedPolicy(SYNTAX_ERROR)
        for key, values in keys.items():
            try:
                conditions.append(parse_condition(operator_name, key, _condition_values(values), variables=variables))
            except UnknownOperator as error:
                raise MalformedPolicy(SYNTAX_ERROR) from error
            except InvalidConditionValue as error:
                raise MalformedPolicy(LEGACY_PARSING) from error
    return tuple(conditions)


def _condition_values(raw: Any) -> tuple[str, ...]:
    """A condition's values as text: JSON's booleans and numbers are written as IAM reads them."""
    values = raw if isinstance(raw, list) else [raw]
    if not values or not all(isinstance(value, str | bool | int | float) for value in values):
        raise MalformedPolicy(SYNTAX_ERROR)
    return tuple(as_text(value) for value in values)


def _check_sids(statements: tuple[Statement, ...], kind: PolicyKind) -> None:
    sids = [statement.sid for statement in statements if statement.sid]
    if len(set(sids)) != len(sids):
        raise MalformedPolicy(SIDS_UNIQUE)
    if kind is PolicyKind.IDENTITY and not all(_SID.fullmatch(sid) for sid in sids):
        raise MalformedPolicy(SIDS_ALPHANUMERIC)
