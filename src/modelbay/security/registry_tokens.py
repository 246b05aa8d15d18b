"""The passwords of ECR authorization tokens: who asked for one and until when it is good, under a MAC.

GetAuthorizationToken's token is base64 of `AWS:<password>`, the password `docker login`/`podman login` give the
registry (`/v2/`) with every request. Here the password is `<access key id>.<expiry, epoch seconds>.<MAC>`: the
MAC (HMAC-SHA256, base64url) is under a key derived from the master key for this purpose alone
(MasterKey.mac), so only the server makes one, a changed name or expiry does not verify, and a restarted server
(same master key) still takes the tokens it gave. Like ECR's, a token is not revoked by anything but its expiry.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from modelbay.security.master_key import MasterKey

_PURPOSE = b"ECR authorization token"


class TokenRefused(ValueError):
    """A password that is not a token of this server's, or one past its expiry; the message says which."""


@dataclass(frozen=True)
class RegistryToken:
    """What a verified password says: whose it is and until when it is good."""

    access_key_id: str
    expires_at: datetime


def issue(master_key: MasterKey, access_key_id: str, expires_at: datetime) -> str:
    """The password naming the caller's access key and the token's expiry (to the second), under the MAC."""
    claims = f"{access_key_id}.{int(expires_at.timestamp())}"
    return f"{claims}.{_mac(master_key, claims)}"


def verify(master_key: MasterKey, password: str, now: datetime) -> RegistryToken:
    """The token the password is; raise TokenRefused if the server did not make it or it has expired."""
    claims, _, mac = password.rpartition(".")
    access_key_id, _, expiry = claims.partition(".")
    well_formed = access_key_id and expiry.isascii() and expiry.isdigit()
    if not well_formed or not hmac.compare_digest(mac.encode(), _mac(master_key, claims).encode()):
        raise TokenRefused("the password is not an authorization token of this server's: log in again with the "
                           "password of `aws ecr get-login-password`")
    expires_at = datetime.fromtimestamp(int(expiry), UTC)
    if expires_at <= now:
        raise TokenRefused(f"the authorization token expired at {expires_at.isoformat()}: log in again with the "
                           "password of `aws ecr get-login-password`")
    return RegistryToken(access_key_id, expires_at)


def _mac(master_key: MasterKey, claims: str) -> str:
    return base64.urlsafe_b64encode(master_key.mac(claims.encode(), _PURPOSE)).decode().rstrip("=")
