"""Authentication: which principal an access key stands for, and the secret its signatures are checked with.

In `open` mode every key is the account root's and nothing is verified. In `iam` mode a key is one of:
- the root key (root_key.py), the account root;
- an IAM user's access key (`AKIA…`, in the IAM store, secret sealed by the master key), that user, if Active;
- an STS session's key (`ASIA…`), the session's user or assumed role, while it has not expired and only with its
  session token (X-Amz-Security-Token), which is kept as a SHA-256 digest.

Looking a key up unseals its secret, so what was found is cached per key, and the whole cache is dropped when
IAM or STS change anything (`Platform.iam_changes`) and at the latest after CACHE_TTL_S (another server on a
shared database may have changed it). A cached key costs a dictionary lookup; the signature is still verified
on every request by the caller (sigv4.py).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from modelbay.config import AUTH_OPEN
from modelbay.platform import Platform
from modelbay.security.principal import IAM_USER, ROOT, Principal
from modelbay.security.root_key import AccessKey
from modelbay.security.sessions import SESSION_KEY_PREFIX
from modelbay.security.signature_errors import expired_token, invalid_token, unrecognized_access_key

CACHE_TTL_S = 5.0
_MAX_CACHED = 100_000


@dataclass(frozen=True)
class Identity:
    """Who a key is, with what its requests must be checked against."""

    principal: Principal
    secret_access_key: str | None = field(default=None, repr=False)  # None: not verified (open mode)
    token_sha256: str | None = None  # an STS session's token digest
    expires_at: datetime | None = None  # an STS session's expiry
    session_policy: str | None = None  # AssumeRole's Policy, which narrows the role's own
    session_policy_arns: tuple[str, ...] = ()  # AssumeRole's PolicyArns, which narrow it too


class Authenticator:
    def __init__(self, mode: str, home: Platform, root_key: AccessKey | None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.mode = mode
        self.account_id = home.settings.account_id
        self._home = home
        self._root = root_key
        self._clock = clock
        self._cache: dict[str, Identity | None] = {}
        self._cache_generation = -1
        self._cache_until = 0.0
        self._lock = threading.Lock()

    def identify(self, access_key_id: str, session_token: str | None, service: str) -> Identity:
        """The identity of a key a request for `service` was signed with; the error that service answers for an
        unknown or inactive key, a wrong session token or an expired session (signature_errors.py)."""
        if self.mode == AUTH_OPEN:
            return Identity(Principal(access_key_id, self.account_id))
        identity = self._cached(access_key_id)
        if identity is None:
            raise unrecognized_access_key(service, access_key_id)
        if identity.token_sha256 is not None:
            self._check_session(identity, session_token, service)
        return identity

    def is_cached(self, access_key_id: str) -> bool:
        """Whether identify() answers `access_key_id` without reading the store (so it may run on the event loop)."""
        if self.mode == AUTH_OPEN:
            return True
        with self._lock:
            return (access_key_id in self._cache and self._cache_generation == self._home.iam_changes.value
                    and time.monotonic() < self._cache_until)

    def _check_session(self, identity: Identity, token: str | None, service: str) -> None:
        digest = hashlib.sha256(token.encode()).hexdigest() if token else ""
        if not hmac.compare_digest(digest, identity.token_sha256 or ""):
            raise invalid_token(service)
        if identity.expires_at is not None and identity.expires_at <= self._clock():
            raise expired_token(service)

    def _cached(self, access_key_id: str) -> Identity | None:
        generation, now = self._home.iam_changes.value, time.monotonic()
        with self._lock:
            if generation != self._cache_generation or now >= self._cache_until or len(self._cache) > _MAX_CACHED:
                self._cache, self._cache_generation, self._cache_until = {}, generation, now + CACHE_TTL_S
            if access_key_id in self._cache:
                return self._cache[access_key_id]
        found = self._look_up(access_key_id)
        with self._lock:
            if generation == self._cache_generation:
                self._cache[access_key_id] = found
        return found

    def _look_up(self, access_key_id: str) -> Identity | None:
        account = self._home.settings.account_id
        if self._root is not None and hmac.compare_digest(access_key_id, self._root.access_key_id):
            return Identity(Principal(access_key_id, account), self._root.secret_access_key)
        if access_key_id.startswith(SESSION_KEY_PREFIX):
            return self._session(access_key_id)
        return self._user_key(access_key_id)

    def _user_key(self, access_key_id: str) -> Identity | None:
        metadata = self._home.metadata
        key = metadata.iam.find_access_key(access_key_id)
        if key is None or key.status != "Active":
            return None
        user = metadata.iam.user(key.user_name)
        if user is None:
            return None
        principal = Principal(access_key_id, self._home.settings.account_id, IAM_USER, user.name, user.path,
                              user.user_id, tags=tuple(sorted(user.tags.items())))
        return Identity(principal, self._unseal(key.sealed_secret, access_key_id))

    def _session(self, access_key_id: str) -> Identity | None:
        session = self._home.metadata.sessions.find(access_key_id)
        if session is None:
            return None
        account = self._home.settings.account_id
        if session.kind == ROOT:  # the root's own GetSessionToken
            principal = Principal(access_key_id, account, mfa_authenticated_at=session.mfa_authenticated_at)
        else:
            principal = Principal(access_key_id, account, session.kind, session.name, session.path, session.unique_id,
                                  session.session_name, session.mfa_authenticated_at,
                                  tuple(sorted(session.tags.items())))
        return Identity(principal, self._unseal(session.sealed_secret, access_key_id), session.token_sha256,
                        session.expires_at, session.session_policy, session.policy_arns)

    def _unseal(self, sealed: bytes, access_key_id: str) -> str:
        return self._home.master_key.unseal(sealed, access_key_id.encode()).decode()
