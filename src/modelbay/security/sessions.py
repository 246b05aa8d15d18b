"""Issuing STS sessions: temporary credentials for a principal, and a service's session of a role it was passed.

A session's credentials are an access key id `ASIA…`, a 40-character secret (kept sealed under the master key) and a
session token (kept as its SHA-256 only), valid for a given time (store/metadata/sessions.py); the authenticator
turns them back into the session's principal. STS's AssumeRole and GetSessionToken issue them for callers; the
controllers issue one of a job's execution role for its program, as SageMaker gives a job its role's credentials.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from modelbay.platform import Platform
from modelbay.security.principal import ASSUMED_ROLE
from modelbay.security.root_key import new_access_key
from modelbay.store.metadata import MetadataStore, Role
from modelbay.store.metadata.sessions import SessionRecord

SESSION_KEY_PREFIX = "ASIA"
TOKEN_BYTES = 264  # 352 base64 characters, as long as AWS's tokens are about


@dataclass(frozen=True)
class SessionCredentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime

    def as_wire(self) -> dict[str, Any]:
        """STS's Credentials member."""
        return {"AccessKeyId": self.access_key_id, "SecretAccessKey": self.secret_access_key,
                "SessionToken": self.session_token, "Expiration": self.expiration}


def issue(account: Platform, duration_s: int, token_bytes: int = TOKEN_BYTES, **holder: Any) -> SessionCredentials:
    """New credentials for `holder` (SessionRecord's members but the credentials), valid `duration_s` from now.
    `account` is the platform holding IAM and STS (Platform.account)."""
    metadata = account.metadata
    access_key_id, secret = new_access_key(SESSION_KEY_PREFIX)
    token = base64.b64encode(os.urandom(token_bytes)).decode()
    expires_at = metadata.sessions.clock() + timedelta(seconds=duration_s)
    sealed = account.master_key.seal(secret.encode(), context=access_key_id.encode())  # a secret never kept bare
    metadata.sessions.add(SessionRecord(access_key_id, sealed, hashlib.sha256(token.encode()).hexdigest(),
                                        expires_at, **holder))
    account.iam_changes.bump()
    return SessionCredentials(access_key_id, secret, token, expires_at)


def role_session(account: Platform, role_arn: str, session_name: str, duration_s: int) -> SessionCredentials | None:
    """A service's session of the role `role_arn` (a job's execution role, which the call that made the job passed
    with iam:PassRole); None if the account has no such role."""
    role = find_role(account.metadata, role_arn)
    if role is None:
        return None
    return issue(account, duration_s, kind=ASSUMED_ROLE, name=role.name, path=role.request.get("Path", "/"),
                 unique_id=role.request["RoleId"], session_name=session_name)


def find_role(metadata: MetadataStore, arn: str) -> Role | None:
    """The role an ARN names (its name is after the last slash), None if there is none of that very ARN."""
    role = metadata.roles.get(arn.rsplit("/", 1)[-1]) if ":role/" in arn else None
    return role if role is not None and role.arn == arn else None
