"""Who is calling, as IAM names them: the account's root, an IAM user, or a session of an assumed role.

The kinds are CloudTrail's `userIdentity.type` values. An IAM user calling with GetSessionToken's credentials is
still the user (with the session's MFA state); a role's session is
`arn:aws:sts::<account>:assumed-role/<role>/<session>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ROOT = "Root"
IAM_USER = "IAMUser"
ASSUMED_ROLE = "AssumedRole"
ANONYMOUS = "Anonymous"  # an unsigned request (S3's anonymous reads)


@dataclass(frozen=True)
class Principal:
    access_key_id: str | None  # None for an unsigned request
    account_id: str
    kind: str = ROOT
    name: str | None = None  # the user's or the role's name
    path: str = "/"  # the user's or the role's IAM path
    unique_id: str | None = None  # AIDA… of a user, AROA… of a role (the account id for root)
    session_name: str | None = None  # an assumed role's RoleSessionName
    mfa_authenticated_at: datetime | None = None  # when the session's MFA code was checked (None: no MFA)
    tags: tuple[tuple[str, str], ...] = ()  # aws:PrincipalTag/…: the user's tags, or a role session's tags

    def __post_init__(self) -> None:
        if self.access_key_id is None and self.kind != ANONYMOUS:
            object.__setattr__(self, "kind", ANONYMOUS)

    @property
    def arn(self) -> str:
        if self.kind == ANONYMOUS:
            return "anonymous"
        if self.kind == IAM_USER:
            return f"arn:aws:iam::{self.account_id}:user{self.path}{self.name}"
        if self.kind == ASSUMED_ROLE:
            return f"arn:aws:sts::{self.account_id}:assumed-role/{self.name}/{self.session_name}"
        return f"arn:aws:iam::{self.account_id}:root"

    @property
    def user_id(self) -> str:
        """GetCallerIdentity's UserId: the account for root, AIDA… for a user, AROA…:<session> for a role session."""
        if self.kind == ROOT:
            return self.account_id
        if self.kind == ASSUMED_ROLE:
            return f"{self.unique_id}:{self.session_name}"
        return self.unique_id or "anonymous"

    @property
    def role_arn(self) -> str | None:
        """The IAM role an assumed-role session is of."""
        if self.kind != ASSUMED_ROLE:
            return None
        return f"arn:aws:iam::{self.account_id}:role{self.path}{self.name}"
