"""STS: who am I, and temporary credentials: a role's session (AssumeRole) or a user's own (GetSessionToken).

A session's credentials are an access key id `ASIA…`, a 40-character secret (kept sealed under the master key) and
a session token (kept as its SHA-256 only); the authenticator turns them back into the session's principal
(store/metadata/sessions.py). A code of the caller's MFA device (SerialNumber and TokenCode) makes the session
MFA-authenticated (aws:MultiFactorAuthPresent, aws:MultiFactorAuthAge); a code is used once (security/mfa.py).

AssumeRole as AWS: the role's trust policy must allow the caller (for the account's root in it, the caller's
own policies decide, which the authorizer checked before the call ran); a role session assuming a role (role
chaining) gets at most an hour, keeps its MFA state, its transitive session tags and its source identity; the root
may not assume roles. A role that does not exist is refused as one that does not trust the caller, so as not to
tell which roles exist.
"""

from __future__ import annotations

import json
import math
import zlib
from datetime import datetime
from typing import Any

from modelbay.errors import ValidationError, aws_error
from modelbay.security import mfa, sessions
from modelbay.security.policy_document import MalformedPolicy, PolicyKind, parse_policy
from modelbay.security.policy_evaluation import AuthorizationRequest, NamedPolicy, RequestPrincipal, evaluate
from modelbay.security.principal import ASSUMED_ROLE, IAM_USER, ROOT, Principal
from modelbay.security.request_context import ContextValue
from modelbay.services.base import Context, Handler, present
from modelbay.store.metadata import Role
from modelbay.store.metadata.sessions import SessionRecord

AccessDenied = aws_error("AccessDenied", 403)
MalformedPolicyDocument = aws_error("MalformedPolicyDocument")
PackedPolicyTooLarge = aws_error("PackedPolicyTooLarge")

DEFAULT_ROLE_SESSION_S = 3600
CHAINED_MAX_S = 3600  # a role session assuming a role gets an hour at most
DEFAULT_USER_SESSION_S = 43200
ROOT_MAX_S = 3600  # the root's own sessions are cut to an hour
PACKED_LIMIT = 2048  # bytes the session policy, policy ARNs and tags may take once packed (compressed)

_MFA_MISSING = "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code."
_MFA_UNKNOWN = ("MultiFactorAuthentication failed, unable to validate MFA code. Please verify your MFA serial "
                "number is valid and associated with this user.")
_MFA_INVALID = "MultiFactorAuthentication failed with invalid MFA one time pass code."


