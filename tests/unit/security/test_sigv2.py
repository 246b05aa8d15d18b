"""S3's Signature Version 2, cross-checked with botocore's own V2 signers (HmacV1Auth, HmacV1QueryAuth)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.credentials import Credentials

from modelbay.errors import AwsError
from modelbay.security.signed_request import SignedRequest
from modelbay.security.sigv4 import Credential, verify
from tests.unit.security.botocore_signing import KEY, NOW, sign, with_headers

HTTP_NOW = "Thu, 01 Jan 2026 12:00:00 GMT"
URL = "http://localhost:8080/bucket/a%20key"


def header_signed(url: str = URL, method: str = "PUT", **arguments: Any) -> tuple[SignedRequest, Credential]:
    with mock.patch("botocore.auth.formatdate", return_value=HTTP_NOW):
        return sign(HmacV1Auth(KEY), method, url, **arguments)


def presigned(url: str = URL, credentials: Credentials = KEY) -> tuple[SignedRequest, Credential]:
    expires = str(int((NOW + timedelta(hours=1)).timestamp()))
    with mock.patch.object(HmacV1QueryAuth, "_get_date", return_value=expires):
        request, credential = sign(HmacV1QueryAuth(credentials), "GET", url)
    return replace(request, headers={"host": request.headers["host"]}), credential  # the URL alone is sent


def refused(request: SignedRequest, credential: Credential, now: Any = NOW) -> AwsError:
    with pytest.raises(AwsError) as caught:
        verify(request, credential, KEY.secret_key, now)
    return caught.value


@pytest.mark.parametrize("url", [URL, f"{URL}?acl", f"{URL}?uploadId=u%2B1&partNumber=2&prefix=not-signed"])
def test_a_header_signed_request_is_accepted(url: str) -> None:
    headers = {"Content-Type": "text/plain", "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==", "X-Amz-Meta-Color": " red "}
    request, credential = header_signed(url, headers=headers, body=b"")
    assert credential.date is None
    assert verify(request, credential, KEY.secret_key, NOW) is None


@pytest.mark.parametrize("change", [
    lambda r: replace(r, method="DELETE"),
    lambda r: replace(r, raw_path="/bucket/other"),
    lambda r: replace(r, raw_query="acl"),
    lambda r: with_headers(r, content_type="text/html"),
    lambda r: with_headers(r, x_amz_meta_color="blue"),
])
def test_a_header_signed_request_changed_after_signing_is_refused(change: Any) -> None:
    request, credential = header_signed(headers={"Content-Type": "text/plain", "X-Amz-Meta-Color": "red"})
    error = refused(change(request), credential)
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.fields["AWSAccessKeyId"] == KEY.access_key
    assert error.fields["StringToSign"].startswith(f"{change(request).method}\n\n")


def test_a_header_signed_request_with_a_skewed_clock_is_refused() -> None:
    error = refused(*header_signed(), now=NOW + timedelta(minutes=16))
    assert (error.code, error.fields["RequestTime"]) == ("RequestTimeTooSkewed", HTTP_NOW)


def test_a_presigned_url_is_accepted_until_it_expires() -> None:
    request, credential = presigned(f"{URL}?versionId=v1")
    assert verify(request, credential, KEY.secret_key, NOW + timedelta(minutes=59)) is None
    error = refused(request, credential, now=NOW + timedelta(hours=1, seconds=1))
    assert (error.code, error.message) == ("AccessDeniedException", "Request has expired")
    assert error.fields == {"Expires": "2026-01-01T13:00:00Z", "ServerTime": "2026-01-01T13:00:01Z"}
    assert refused(replace(request, raw_query=request.raw_query.replace("v1", "v2")),
                   credential).code == "SignatureDoesNotMatch"


def test_a_presigned_urls_amz_parameters_are_signed_as_headers() -> None:
    """botocore moves x-amz-* headers (a session token here) into the query of a V2 presigned URL."""
    request, credential = presigned(credentials=Credentials(KEY.access_key, KEY.secret_key, "session-token"))
    assert "x-amz-security-token=session-token" in request.raw_query
    assert verify(request, credential, KEY.secret_key, NOW) is None
    changed = replace(request, raw_query=request.raw_query.replace("session-token", "other-token"))
    assert refused(changed, credential).code == "SignatureDoesNotMatch"


def test_a_bucket_is_signed_as_its_name_and_a_slash_whatever_the_path_sent() -> None:
    """botocore signs CreateBucket's resource `/bucket/` and sends PUT /bucket, as S3 names a bucket's resource."""
    request, credential = header_signed("http://localhost:8080/bucket/")
    verify(replace(request, raw_path="/bucket"), credential, KEY.secret_key, NOW)
    assert refused(replace(request, raw_path="/other"), credential).code == "SignatureDoesNotMatch"
