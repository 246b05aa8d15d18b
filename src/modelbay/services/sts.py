"""STS: who am I. Tools call GetCallerIdentity to learn the account before they do anything."""

from __future__ import annotations

from typing import Any

from modelbay.services.base import Context, Handler


def get_caller_identity(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    principal = ctx.principal
    return {
        "UserId": principal.access_key_id or "anonymous",
        "Account": principal.account_id,
        "Arn": principal.arn,
    }


OPERATIONS: dict[str, Handler] = {"GetCallerIdentity": get_caller_identity}