def get_caller_identity(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    principal = ctx.principal
    return {"UserId": principal.user_id, "Account": principal.account_id, "Arn": principal.arn}


def get_access_key_info(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The account of an access key: every key modelbay knows is of its one account."""
    return {"Account": ctx.settings.account_id}


def get_session_token(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A user's (or the root's) own session, MFA-authenticated if given a code of their device."""
    principal = ctx.principal
    if principal.kind not in (IAM_USER, ROOT) or _is_session(principal):
        raise AccessDenied("Cannot call GetSessionToken with session credentials")
    duration = params.get("DurationSeconds", DEFAULT_USER_SESSION_S)
    if principal.kind == ROOT:
        duration = min(duration, ROOT_MAX_S)
    credentials = _issue(ctx, duration, params, kind=principal.kind, name=principal.name, path=principal.path,
                         unique_id=principal.unique_id, tags=dict(principal.tags),
                         mfa_authenticated_at=_mfa_checked(ctx, params))
    return {"Credentials": credentials}


def assume_role(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    principal, role_arn, session_name = ctx.principal, params["RoleArn"], params["RoleSessionName"]
    if principal.kind == ROOT:
        raise AccessDenied("Roles may not be assumed by root accounts.")
    chained = principal.kind == ASSUMED_ROLE
    caller = ctx.metadata.sessions.find(principal.access_key_id or "") if _is_session(principal) else None
    role = _role(ctx, role_arn)
    duration = _role_session_duration(params, role, chained)
    tags, transitive = _session_tags(params, caller)
    source_identity = _source_identity(params, caller)
    session_policy = params.get("Policy")
    if session_policy is not None:
        _parsed(session_policy)
    policy_arns = tuple(arn["arn"] for arn in params.get("PolicyArns", []) if "arn" in arn)
    packed = _packed_size(session_policy, policy_arns, tags)
    mfa_at = _mfa_checked(ctx, params) or principal.mfa_authenticated_at
    context = _trust_context(ctx, params, tags, transitive, mfa_at)
    refused = _untrusted_action(role, principal, params, context)
    if role is None or refused is not None:
        raise AccessDenied(f"User: {principal.arn} is not authorized to perform: {refused} on resource: {role_arn}")
    role_id, path = role.request["RoleId"], role.request.get("Path", "/")
    credentials = _issue(ctx, duration, params, kind=ASSUMED_ROLE, name=role.name, path=path, unique_id=role_id,
                         session_name=session_name, mfa_authenticated_at=mfa_at, tags=tags,
                         transitive_tag_keys=transitive, session_policy=session_policy, policy_arns=policy_arns,
                         source_identity=source_identity, chained=chained)
    user = {"AssumedRoleId": f"{role_id}:{session_name}",
            "Arn": f"arn:aws:sts::{ctx.settings.account_id}:assumed-role/{role.name}/{session_name}"}
    narrowed = session_policy is not None or bool(policy_arns) or bool(tags)
    return {"Credentials": credentials, "AssumedRoleUser": user} | present(
        PackedPolicySize=packed if narrowed else None, SourceIdentity=source_identity)


def _issue(ctx: Context, duration_s: int, params: dict[str, Any], **holder: Any) -> dict[str, Any]:
    """New credentials for `holder`, valid `duration_s` from now, their token as long as asked (sessions.py)."""
    token_bytes = max(sessions.TOKEN_BYTES, math.ceil(params.get("MinimumSessionTokenSize", 0) * 3 / 4))
    return sessions.issue(ctx.platform, duration_s, token_bytes, **holder).as_wire()


def _mfa_checked(ctx: Context, params: dict[str, Any]) -> datetime | None:
    """When the request's MFA code was checked, None if it has none; AccessDenied for a code that does not pass (a
    wrong one, one used before, or a device not the caller's)."""
    serial, code = params.get("SerialNumber"), params.get("TokenCode")
    if serial is None and code is None:
        return None
    if serial is None or code is None:
        raise AccessDenied(_MFA_MISSING)
    devices = ctx.metadata.mfa_devices
    device = devices.get(serial)
    owner = ctx.principal.user_id if ctx.principal.kind in (IAM_USER, ROOT) else None
    if device is None or owner is None or device.owner_id != owner:
        raise AccessDenied(_MFA_UNKNOWN)
    if not mfa.verify(devices, ctx.platform.master_key, device, code):
        raise AccessDenied(_MFA_INVALID)
    return devices.clock()


def _role(ctx: Context, arn: str) -> Role | None:
    return sessions.find_role(ctx.metadata, arn)


def _role_session_duration(params: dict[str, Any], role: Role | None, chained: bool) -> int:
    duration: int = params.get("DurationSeconds", DEFAULT_ROLE_SESSION_S)
    if chained and duration > CHAINED_MAX_S:
        raise ValidationError("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by "
                              "role chaining.")
    if role is not None and duration > role.request.get("MaxSessionDuration", DEFAULT_ROLE_SESSION_S):
        raise ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    return duration


def _session_tags(params: dict[str, Any], caller: SessionRecord | None) -> tuple[dict[str, str], tuple[str, ...]]:
    """The session's tags and which of them are transitive: the calling session's transitive tags, which may not be
    set again, and the request's."""
    given = {tag["Key"]: tag["Value"] for tag in params.get("Tags", [])}
    if len({key.lower() for key in given}) < len(params.get("Tags", [])):
        raise ValidationError("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
    folded = {key.lower() for key in given}
    transitive = params.get("TransitiveTagKeys", [])
    if any(key.lower() not in folded for key in transitive):
        raise ValidationError("The specified transitive tag key must be included in the requested tags.")
    inherited = {} if caller is None else {key: caller.tags[key] for key in caller.transitive_tag_keys}
    if any(key.lower() in folded for key in inherited):
        raise ValidationError("One or more of the specified session tags conflict with the transitive session tags "
                              "of the calling session.")
    return inherited | given, tuple(inherited) + tuple(transitive)


def _source_identity(params: dict[str, Any], caller: SessionRecord | None) -> str | None:
    """The request's SourceIdentity, or the calling session's, which a chained session may not change."""
    given, kept = params.get("SourceIdentity"), None if caller is None else caller.source_identity
    if kept is not None and given is not None and given != kept:
        raise AccessDenied("The source identity of the calling session cannot be changed.")
    return kept or given


def _packed_size(policy: str | None, policy_arns: tuple[str, ...], tags: dict[str, str]) -> int:
    """The percentage of PACKED_LIMIT the session policies and tags take once packed; PackedPolicyTooLarge past 100."""
    minified = json.dumps(json.loads(policy), separators=(",", ":")) if policy is not None else ""
    packed = len(zlib.compress(json.dumps([minified, policy_arns, sorted(tags.items())]).encode()))
    percent = math.ceil(100 * packed / PACKED_LIMIT)
    if percent > 100:
        raise PackedPolicyTooLarge(f"Packed policy consumes {percent}% of allotted space, please use smaller policy "
                                   "for the session.")
    return percent


def _trust_context(ctx: Context, params: dict[str, Any], tags: dict[str, str], transitive: tuple[str, ...],
                   mfa_at: datetime | None) -> dict[str, ContextValue]:
    """The condition keys AssumeRole's trust policy sees: the caller's, the session's tags and MFA, the request's."""
    principal, now = ctx.principal, ctx.metadata.sessions.clock()
    keys: dict[str, ContextValue] = {
        "aws:principalarn": principal.role_arn or principal.arn, "aws:principalaccount": principal.account_id,
        "aws:principaltype": "User" if principal.kind == IAM_USER else principal.kind, "aws:userid": principal.user_id,
        "aws:currenttime": now, "aws:epochtime": int(now.timestamp()), "sts:rolesessionname": params["RoleSessionName"],
        "aws:tagkeys": list(tags), "sts:transitivetagkeys": list(transitive),
    }
    keys |= {f"aws:principaltag/{key.lower()}": value for key, value in principal.tags}
    keys |= {f"aws:requesttag/{key.lower()}": value for key, value in tags.items()}
    if principal.kind == IAM_USER:
        keys["aws:username"] = principal.name or ""
    if mfa_at is not None or _is_session(principal):  # absent for long-term keys without a code, as AWS
        keys["aws:multifactorauthpresent"] = mfa_at is not None
    if mfa_at is not None:
        keys["aws:multifactorauthage"] = int((now - mfa_at).total_seconds())
    keys |= {f"sts:{member.lower()}": params[member] for member in ("ExternalId", "SourceIdentity") if member in params}
    return keys


def _untrusted_action(role: Role | None, principal: Principal, params: dict[str, Any],
                      context: dict[str, ContextValue]) -> str | None:
    """The first action the call needs (sts:AssumeRole; sts:TagSession to pass tags, sts:SetSourceIdentity a source
    identity) that the role's trust policy does not allow the caller, if any. An account root or id in the policy
    stands for every principal of the account; a role that is not there, or whose policy does not parse, trusts
    nobody."""
    actions = ["sts:AssumeRole"]
    if "Tags" in params:
        actions.append("sts:TagSession")
    if "SourceIdentity" in params:
        actions.append("sts:SetSourceIdentity")
    if role is None:
        return actions[0]
    try:
        trust = [NamedPolicy("trust policy", parse_policy(role.request["AssumeRolePolicyDocument"], PolicyKind.TRUST))]
    except MalformedPolicy:  # one stored before policies were checked
        return actions[0]
    caller = RequestPrincipal.of(principal)
    return next((action for action in actions if not evaluate(trust, AuthorizationRequest(
        action=action, resource=role.arn, context=context, principal=caller)).allowed), None)


def _parsed(policy: str) -> None:
    """Check a session policy; MalformedPolicyDocument if it is not one."""
    try:
        parse_policy(policy)
    except MalformedPolicy as err:
        raise MalformedPolicyDocument(str(err)) from None


def _is_session(principal: Principal) -> bool:
    """Whether the caller signs with temporary credentials."""
    return (principal.access_key_id or "").startswith(sessions.SESSION_KEY_PREFIX)


OPERATIONS: dict[str, Handler] = {"GetCallerIdentity": get_caller_identity, "GetAccessKeyInfo": get_access_key_info,
                                  "GetSessionToken": get_session_token, "AssumeRole": assume_role}
