"""AWS Signature Version 4: who signed a request, and whether the signature holds.

read_credential() reads the credential scope alone (the pipeline picks the API by it, and finds the signer's
secret key by its access key); verify() then checks the signature against that secret key as AWS does: an
Authorization header or a presigned query, its canonical request (S3 signs the path as sent; the other APIs
encode each path segment once more), its date within 15 minutes of now (a presigned URL: before X-Amz-Expires),
and the payload's SHA-256. What only the body can prove as it streams (its declared SHA-256, or each aws-chunked
chunk's signature) verify() hands back as a PayloadSigning. S3's legacy V2 signatures are checked by `sigv2`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from botocore.utils import normalize_url_path

from modelbay.errors import AccessDenied, AwsError
from modelbay.security.chunk_signatures import ChunkSigning
from modelbay.security.signature_errors import (
    MAX_SKEW,
    S3,
    IncompleteSignature,
    S3InvalidArgument,
    S3InvalidRequest,
    content_sha256_mismatch,
    expired_url,
    incomplete_signature,
    premature_url,
    signature_mismatch,
    skewed_clock,
)
from modelbay.security.signed_request import ISO_BASIC, SignedRequest, http_time, iso_basic_time, query_pairs
from modelbay.security.sigv2 import verify_v2

__all__ = ["Credential", "IncompleteSignature", "PayloadSigning", "SignedRequest", "read_credential", "verify"]

_V4_ALGORITHM = "AWS4-HMAC-SHA256"
_V4_CREDENTIAL = re.compile(r"Credential=([^,\s]+)")
_V2_HEADER = re.compile(r"^AWS ([^:\s]+):")
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_MAX_EXPIRES = 604800  # a week: a signing key is good for no longer

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
_SIGNED_STREAMS = (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER)
_PAYLOAD_KEYWORDS = (UNSIGNED_PAYLOAD, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)
_PRESIGNED_PARAMETERS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders")


@dataclass(frozen=True)
class Credential:
    """The credential scope a request was signed with: AKID/date/region/service/aws4_request."""

    access_key_id: str
    date: str | None
    region: str | None
    service: str


@dataclass(frozen=True)
class PayloadSigning:
    """What a streamed body must still prove once verify() accepted the request: exactly one is set."""

    sha256: str | None = None  # the hex SHA-256 x-amz-content-sha256 declared (lower case)
    chunks: ChunkSigning | None = None  # aws-chunked chunks whose signatures chain from the request's


@dataclass(frozen=True)
class _Signature:
    """A V4 signature's parts, from the Authorization header or a presigned query."""

    signed_headers: str  # as the client listed them: "host;x-amz-date"
    provided: str
    timestamp: str  # X-Amz-Date (an HTTP Date header written the same way)
    signed_at: datetime
    expires: int | None  # a presigned URL's X-Amz-Expires
    presigned: bool


def read_credential(headers: Mapping[str, str], query: Mapping[str, str]) -> Credential | None:
    """The signer's credential from the Authorization header or a presigned query; None if unsigned.
    Raise IncompleteSignature for a signature that names no readable credential."""
    authorization = headers.get("authorization", "")
    if authorization.startswith(_V4_ALGORITHM):
        found = _V4_CREDENTIAL.search(authorization)
        return _scope(found.group(1) if found else "")
    if "X-Amz-Credential" in query:
        return _scope(query["X-Amz-Credential"])
    legacy = _V2_HEADER.match(authorization)
    if legacy:
        return Credential(legacy.group(1), None, None, S3)  # SigV2 is S3's alone
    if "AWSAccessKeyId" in query:
        return Credential(query["AWSAccessKeyId"], None, None, S3)
    if authorization:
        raise IncompleteSignature(f"Unsupported authorization type: {authorization.split(' ')[0]!r}")
    return None


