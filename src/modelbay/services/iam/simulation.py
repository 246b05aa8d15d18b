"""The IAM policy simulator: SimulatePrincipalPolicy (the policies of a user, group or role, plus any given) and
SimulateCustomPolicy (the policies given), evaluated by the policy engine for each action and resource asked.

Each result says `allowed`, `explicitDeny` or `implicitDeny` and which statements decided it (their policy's name and
kind: "user", "group", "role" for inline policies, "aws-managed", "user-managed", "IAM Policy" for those given).
A permissions boundary (the user's own, and those of PermissionsBoundaryPolicyInputList) must allow an action as well;
PolicyExclusionList leaves out the managed policies it names. Not simulated: ResourcePolicy, CallerArn and
ResourceOwner; statements' positions and missing context values are not reported.
"""

from __future__ import annotations

from typing import Any

from modelbay.security.identity_policies import SourcedPolicy, permissions_boundary, sourced_policies
from modelbay.security.policy_document import MalformedPolicy, parse_policy
from modelbay.security.policy_evaluation import AuthorizationRequest, Decision, NamedPolicy, evaluate
from modelbay.security.request_context import ContextValue
from modelbay.services.base import Context, Handler
from modelbay.services.iam.entities import InvalidInput, MalformedPolicyDocument, no_such
from modelbay.services.iam.pages import page

_INPUT = "IAM Policy"  # the SourcePolicyType of a policy the request gives


def simulate_principal_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    kind, name = _entity(params["PolicySourceArn"])
    _check_exists(ctx, kind, name)
    excluded = set(params.get("PolicyExclusionList", []))
    own = [sourced for sourced in sourced_policies(ctx.metadata, kind, name)
           if sourced.policy.name not in excluded and sourced.source_id not in excluded]
    boundaries = _given(params.get("PermissionsBoundaryPolicyInputList", []), "PermissionsBoundaryPolicyInputList")
    boundary = permissions_boundary(ctx.metadata, name) if kind == "user" else None
    policies = own + _given(params.get("PolicyInputList", []), "PolicyInputList")
    return _simulate(params, policies, [sourced.policy for sourced in boundaries] + ([boundary] if boundary else []))


def simulate_custom_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    boundaries = _given(params.get("PermissionsBoundaryPolicyInputList", []), "PermissionsBoundaryPolicyInputList")
    return _simulate(params, _given(params["PolicyInputList"], "PolicyInputList"),
                     [sourced.policy for sourced in boundaries])


def _entity(arn: str) -> tuple[str, str]:
    """The kind ("user", "group", "role") and name of the entity a PolicySourceArn names (after its path)."""
    parts = arn.split(":", 5)
    kind, _, path_and_name = (parts[5] if len(parts) == 6 and parts[2] == "iam" else "").partition("/")
    if kind not in ("user", "group", "role") or not path_and_name:
        raise InvalidInput(f"Invalid ARN {arn}: PolicySourceArn must be the ARN of a user, a group or a role.")
    return kind, path_and_name.rpartition("/")[2]


def _check_exists(ctx: Context, kind: str, name: str) -> None:
    found = {"user": ctx.metadata.iam.user, "group": ctx.metadata.iam.group, "role": ctx.metadata.roles.get}[kind]
    if found(name) is None:
        raise no_such(kind, name)


def _given(documents: list[str], member: str) -> list[SourcedPolicy]:
    """The request's policies, named as IAM names them: PolicyInputList.1, PolicyInputList.2, …"""
    given = []
    for number, text in enumerate(documents, start=1):
        name = f"{member}.{number}"
        try:
            given.append(SourcedPolicy(_INPUT, name, NamedPolicy(name, parse_policy(text))))
        except MalformedPolicy as err:
            raise MalformedPolicyDocument(f"{name}: {err}") from None
    return given


def _simulate(params: dict[str, Any], policies: list[SourcedPolicy], boundaries: list[NamedPolicy]) -> dict[str, Any]:
    context = _context(params.get("ContextEntries", []))
    asked = [(action, resource) for action in params["ActionNames"] for resource in params.get("ResourceArns", ["*"])]
    chosen, paging = page(params, list(enumerate(asked)), lambda pair: pair[0], "simulation")
    results = [_result(AuthorizationRequest(action, resource, context), policies, boundaries)
               for _, (action, resource) in chosen]
    return {"EvaluationResults": results} | paging


def _result(request: AuthorizationRequest, policies: list[SourcedPolicy],
            boundaries: list[NamedPolicy]) -> dict[str, Any]:
    # Evaluated under their positions as names: two policies may share a name (a user's and a group's inline ones).
    found = evaluate([NamedPolicy(str(index), sourced.policy.document) for index, sourced in enumerate(policies)],
                     request)
    matched = [policies[int(statement.policy)] for statement in found.matched]
    result: dict[str, Any] = {
        "EvalActionName": request.action, "EvalResourceName": request.resource, "EvalDecision": str(found.decision),
        "MatchedStatements": [{"SourcePolicyId": sourced.source_id, "SourcePolicyType": sourced.source_type}
                              for sourced in matched],
        "MissingContextValues": []}
    if boundaries:
        bounded = evaluate(boundaries, request)
        result["PermissionsBoundaryDecisionDetail"] = {"AllowedByPermissionsBoundary": bounded.allowed}
        if found.decision is Decision.ALLOWED and not bounded.allowed:
            result["EvalDecision"] = str(bounded.decision)
    return result


def _context(entries: list[dict[str, Any]]) -> dict[str, ContextValue]:
    """ContextEntries as condition keys: a list type's values as a list, another type's first value."""
    context: dict[str, ContextValue] = {}
    for entry in entries:
        values = [str(value) for value in entry.get("ContextKeyValues", [])]
        if "ContextKeyName" in entry and values:
            listed = str(entry.get("ContextKeyType", "string")).endswith("List")
            context[entry["ContextKeyName"]] = values if listed else values[0]
    return context


OPERATIONS: dict[str, Handler] = {"SimulatePrincipalPolicy": simulate_principal_policy,
                                  "SimulateCustomPolicy": simulate_custom_policy}
