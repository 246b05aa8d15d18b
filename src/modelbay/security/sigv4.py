"""Reading AWS Signature Version 4 (and S3's legacy V2) credentials from a request.

This issue only reads who signed and for which service and region; verifying the signature
comes with the security work and will live here too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from modelbay.errors import AwsError

_V4_ALGORITHM = "AWS4-HMAC-SHA256"
_V4_CREDENTIAL = re.compile(r"Credential=([^,\s]+)")
_V2_HEADER = re.compile(r"^AWS ([^:\s]+):")


class IncompleteSignature(AwsError):
    code = "IncompleteSignatureException"
    status = 403


@dataclass(frozen=True)
class Credential:
    """The credential scope a request was signed with: AKID/date/region/service/aws4_request."""

    access_key_id: str
    date: str | None
    region: str | None
    service: str


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
        return Credential(legacy.group(1), None, None, "s3")  # SigV2 is S3's alone
    if "AWSAccessKeyId" in query:
        return Credential(query["AWSAccessKeyId"], None, None, "s3")
    if authorization:
        raise IncompleteSignature(f"Unsupported authorization type: {authorization.split(' ')[0]!r}")
    return None


def _scope(credential: str) -> Credential:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts[:4]):
        raise IncompleteSignature(
            f"Credential should be scoped to a valid region, service and date: {credential!r} "
            "is not of the form <key>/<date>/<region>/<service>/aws4_request")
    return Credential(parts[0], parts[1], parts[2], parts[3])
