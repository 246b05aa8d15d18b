"""A Starlette request's signature, verified (security.sigv4), and what its body must still prove handed on to
the RequestStream that reads it (through the ASGI scope, which the request and the codec share)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from starlette.requests import Request

from modelbay.api.rest import raw_path
from modelbay.security.sigv4 import Credential, PayloadSigning, SignedRequest, verify

_PAYLOAD_SIGNING = "modelbay.payload_signing"


async def verify_signature(request: Request, credential: Credential, secret_key: str, now: datetime,
                           reads_body: bool) -> None:
    """Raise the AwsError the signing service answers with for a signature that does not hold. `reads_body`: the
    codec reads the whole body (every codec but S3's), so it is read here first and its SHA-256 checked; Starlette
    keeps it for the codec. Otherwise the body streams, and RequestStream checks it as it ends."""
    body = await request.body() if reads_body else None
    signed = SignedRequest(request.method, raw_path(request.scope), request.scope["query_string"].decode("latin-1"),
                           joined_headers(request.headers.raw), body)
    request.scope[_PAYLOAD_SIGNING] = verify(signed, credential, secret_key, now)


def payload_signing(request: Request) -> PayloadSigning | None:
    """What verify_signature left for the body stream to check (None: nothing, or the request was not verified)."""
    return cast(PayloadSigning | None, request.scope.get(_PAYLOAD_SIGNING))


def joined_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names; a repeated header's values trimmed and joined by "," (as SigV4 canonicalizes them)."""
    joined: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1").strip()
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined
