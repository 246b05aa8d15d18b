"""Signing calls of modelbay's own routes (`/_modelbay/v1/…`) as AWS calls are signed, for servers in `iam` mode.

The signature is SigV4 with the credentials of the SDK's session (clients.session: the user's, else the local
server's) and the service name `modelbay`, so the server checks it as it checks any AWS call's.
"""

from __future__ import annotations

from collections.abc import Generator

import boto3
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from modelbay.sdk.clients import session

SERVICE = "modelbay"


class SignedCalls(httpx.Auth):
    """httpx authentication that signs each request with SigV4 (the body is read, so it must not stream), with the
    credentials of `signer` (default: clients.session(), at each request)."""

    requires_request_body = True

    def __init__(self, signer: boto3.Session | None = None) -> None:
        self._signer = signer

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        found = self._signer or session()
        credentials = found.get_credentials()
        if credentials is not None:
            unsigned = AWSRequest(request.method, str(request.url), data=request.content,
                                  headers={"host": request.url.netloc.decode()})
            SigV4Auth(credentials.get_frozen_credentials(), SERVICE, found.region_name).add_auth(unsigned)
            request.headers.update({name: value for name, value in unsigned.headers.items()
                                    if name.lower().startswith(("authorization", "x-amz-"))})
        yield request
