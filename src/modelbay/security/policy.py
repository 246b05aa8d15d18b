"""Authorization: the one hook every call passes through before it runs.

Everything is allowed for now; IAM-style policies plug in here in the security work.
"""

from __future__ import annotations

from collections.abc import Sequence

from modelbay.security.principal import Principal


class Authorizer:
    """Decides whether a principal may call an operation on some resources."""

    def authorize(self, principal: Principal, service: str, operation: str, resources: Sequence[str]) -> None:
        """Return if allowed; raise AccessDenied otherwise."""