def verify(request: SignedRequest, credential: Credential, secret_key: str, now: datetime) -> PayloadSigning | None:
    """Check the signature `credential` (read_credential's of this request) made with `secret_key`, at `now` (UTC).
    Raise the AwsError the signing service answers with; return what the streamed body must still prove."""
    if credential.date is None:
        verify_v2(request, credential.access_key_id, secret_key, now)
        return None
    service, presigned = credential.service, not request.headers.get("authorization", "").startswith(_V4_ALGORITHM)
    query = query_pairs(request.raw_query)
    signature = _from_query(dict(query), service) if presigned else _from_header(request.headers, service)
    if "host" not in signature.signed_headers.split(";"):
        raise incomplete_signature(service, presigned,
                                   "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    _check_time(signature, credential, now)
    payload_hash = _payload_hash(request, service, presigned)
    scope = f"{credential.date}/{credential.region}/{service}/aws4_request"
    canonical = _canonical_request(request, query, signature, payload_hash, service)
    string_to_sign = f"{_V4_ALGORITHM}\n{signature.timestamp}\n{scope}\n{_sha256(canonical.encode())}"
    key = signing_key(secret_key, credential.date, credential.region or "", service)
    expected = hmac.digest(key, string_to_sign.encode(), "sha256").hex()
    mismatch = functools.partial(signature_mismatch, service, credential.access_key_id, string_to_sign,
                                 signature.provided, canonical)
    if not hmac.compare_digest(expected.encode(), signature.provided.encode()):
        raise mismatch()
    if payload_hash in _SIGNED_STREAMS and request.body is None:
        return PayloadSigning(chunks=ChunkSigning(key, signature.timestamp, scope, expected, credential.access_key_id,
                                                  signed_trailer=payload_hash == STREAMING_SIGNED_TRAILER))
    return _payload_check(request, payload_hash, service, mismatch)


@functools.lru_cache(maxsize=1024)
def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"): the same all day, so kept."""
    key = hmac.digest(f"AWS4{secret_key}".encode(), date.encode(), "sha256")
    for part in (region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


def _scope(credential: str) -> Credential:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts[:4]):
        raise IncompleteSignature(
            f"Credential should be scoped to a valid region, service and date: {credential!r} "
            "is not of the form <key>/<date>/<region>/<service>/aws4_request")
    return Credential(parts[0], parts[1], parts[2], parts[3])


def _from_header(headers: Mapping[str, str], service: str) -> _Signature:
    authorization = headers["authorization"]
    parts = dict(part.strip().partition("=")[::2] for part in authorization[len(_V4_ALGORITHM):].split(","))
    missing = [name for name in ("SignedHeaders", "Signature") if not parts.get(name)]
    if missing:
        required = " ".join(f"Authorization header requires '{name}' parameter." for name in missing)
        raise incomplete_signature(service, False, f"{required} Authorization={authorization}")
    stamp = headers.get("x-amz-date")
    signed_at = iso_basic_time(stamp) if stamp is not None else http_time(headers.get("date", ""))
    if signed_at is None:
        if service == S3:
            raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
        if stamp is not None:
            raise IncompleteSignature(f"Date must be in ISO-8601 'basic format'. Got '{stamp}'. "
                                      "See http://en.wikipedia.org/wiki/ISO_8601")
        raise IncompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                                  f"header. Authorization={authorization}")
    return _Signature(parts["SignedHeaders"], parts["Signature"], stamp or signed_at.strftime(ISO_BASIC),
                      signed_at, None, presigned=False)


