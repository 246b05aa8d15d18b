"""Who signed a request, verified: the step every signed request takes, AWS's calls and modelbay's own routes."""

from __future__ import annotations

import inspect
import re
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from modelbay.api.signatures import verify_signature
from modelbay.config import AUTH_OPEN
from modelbay.errors import AwsError
from modelbay.platform import Platform
from modelbay.security.authentication import Authenticator, Identity
from modelbay.security.authorization import Authorizer
from modelbay.security.principal import Principal
from modelbay.security.sigv4 import Credential, read_credential


async def authenticate(authenticator: Authenticator, request: Request, credential: Credential | None,
                       reads_body: bool) -> Identity:
    """The caller, its signature verified (in `iam` mode); anonymous for an unsigned request. `reads_body`: the body
    is read whole and hashed now (else it streams and the stream checks its declared hash)."""
    if credential is None:
        return anonymous(authenticator.account_id)
    token = request.headers.get("x-amz-security-token") or request.query_params.get("X-Amz-Security-Token")
    identity = await identify(authenticator, credential, token)
    if identity.secret_access_key is not None:
        await verify_signature(request, credential, identity.secret_access_key, datetime.now(UTC), reads_body)
    return identity


async def identify(authenticator: Authenticator, credential: Credential, token: str | None) -> Identity:
    """Who holds the credential's key (and `token`, a session's), its signature not yet verified."""
    arguments = (credential.access_key_id, token, credential.service)
    if authenticator.is_cached(credential.access_key_id):
        return authenticator.identify(*arguments)
    # the key is read from the store (and its secret unsealed): off the event loop
    return await anyio.to_thread.run_sync(authenticator.identify, *arguments)


def anonymous(account_id: str) -> Identity:
    return Identity(Principal(None, account_id))


def guarded(route: Route, authenticator: Authenticator, authorizer: Authorizer, home: Platform) -> Route:
    """`route` (one of modelbay's own) answering only signed calls whose principal may do `modelbay:<Name>`, the
    name of its endpoint function (audit_events → modelbay:AuditEvents), in `iam` mode; as it is in `open` mode."""
    if authenticator.mode == AUTH_OPEN:
        return route
    endpoint: Any = route.endpoint  # a plain function runs in a worker thread, as Starlette would run it
    action = "modelbay:" + re.sub(r"(?:^|_)([a-z])", lambda found: found.group(1).upper(), endpoint.__name__)

    async def checked(request: Request) -> Response:
        try:
            identity = await authenticate(authenticator, request, read_credential(request.headers,
                                                                                  request.query_params), True)
            source_ip = request.client.host if request.client else None
            authorizer.check(identity, action, "*", home, source_ip)
        except AwsError as refused:
            return JSONResponse({"__type": refused.code, "message": refused.message}, refused.status)
        answer: Response = (await endpoint(request) if inspect.iscoroutinefunction(endpoint)
                            else await anyio.to_thread.run_sync(endpoint, request))
        return answer

    return Route(route.path, checked, methods=route.methods, name=route.name)
