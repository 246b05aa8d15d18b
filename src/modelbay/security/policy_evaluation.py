"""Policy evaluation: whether a set of policies allows one request, and which statements decided it.

IAM's rule within the policies given: an explicit Deny in any of them wins; otherwise an Allow in any of them
allows; otherwise the request is implicitly denied. A statement applies to a request when its Action (or NotAction)
covers the action, its Resource (or NotResource) the resource (a statement without one: any), its Principal names
the caller (or its NotPrincipal does not name all it acts as: trust and resource policies), and all its conditions
hold.

Which policies are given together is the caller's decision (identity policies and a resource policy, a permissions
boundary evaluated apart and intersected, a role's trust policy for AssumeRole): evaluate() only applies the rule.

A request names one action and one resource: an ARN, or `*` for an action on no particular resource (a List), which
only a statement with `"Resource": "*"` covers. Its condition keys may be a lazy mapping (request_context).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from modelbay.security.policy_document import Effect, PolicyDocument, Principals, Statement
from modelbay.security.principal import ANONYMOUS, ROOT, Principal
from modelbay.security.request_context import ContextValue, RequestContext


class Decision(StrEnum):
    """SimulatePrincipalPolicy's EvalDecision values."""

    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicitDeny"
    IMPLICIT_DENY = "implicitDeny"


@dataclass(frozen=True)
class NamedPolicy:
    name: str  # how a decision names it: a policy's ARN, an inline policy's name, "bucket policy"
    document: PolicyDocument


@dataclass(frozen=True)
class RequestPrincipal:
    """Who makes the request, as a Principal element names callers."""

    arns: frozenset[str] = frozenset()  # the caller's ARN; for a role session, its role's ARN too
    account_id: str | None = None
    service: str | None = None  # a service acting for itself: sagemaker.amazonaws.com
    federated: str | None = None  # the identity provider of a web-identity or SAML caller

    @classmethod
    def of(cls, principal: Principal) -> RequestPrincipal:
        """An account's caller: the root (named by its account alone), an IAM user, a role session (named also by
        its role); an anonymous one has nothing to be named by but `*`."""
        if principal.kind == ANONYMOUS:
            return cls()
        if principal.kind == ROOT:
            return cls(account_id=principal.account_id)
        role = principal.role_arn
        arns = frozenset((principal.arn,) if role is None else (principal.arn, role))
        return cls(arns, principal.account_id)


_EVERYONE_ELSE = RequestPrincipal()  # a request naming no principal: an anonymous one


@dataclass(frozen=True)
class AuthorizationRequest:
    action: str  # "sagemaker:CreateTrainingJob"
    resource: str  # an ARN, or "*"
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    principal: RequestPrincipal | None = None  # for trust and resource policies


class MatchedStatement(NamedTuple):  # tuples: made per request, they must be cheap
    """A statement that decided: its policy, its Sid (None without one) and its position in the document."""

    policy: str
    sid: str | None
    position: int


class Evaluation(NamedTuple):
    decision: Decision
    matched: tuple[MatchedStatement, ...]  # the Deny statements that applied, or else the Allow ones

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOWED


def evaluate(policies: Sequence[NamedPolicy], request: AuthorizationRequest) -> Evaluation:
    keys = RequestContext(request.context)  # each key read once in this evaluation, and only if a policy asks
    allows: list[MatchedStatement] = []
    denies: list[MatchedStatement] = []
    for policy in policies:
        for statement in policy.document.statements_for(request.action):
            if _applies(statement, request, keys):
                matched = denies if statement.effect is Effect.DENY else allows
                matched.append(MatchedStatement(policy.name, statement.sid, statement.position))
    if denies:
        return Evaluation(Decision.EXPLICIT_DENY, tuple(denies))
    return Evaluation(Decision.ALLOWED if allows else Decision.IMPLICIT_DENY, tuple(allows))


def _applies(statement: Statement, request: AuthorizationRequest, keys: RequestContext) -> bool:
    # plain loops, not any() and all(): this runs for every statement of every request, and a generator per
    # statement would cost as much as the matching
    if statement.resources is not None:
        covered = False
        for glob in statement.resources:
            if glob.matches(request.resource, keys):
                covered = True
                break
        if covered == statement.not_resource:
            return False
    if statement.principals is not None:
        caller = request.principal or _EVERYONE_ELSE
        if statement.not_principal:
            if _names_every_identity(statement.principals, caller):
                return False
        elif not _names_an_identity(statement.principals, caller):
            return False
    for condition in statement.conditions:  # noqa: SIM110
        if not condition.matches(keys):
            return False
    return True


def _names_an_identity(principals: Principals, caller: RequestPrincipal) -> bool:
    """Principal: whether the element names the caller, or its role, or its account (an account names every
    principal of it)."""
    return (principals.everyone
            or not principals.arns.isdisjoint(caller.arns)
            or (caller.account_id is not None and caller.account_id in principals.accounts)
            or (caller.service is not None and caller.service.lower() in principals.services)
            or (caller.federated is not None and caller.federated in principals.federated))


def _names_every_identity(principals: Principals, caller: RequestPrincipal) -> bool:
    """NotPrincipal: whether the element names each identity the caller acts as (a role session: itself, its role
    and its account), so that the statement leaves it out. Naming only a user's account leaves the user in, as IAM
    documents: a Deny with NotPrincipal must name the account too, or it denies the principals it names."""
    if principals.everyone:
        return True
    if caller.service is not None:
        return caller.service.lower() in principals.services
    if caller.federated is not None:
        return caller.federated in principals.federated
    if caller.account_id is None:  # anonymous: only "*" names it
        return False
    return caller.account_id in principals.accounts and caller.arns <= principals.arns
