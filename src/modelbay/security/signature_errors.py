"""The errors of request authentication, worded as each API words them.

JSON APIs answer with the codes of the first classes below; the query APIs (IAM, STS, CloudWatch) spell the same
classes their own way (api/spellings.py: SignatureDoesNotMatch, InvalidClientTokenId, ...). S3 words its failures
differently and adds members of its own to the error body (StringToSign, RequestTime, ...), so its errors are
classes of their own, and the functions at the end pick the error the signing service answers with.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from modelbay.errors import AccessDenied, AwsError, InvalidSignature, aws_error
from modelbay.security.signed_request import ISO_BASIC

S3 = "s3"
MAX_SKEW = timedelta(minutes=15)
_SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                       "Secret Access Key and signing method. Consult the service documentation for details.")
_S3_SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you provided. "
                          "Check your key and signing method.")


class InvalidClientTokenId(AwsError):
    """An access key (or a session token) that no account holds: the query APIs' InvalidClientTokenId, the JSON
    APIs' UnrecognizedClientException (S3's InvalidAccessKeyId or InvalidToken: see the functions below)."""

    code = "UnrecognizedClientException"
    status = 403


class IncompleteSignature(AwsError):
    """A signature missing a part AWS requires (a parameter, a signed Host, a date)."""

    code = "IncompleteSignatureException"
    status = 403


class ExpiredToken(AwsError):
    code = "ExpiredTokenException"
    status = 403


class RequestExpired(AwsError):
    """A presigned request of an API other than S3 used after its X-Amz-Expires."""

    code = "RequestExpired"


class SignatureDoesNotMatch(AwsError):
    """S3's: its body also names the key, the signature sent and the string S3 signed."""

    code = "SignatureDoesNotMatch"
    status = 403


class InvalidAccessKeyId(AwsError):
    code = "InvalidAccessKeyId"
    status = 403


class RequestTimeTooSkewed(AwsError):
    code = "RequestTimeTooSkewed"
    status = 403


class S3ExpiredToken(AwsError):
    code = "ExpiredToken"
    status = 400


class InvalidToken(AwsError):
    code = "InvalidToken"


class AuthorizationQueryParametersError(AwsError):
    """S3's word for a presigned URL whose X-Amz-* parameters are missing or malformed."""

    code = "AuthorizationQueryParametersError"


class XAmzContentSHA256Mismatch(AwsError):
    """A payload whose SHA-256 is not the one x-amz-content-sha256 declared (S3)."""

    code = "XAmzContentSHA256Mismatch"


S3InvalidRequest = aws_error("InvalidRequest")
S3InvalidArgument = aws_error("InvalidArgument")


def unrecognized_access_key(service: str, access_key_id: str) -> AwsError:
    if service == S3:
        return InvalidAccessKeyId("The AWS Access Key Id you provided does not exist in our records.",
                                  AWSAccessKeyId=access_key_id)
    return InvalidClientTokenId("The security token included in the request is invalid.")


def content_sha256_mismatch(declared: str, computed: str) -> AwsError:
    """S3's answer to a payload whose SHA-256 is not the one x-amz-content-sha256 declared."""
    return XAmzContentSHA256Mismatch("The provided 'x-amz-content-sha256' header does not match what was computed.",
                                     ClientComputedContentSHA256=declared, S3ComputedContentSHA256=computed)


def expired_token(service: str) -> AwsError:
    if service == S3:
        return S3ExpiredToken("The provided token has expired.")
    return ExpiredToken("The security token included in the request is expired")


def invalid_token(service: str) -> AwsError:
    """A session token that is malformed or belongs to no session."""
    if service == S3:
        return InvalidToken("The provided token is malformed or otherwise invalid.")
    return InvalidClientTokenId("The security token included in the request is invalid.")


def incomplete_signature(service: str, presigned: bool, message: str) -> AwsError:
    """S3 names a malformed presigned URL apart; a malformed header is IncompleteSignature's S3 spelling."""
    if service == S3 and presigned:
        return AuthorizationQueryParametersError(message)
    return IncompleteSignature(message)


def signature_mismatch(service: str, access_key_id: str, string_to_sign: str, provided: str,
                       canonical_request: str | None = None) -> AwsError:
    """The signature is not the one the secret key gives. S3 shows what it signed, so a client can compare."""
    if service != S3:
        return InvalidSignature(_SIGNATURE_MISMATCH)
    details = {"AWSAccessKeyId": access_key_id, "StringToSign": string_to_sign, "SignatureProvided": provided}
    if canonical_request is not None:
        details["CanonicalRequest"] = canonical_request
    return SignatureDoesNotMatch(_S3_SIGNATURE_MISMATCH, **details)


def skewed_clock(service: str, request_time: str, signed_at: datetime, now: datetime) -> AwsError:
    """A header-signed request dated more than MAX_SKEW away from now; `request_time` as the client wrote it."""
    if service == S3:
        return RequestTimeTooSkewed("The difference between the request time and the current time is too large.",
                                    RequestTime=request_time, ServerTime=iso_time(now),
                                    MaxAllowedSkewMilliseconds=str(MAX_SKEW.seconds * 1000))
    stamp, server, window = signed_at.strftime(ISO_BASIC), now.strftime(ISO_BASIC), f"{MAX_SKEW.seconds // 60} min."
    if signed_at < now:
        earliest = (now - MAX_SKEW).strftime(ISO_BASIC)
        return InvalidSignature(f"Signature expired: {stamp} is now earlier than {earliest} ({server} - {window})")
    latest = (now + MAX_SKEW).strftime(ISO_BASIC)
    return InvalidSignature(f"Signature not yet current: {stamp} is still later than {latest} ({server} + {window})")


def expired_url(service: str, expires: datetime, now: datetime, **fields: str) -> AwsError:
    """A presigned request used after it expired; `fields` are S3's extra members (X-Amz-Expires)."""
    if service == S3:
        return AccessDenied("Request has expired", **fields, Expires=iso_time(expires), ServerTime=iso_time(now))
    return RequestExpired("Request has expired.")


def premature_url(service: str, signed_at: datetime, now: datetime) -> AwsError:
    """A presigned request dated more than MAX_SKEW after now."""
    if service == S3:
        return AccessDenied("Request is not valid yet")
    return skewed_clock(service, signed_at.strftime(ISO_BASIC), signed_at, now)


def iso_time(moment: datetime) -> str:
    """S3's ServerTime and Expires members: 2026-01-01T00:00:00Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
