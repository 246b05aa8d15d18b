"""Requests signed by botocore's own signers, as the server receives them (a SignedRequest and its credential)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from unittest import mock
from urllib.parse import urlsplit

from botocore.auth import BaseSigner
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from modelbay.security.signed_request import SignedRequest, query_pairs
from modelbay.security.sigv4 import Credential, read_credential

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
KEY = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def sign(signer: BaseSigner, method: str, url: str, headers: Mapping[str, str] | None = None, body: bytes = b"",
         context: Mapping[str, object] | None = None, params: Mapping[str, str] | None = None,
         at: datetime = NOW) -> tuple[SignedRequest, Credential]:
    """`url` (and `params`, which botocore encodes itself) signed at `at` by `signer` (whose credentials are KEY),
    as a server receives it with its body."""
    request = AWSRequest(method, url, headers=dict(headers or {}), data=body, params=dict(params or {}))
    request.context.update(context or {})
    with mock.patch("botocore.auth.get_current_datetime", return_value=at.replace(tzinfo=None)):
        signer.add_auth(request)
    parts = urlsplit(request.prepare().url)
    received: dict[str, str] = {}
    for name, value in request.headers.items():
        name = name.lower()
        received[name] = f"{received[name]},{value.strip()}" if name in received else value.strip()
    received.setdefault("host", parts.netloc)  # the HTTP client sends it; botocore signs it from the URL
    signed = SignedRequest(method, parts.path, parts.query, received, body)
    credential = read_credential(received, dict(query_pairs(parts.query)))
    assert credential is not None
    return signed, credential


def with_headers(request: SignedRequest, **changes: str) -> SignedRequest:
    """The request with header values changed (names with "_" for "-")."""
    return replace(request, headers={**request.headers, **{name.replace("_", "-"): value
                                                             for name, value in changes.items()}})
