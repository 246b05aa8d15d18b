"""Authorization: whether a principal's IAM policies allow a call, as AWS evaluates identity-based policies.

For each permission the call needs (actions.py: its action, the ARNs it acts on, the request's condition keys,
and iam:PassRole for a role it hands to a service), the caller's policies are evaluated (policy_evaluation.py):
an explicit Deny anywhere wins, else an Allow is needed, else the call is denied by default. A role session
made with session policies (AssumeRole's Policy and PolicyArns) needs them to allow the action too, and a user with
a permissions boundary needs it to. The account root is allowed everything,
as in an AWS account without organizations; an unsigned request is allowed nothing. In `open` mode every call
is allowed (Settings.auth_mode).

The condition context holds the request's keys, the global keys (aws:SourceIp, aws:CurrentTime,
aws:MultiFactorAuth*, aws:Principal*, aws:username, aws:RequestedRegion), and the resource's tags
(aws:ResourceTag/…, sagemaker:ResourceTag/…), which are read from the store only if a condition asks.

Policies are cached per principal until IAM changes (Platform.iam_changes), so a cached principal's call
costs the evaluation alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelbay.config import AUTH_OPEN
from modelbay.errors import AccessDenied
from modelbay.platform import Platform
from modelbay.security.actions import needs
from modelbay.security.authentication import Identity
from modelbay.security.identity_policies import identity_policies, managed_policy, parsed, permissions_boundary
from modelbay.security.policy_evaluation import AuthorizationRequest, Decision, Evaluation, NamedPolicy, evaluate
from modelbay.security.principal import ANONYMOUS, IAM_USER, ROOT, Principal
from modelbay.security.request_context import ContextValue
from modelbay.security.sessions import SESSION_KEY_PREFIX

_RESOURCE_TAG_PREFIXES = ("aws:resourcetag/", "sagemaker:resourcetag/")


@dataclass(frozen=True)
class _Grants:
    """What decides a principal's calls: its identity-based policies, one of which must allow, and the sets that
    narrow them (a user's permissions boundary; a role session's session policies), each of which must allow too."""

    policies: list[NamedPolicy]
    bounds: tuple[tuple[str, list[NamedPolicy]], ...]


class Authorizer:
    """Decides whether a principal may make a call; one per server (IAM is global: its store is the home region's)."""

    def __init__(self, home: Platform, mode: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._home = home
        self._enforced = mode != AUTH_OPEN
        self._clock = clock
        self._grants: dict[tuple[Any, ...], _Grants] = {}
        self._generation = -1
        self._lock = threading.Lock()

    def authorize(self, identity: Identity, service: str, operation: str, params: Mapping[str, Any],
                  platform: Platform, source_ip: str | None) -> None:
        """Return if the call is allowed; raise AccessDenied, naming what was refused, otherwise."""
        principal = identity.principal
        if principal.kind == ROOT or not self._enforced:
            return
        region = platform.settings.region
        for need in needs(service, operation, params, region, principal.account_id):
            for resource in need.resources:
                context = _Context(need.context, principal, platform, resource, region, source_ip, self._clock())
                self._check(identity, need.action, resource, context)

    def check(self, identity: Identity, action: str, resource: str, platform: Platform, source_ip: str | None) -> None:
        """One permission a call implies beyond its own (Context.check_permission)."""
        principal = identity.principal
        if principal.kind == ROOT or not self._enforced:
            return
        context = _Context({}, principal, platform, resource, platform.settings.region, source_ip, self._clock())
        self._check(identity, action, resource, context)

    def _check(self, identity: Identity, action: str, resource: str, context: Mapping[str, ContextValue]) -> None:
        principal = identity.principal
        if principal.kind == ANONYMOUS:
            raise AccessDenied(f"Anonymous users are not authorized to perform: {action} on resource: {resource}")
        request = AuthorizationRequest(action, resource, context)
        grants = self.grants_of(identity)
        found = evaluate(grants.policies, request)
        if not found.allowed:
            raise AccessDenied(_refusal(principal, action, resource, found, "an identity-based policy"))
        for source, bound in grants.bounds:
            narrowed = evaluate(bound, request)
            if not narrowed.allowed:
                raise AccessDenied(_refusal(principal, action, resource, narrowed, source))

    def is_cached(self, identity: Identity) -> bool:
        """Whether authorize() reads no policy from the store for `identity` (so it may run on the event loop; a
        condition on a resource's tags still reads them)."""
        principal = identity.principal
        if principal.kind in (ROOT, ANONYMOUS) or not self._enforced:
            return True
        with self._lock:
            return self._generation == self._home.iam_changes.value and _grants_key(identity) in self._grants

    def grants_of(self, identity: Identity) -> _Grants:
        """The policies that decide a user's or a role session's calls, cached until IAM changes."""
        principal = identity.principal
        key = _grants_key(identity)
        generation = self._home.iam_changes.value
        with self._lock:
            if generation != self._generation:
                self._grants, self._generation = {}, generation
            cached = self._grants.get(key)
        if cached is None:
            cached = self._read_grants(key[0], principal.name or "", identity)
            with self._lock:
                if generation == self._generation:
                    self._grants[key] = cached
        return cached

    def _read_grants(self, kind: str, name: str, identity: Identity) -> _Grants:
        metadata = self._home.metadata
        bounds: list[tuple[str, list[NamedPolicy]]] = []
        boundary = permissions_boundary(metadata, name) if kind == "user" else None
        if boundary is not None:
            bounds.append(("a permissions boundary", [boundary]))
        session = [NamedPolicy(arn, found.document) for arn in identity.session_policy_arns
                   if (found := managed_policy(metadata, arn)) is not None]
        if identity.session_policy is not None:
            session.append(NamedPolicy("session policy", parsed(identity.session_policy)))
        if identity.session_policy is not None or identity.session_policy_arns:
            bounds.append(("a session policy", session))
        return _Grants(identity_policies(metadata, kind, name), tuple(bounds))


def _grants_key(identity: Identity) -> tuple[str, str, str | None, tuple[str, ...]]:
    principal = identity.principal
    kind = "user" if principal.kind == IAM_USER else "role"
    return kind, principal.name or "", identity.session_policy, identity.session_policy_arns


def _refusal(principal: Principal, action: str, resource: str, found: Evaluation, source: str) -> str:
    """AWS's AccessDenied message: who, what, on what, and why."""
    why = (f"with an explicit deny in {source}" if found.decision is Decision.EXPLICIT_DENY
           else f"because no {source.removeprefix('an ').removeprefix('a ')} allows the {action} action")
    return f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} {why}"


class _Context(Mapping[str, ContextValue]):
    """A call's condition keys, asked for by lower-case name (request_context.py): the request's own; the global
    keys, made on the first miss (most calls' policies ask for none); the resource's tags, read from the store only
    if a condition asks for one."""

    def __init__(self, request_keys: Mapping[str, ContextValue], principal: Principal, platform: Platform,
                 resource: str, region: str, source_ip: str | None, now: datetime) -> None:
        self._keys = {key.lower(): value for key, value in request_keys.items()}
        self._principal, self._region, self._source_ip, self._now = principal, region, source_ip, now
        self._platform = platform
        self._resource = resource
        self._globals: dict[str, ContextValue] | None = None
        self._resource_tags: dict[str, str] | None = None

    def __getitem__(self, key: str) -> ContextValue:
        name = key.lower()
        if name in self._keys:
            return self._keys[name]
        for prefix in _RESOURCE_TAG_PREFIXES:
            if name.startswith(prefix) and name[len(prefix):] in self._tags():
                return self._tags()[name[len(prefix):]]
        return self._global_keys()[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._keys
        yield from self._global_keys()
        for tag in self._tags():
            yield from (prefix + tag for prefix in _RESOURCE_TAG_PREFIXES)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def _global_keys(self) -> dict[str, ContextValue]:
        if self._globals is None:
            self._globals = _global_keys(self._principal, self._region, self._source_ip, self._now)
        return self._globals

    def _tags(self) -> dict[str, str]:
        """The resource's tags by lower-case key (tag keys in condition keys match regardless of case)."""
        if self._resource_tags is None:
            found = self._platform.metadata.tags.list(self._resource, limit=50).items if self._resource != "*" else []
            self._resource_tags = {key.lower(): value for key, value in found}
        return self._resource_tags


def _global_keys(principal: Principal, region: str, source_ip: str | None, now: datetime) -> dict[str, ContextValue]:
    keys: dict[str, ContextValue] = {
        "aws:currenttime": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "aws:epochtime": str(int(now.timestamp())),
        "aws:principalarn": principal.role_arn or principal.arn, "aws:principalaccount": principal.account_id,
        "aws:principaltype": "User" if principal.kind == IAM_USER else principal.kind,
        "aws:userid": principal.user_id, "aws:requestedregion": region,
    }
    if source_ip is not None:
        keys["aws:sourceip"] = source_ip
    if principal.kind == IAM_USER:
        keys["aws:username"] = principal.name or ""
    keys.update({f"aws:principaltag/{key.lower()}": value for key, value in principal.tags})
    if (principal.access_key_id or "").startswith(SESSION_KEY_PREFIX):  # temporary credentials only, as AWS has it
        keys["aws:multifactorauthpresent"] = "true" if principal.mfa_authenticated_at else "false"
    if principal.mfa_authenticated_at is not None:
        keys["aws:multifactorauthage"] = str(int((now - principal.mfa_authenticated_at).total_seconds()))
    return keys
