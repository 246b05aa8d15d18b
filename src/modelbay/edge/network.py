"""Telling "the server cannot be reached now" (retry later, serve what is loaded) from an answer."""

from __future__ import annotations

import httpx
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError


def is_unreachable(err: BaseException) -> bool:
    """The call did not get an answer (no route, refused, reset, timed out), or the server failed (5xx)."""
    if isinstance(err, ClientError):
        return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) >= 500
    return isinstance(err, (ConnectionError, HTTPClientError, httpx.TransportError, OSError))