def _from_query(params: Mapping[str, str], service: str) -> _Signature:
    required = _PRESIGNED_PARAMETERS + (("X-Amz-Expires",) if service == S3 else ())
    missing = [name for name in required if not params.get(name)]
    if missing and service == S3:
        raise incomplete_signature(service, True, "Query-string authentication version 4 requires the "
                                   "X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, "
                                   "X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
    if missing:
        raise IncompleteSignature(" ".join(f"AWS query-string parameters must include '{name}'." for name in missing)
                                  + " Re-examine the query-string parameters.")
    if params["X-Amz-Algorithm"] != _V4_ALGORITHM:
        raise incomplete_signature(service, True, f'X-Amz-Algorithm only supports "{_V4_ALGORITHM}"')
    signed_at = iso_basic_time(params["X-Amz-Date"])
    if signed_at is None:
        raise incomplete_signature(service, True,
                                   "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    return _Signature(params["X-Amz-SignedHeaders"], params["X-Amz-Signature"], params["X-Amz-Date"], signed_at,
                      _expires(params.get("X-Amz-Expires"), service), presigned=True)


def _expires(text: str | None, service: str) -> int | None:
    if text is None:
        return None
    if not text.lstrip("-").isdigit():
        raise incomplete_signature(service, True, "X-Amz-Expires should be a number")
    seconds = int(text)
    if seconds < 1:
        raise incomplete_signature(service, True, "X-Amz-Expires must be non-negative")
    if seconds > _MAX_EXPIRES:
        raise incomplete_signature(service, True, f"X-Amz-Expires must be less than a week (in seconds) that is "
                                                  f"{_MAX_EXPIRES}")
    return seconds


def _check_time(signature: _Signature, credential: Credential, now: datetime) -> None:
    """The scope's date is the signature's; a header signature is within MAX_SKEW of now; a presigned URL has
    not expired and is not dated in the future."""
    service, signed_at = credential.service, signature.signed_at
    if signature.timestamp[:8] != credential.date:
        if service == S3:
            raise incomplete_signature(service, signature.presigned,
                                       "Invalid credential date. Date is not the same as X-Amz-Date.")
        raise IncompleteSignature(f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                                  f"from HTTP: '{credential.date}' != '{signature.timestamp[:8]}', from "
                                  f"'{signature.timestamp}'.")
    if not signature.presigned or signature.expires is None:
        if abs(now - signed_at) > MAX_SKEW:
            raise skewed_clock(service, signature.timestamp, signed_at, now)
        return
    if signed_at - now > MAX_SKEW:
        raise premature_url(service, signed_at, now)
    expires_at = signed_at + timedelta(seconds=signature.expires)
    if now > expires_at:
        raise expired_url(service, expires_at, now, **{"X-Amz-Expires": str(signature.expires)})


def _payload_hash(request: SignedRequest, service: str, presigned: bool) -> str:
    """The payload's hash as the canonical request names it: x-amz-content-sha256, else what AWS assumes."""
    declared = request.headers.get("x-amz-content-sha256")
    if declared is None:
        if service == S3:
            if presigned:
                return UNSIGNED_PAYLOAD
            raise S3InvalidRequest("Missing required header for this request: x-amz-content-sha256")
        if request.body is None:
            raise ValueError("a request of an API other than S3 is verified with its body or a declared hash")
        return _sha256(request.body)
    if service == S3 and declared not in _PAYLOAD_KEYWORDS and not _HEX_SHA256.fullmatch(declared):
        raise S3InvalidArgument("x-amz-content-sha256 must be " + ", ".join(_PAYLOAD_KEYWORDS)
                                + " or a valid sha256 value.")
    return declared


def _payload_check(request: SignedRequest, payload_hash: str, service: str,
                   mismatch: Callable[[], AwsError]) -> PayloadSigning | None:
    """Check a hash the client declared against the body in hand, or leave it to the stream. A body read whole is
    never aws-chunked, so only a hash or UNSIGNED-PAYLOAD can describe it; for the APIs other than S3, a body that
    is not the one declared makes the signature wrong (`mismatch`)."""
    if payload_hash == UNSIGNED_PAYLOAD or (payload_hash == STREAMING_UNSIGNED_TRAILER and request.body is None):
        return None
    if not _HEX_SHA256.fullmatch(payload_hash):
        raise mismatch()
    declared = payload_hash.lower()
    if request.body is None:
        return PayloadSigning(sha256=declared)
    computed = _sha256(request.body)
    if computed == declared:
        return None
    if service == S3:
        raise content_sha256_mismatch(declared, computed)
    raise mismatch()


def _canonical_request(request: SignedRequest, query: list[tuple[str, str]], signature: _Signature,
                       payload_hash: str, service: str) -> str:
    if signature.presigned:
        query = [(name, value) for name, value in query if name != "X-Amz-Signature"]
    canonical_query = "&".join(f"{name}={value}" for name, value in sorted(
        (quote(name, safe="-_.~"), quote(value, safe="-_.~")) for name, value in query))
    headers = request.headers
    canonical_headers = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n"
                                for name in signature.signed_headers.split(";"))
    return "\n".join((request.method, _canonical_path(request.raw_path, service), canonical_query, canonical_headers,
                      signature.signed_headers, payload_hash))


def _canonical_path(raw_path: str, service: str) -> str:
    """S3 signs the path as sent; the other APIs its dot segments and empty segments removed, each segment encoded
    once more (botocore does the same on the client side, so its helper is used)."""
    if service == S3:
        return raw_path or "/"
    return quote(normalize_url_path(raw_path), safe="/~")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
