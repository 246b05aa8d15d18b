"""S3's legacy Signature Version 2: `Authorization: AWS <key>:<signature>` or a presigned query
(AWSAccessKeyId, Expires, Signature), the signature being the base64 of HMAC-SHA1 over

    METHOD\\n Content-MD5\\n Content-Type\\n Date (or Expires)\\n x-amz-* headers, "name:value\\n" by name + resource

where the resource is the path as sent (a bucket's own, `/bucket`, as `/bucket/`, as S3 and the SDKs name it) with
S3's sub-resources (?acl, ?uploadId=…) sorted after it. The path is taken as it came: a virtual-hosted request
(bucket in Host) is verified only when it is also path-style.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import unquote

from botocore.auth import HmacV1Auth

from modelbay.errors import AccessDenied
from modelbay.security.signature_errors import (
    MAX_SKEW,
    S3,
    expired_url,
    signature_mismatch,
    skewed_clock,
)
from modelbay.security.signed_request import SignedRequest, http_time, query_pairs

# The query parameters S3 signs as part of the resource: its sub-resources and response overrides (the list
# botocore's V2 signer signs, a superset of the one S3's documentation gives).
_SUB_RESOURCES = frozenset(HmacV1Auth.QSAOfInterest)
_AMZ_PREFIX = "x-amz-"


def verify_v2(request: SignedRequest, access_key_id: str, secret_key: str, now: datetime) -> None:
    """Raise S3's error for a V2 signature that does not hold at `now` (UTC)."""
    params = dict(query_pairs(request.raw_query))
    authorization = request.headers.get("authorization", "")
    if authorization.startswith("AWS "):
        provided = authorization[4:].partition(":")[2]
        date_line = "" if _AMZ_PREFIX + "date" in request.headers else request.headers.get("date", "")
        _check_date(request.headers, now)
        amz_headers = _amz_headers(request.headers)
    else:
        provided, date_line = params.get("Signature", ""), params.get("Expires", "")
        _check_expires(date_line, now)
        query_headers = {name.lower(): value for name, value in params.items() if name.lower().startswith(_AMZ_PREFIX)}
        amz_headers = query_headers | _amz_headers(request.headers)
    string_to_sign = "\n".join((request.method, request.headers.get("content-md5", ""),
                                request.headers.get("content-type", ""), date_line, "")) + "".join(
        f"{name}:{amz_headers[name]}\n" for name in sorted(amz_headers)) + _resource(request)
    expected = base64.b64encode(hmac.digest(secret_key.encode(), string_to_sign.encode(), "sha1"))
    if not hmac.compare_digest(expected, provided.encode()):
        raise signature_mismatch(S3, access_key_id, string_to_sign, provided)


def _amz_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value.strip() for name, value in headers.items() if name.startswith(_AMZ_PREFIX)}


def _check_date(headers: Mapping[str, str], now: datetime) -> None:
    """A header signature's date (x-amz-date, else Date) is within MAX_SKEW of now."""
    text = headers.get(_AMZ_PREFIX + "date") or headers.get("date", "")
    signed_at = http_time(text)
    if signed_at is None:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    if abs(now - signed_at) > MAX_SKEW:
        raise skewed_clock(S3, text, signed_at, now)


def _check_expires(text: str, now: datetime) -> None:
    """A presigned URL's Expires (seconds since the epoch) is not past."""
    if not text.isdigit():
        raise AccessDenied("Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
    expires_at = datetime.fromtimestamp(int(text), UTC)
    if now > expires_at:
        raise expired_url(S3, expires_at, now)


def _resource(request: SignedRequest) -> str:
    """The path as sent and the sub-resources among the query's parameters (their values decoded), by name."""
    picked = []
    for part in request.raw_query.split("&"):
        name, equals, value = part.partition("=")
        if name in _SUB_RESOURCES:
            picked.append((name, f"{name}{equals}{unquote(value)}"))
    picked.sort(key=lambda pair: pair[0])
    path = request.raw_path
    if path.count("/") == 1 and len(path) > 1:  # the bucket itself
        path += "/"
    return path + ("?" + "&".join(text for _, text in picked) if picked else "")
