"""Calls to modelbay's own API (modelbay.api.native): what the AWS APIs have no operation for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from modelbay.sdk import resolve_url
from modelbay.sdk.signing import SignedCalls

PREFIX = "/_modelbay/v1"
_TIMEOUT_S = 10.0


def native_get(url: str | None, path: str, params: Mapping[str, str] | None = None,
               missing_ok: bool = False) -> Any:
    """The JSON answer of GET `PREFIX + path` on the server; None for a 404 when `missing_ok`.

    A server that cannot be reached, or that answers an error, raises ConnectionError (an OSError the CLI reports
    as one line) naming `path`."""
    try:
        answer = httpx.get(resolve_url(url) + PREFIX + path, params=params, timeout=_TIMEOUT_S, auth=SignedCalls())
        if missing_ok and answer.status_code == httpx.codes.NOT_FOUND:
            return None
        answer.raise_for_status()
    except httpx.HTTPError as error:
        raise ConnectionError(f"{path}: {error}") from None
    return answer.json()


class NativeRefused(Exception):
    """The server refused a call of its own API; the message is its answer's."""


def native_post(url: str | None, path: str, params: Mapping[str, str] | None = None) -> Any:
    """The JSON answer of POST `PREFIX + path` on the server. An answer of an error raises NativeRefused with the
    server's message; a server that cannot be reached, ConnectionError naming `path`."""
    try:
        answer = httpx.post(resolve_url(url) + PREFIX + path, params=params, timeout=_TIMEOUT_S, auth=SignedCalls())
    except httpx.HTTPError as error:
        raise ConnectionError(f"{path}: {error}") from None
    if answer.is_error:
        try:
            message = answer.json()["message"]
        except (ValueError, KeyError, TypeError):
            message = f"{path}: HTTP {answer.status_code}"
        raise NativeRefused(message)
    return answer.json()
