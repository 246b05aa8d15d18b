from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from awscrt import auth as crt_auth
from awscrt import http
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.config import Config

from modelbay.errors import AwsError
from modelbay.security.signed_request import query_pairs
from modelbay.security.sigv4 import (
    Credential,
    IncompleteSignature,
    PayloadSigning,
    SignedRequest,
    read_credential,
    signing_key,
    verify,
)
from tests.unit.security.botocore_signing import KEY, NOW, sign, with_headers
from tests.unit.security.documented_chunks import DOCUMENTED_CHUNKS, DOCUMENTED_SECRET

V4 = ("AWS4-HMAC-SHA256 Credential=AKID/20261125/eu-west-1/sagemaker/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=abc")


def test_header_scope() -> None:
    assert read_credential({"authorization": V4}, {}) == Credential("AKID", "20261125", "eu-west-1", "sagemaker")


def test_presigned_query_scope() -> None:
    query = {"X-Amz-Credential": "AKID/20261125/us-east-1/s3/aws4_request", "X-Amz-Signature": "x"}
    assert read_credential({}, query) == Credential("AKID", "20261125", "us-east-1", "s3")


@pytest.mark.parametrize(("headers", "query"), [
    ({"authorization": "AWS AKID:signature"}, {}),
    ({}, {"AWSAccessKeyId": "AKID", "Signature": "x"}),
])
def test_legacy_v2_is_s3(headers: dict[str, str], query: dict[str, str]) -> None:
    assert read_credential(headers, query) == Credential("AKID", None, None, "s3")


def test_unsigned() -> None:
    assert read_credential({}, {}) is None


@pytest.mark.parametrize("authorization", [
    "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc",
    "AWS4-HMAC-SHA256 Credential=AKID/20261125/us-east-1/aws4_request, Signature=abc",
    "Bearer token",
])
def test_unreadable_signatures(authorization: str) -> None:
    with pytest.raises(IncompleteSignature):
        read_credential({"authorization": authorization}, {})


# -- verify: requests botocore signed are accepted; anything changed after signing is refused ---------------------

JSON_HEADERS = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.ListModels"}
JSON_BODY = b'{"MaxResults": 10}'


def sagemaker_request(**overrides: Any) -> tuple[SignedRequest, Credential]:
    arguments = {"headers": JSON_HEADERS, "body": JSON_BODY, **overrides}
    return sign(SigV4Auth(KEY, "sagemaker", "us-east-1"), "POST", "http://localhost:8080/", **arguments)


def s3_request(url: str = "http://localhost:8080/bucket/key", body: bytes = b"data",
               **overrides: Any) -> tuple[SignedRequest, Credential]:
    """An S3 PutObject as botocore signs it over http: the payload's SHA-256 in x-amz-content-sha256; the server
    streams the body (None)."""
    request, credential = sign(S3SigV4Auth(KEY, "s3", "us-east-1"), "PUT", url, body=body, **overrides)
    return replace(request, body=None), credential


def refused(request: SignedRequest, credential: Credential, now: datetime = NOW,
            secret: str = KEY.secret_key) -> AwsError:
    with pytest.raises(AwsError) as caught:
        verify(request, credential, secret, now)
    return caught.value


def test_a_json_request_botocore_signed_is_accepted_and_leaves_nothing_to_the_body() -> None:
    assert verify(*sagemaker_request(), KEY.secret_key, NOW) is None


@pytest.mark.parametrize("skew", [timedelta(minutes=-14), timedelta(minutes=14)])
def test_a_clock_within_fifteen_minutes_is_accepted(skew: timedelta) -> None:
    assert verify(*sagemaker_request(), KEY.secret_key, NOW + skew) is None


@pytest.mark.parametrize("path", ["/endpoints/my-endpoint/invocations", "/a%3Ab/c%20d/./e/../invocations"])
def test_a_rest_json_path_is_encoded_once_more_as_botocore_does(path: str) -> None:
    signer = SigV4Auth(KEY, "sagemaker", "us-east-1")
    request, credential = sign(signer, "POST", f"http://localhost:8080{path}", body=b"1,2,3")
    assert verify(request, credential, KEY.secret_key, NOW) is None


def test_headers_with_inner_spaces_repeated_values_and_a_query_are_canonicalized_as_signed() -> None:
    request, credential = sign(SigV4Auth(KEY, "sagemaker", "us-east-1"), "GET",
                               "http://localhost:8080/x?b=2&a=%20sp%2Fa&a=1&empty=",
                               headers={"X-Amz-Meta-Note": "  two   spaces  here ", "X-Amz-Meta-Many": "a , b"})
    assert verify(request, credential, KEY.secret_key, NOW) is None


def test_query_values_are_decoded_and_encoded_again_as_aws_encodes_them() -> None:
    """botocore sends a space as "+" and signs it as "%20"; "~" and "é" as they are and as "%C3%A9"."""
    request, credential = sign(SigV4Auth(KEY, "sagemaker", "us-east-1"), "GET", "http://localhost:8080/x",
                               params={"prefix": "a b/c~é+", "Z": "1", "a": ""})
    assert "prefix=a+b%2Fc~%C3%A9%2B" in request.raw_query
    assert verify(request, credential, KEY.secret_key, NOW) is None


@pytest.mark.parametrize("change", [
    lambda r: with_headers(r, x_amz_target="SageMaker.DeleteModel"),
    lambda r: with_headers(r, host="attacker.example"),
    lambda r: replace(r, body=b'{"MaxResults": 11}'),
    lambda r: replace(r, raw_path="/other"),
    lambda r: replace(r, raw_query="Action=Other"),
    lambda r: replace(r, method="PUT"),
])
def test_a_json_request_changed_after_signing_is_invalid_signature(
        change: Callable[[SignedRequest], SignedRequest]) -> None:
    request, credential = sagemaker_request()
    error = refused(change(request), credential)
    assert (error.code, error.status) == ("InvalidSignatureException", 403)
    assert error.message.startswith("The request signature we calculated does not match")
    assert error.fields == {}  # the JSON APIs do not show what they signed


def test_another_secret_key_is_refused() -> None:
    assert refused(*sagemaker_request(), secret="not-the-secret").code == "InvalidSignatureException"


def test_a_declared_payload_hash_that_is_not_the_bodys_is_refused_for_a_json_api() -> None:
    request, credential = sagemaker_request()
    lie = with_headers(request, x_amz_content_sha256=hashlib.sha256(b"other").hexdigest())
    assert refused(lie, credential).code == "InvalidSignatureException"


def test_a_header_the_signature_names_but_the_request_lacks_is_refused() -> None:
    request, credential = sagemaker_request()
    assert refused(replace(request, headers={k: v for k, v in request.headers.items() if k != "x-amz-target"}),
                   credential).code == "InvalidSignatureException"


def test_a_clock_skewed_past_fifteen_minutes_is_refused_as_aws_words_it() -> None:
    expired = refused(*sagemaker_request(), now=NOW + timedelta(minutes=16))
    assert (expired.code, expired.message) == ("InvalidSignatureException", "Signature expired: 20260101T120000Z is "
                                               "now earlier than 20260101T120100Z (20260101T121600Z - 15 min.)")
    early = refused(*sagemaker_request(), now=NOW - timedelta(minutes=16))
    assert early.message == ("Signature not yet current: 20260101T120000Z is still later than 20260101T115900Z "
                             "(20260101T114400Z + 15 min.)")


def test_s3_answers_a_skewed_clock_with_request_time_too_skewed() -> None:
    error = refused(*s3_request(), now=NOW + timedelta(hours=1))
    assert (error.code, error.status) == ("RequestTimeTooSkewed", 403)
    assert error.fields == {"RequestTime": "20260101T120000Z", "ServerTime": "2026-01-01T13:00:00Z",
                            "MaxAllowedSkewMilliseconds": "900000"}


def test_the_credential_scopes_date_must_be_the_requests() -> None:
    request, credential = sagemaker_request()
    error = refused(request, replace(credential, date="20251231"))
    assert error.code == "IncompleteSignatureException"
    assert "'20251231' != '20260101'" in error.message


def test_host_must_be_signed() -> None:
    request, credential = sagemaker_request()
    authorization = request.headers["authorization"].replace(";host;", ";")
    assert authorization != request.headers["authorization"]
    error = refused(with_headers(request, authorization=authorization), credential)
    assert error.code == "IncompleteSignatureException"
    assert "'Host' or ':authority' must be a 'SignedHeader'" in error.message


@pytest.mark.parametrize(("part", "code"), [("Signature", "IncompleteSignatureException"),
                                            ("SignedHeaders", "IncompleteSignatureException")])
def test_an_authorization_header_without_a_part_is_incomplete(part: str, code: str) -> None:
    request, credential = sagemaker_request()
    kept = [item for item in request.headers["authorization"].split(", ") if not item.startswith(part)]
    error = refused(with_headers(request, authorization=", ".join(kept)), credential)
    assert error.code == code
    assert f"Authorization header requires '{part}' parameter." in error.message


def test_a_request_without_a_date_is_incomplete_and_s3_denies_it() -> None:
    request, credential = sagemaker_request()
    undated = replace(request, headers={k: v for k, v in request.headers.items() if k != "x-amz-date"})
    assert refused(undated, credential).code == "IncompleteSignatureException"
    s3, s3_credential = s3_request()
    undated = replace(s3, headers={k: v for k, v in s3.headers.items() if k != "x-amz-date"})
    error = refused(undated, s3_credential)
    assert (error.code, error.message) == ("AccessDeniedException",
                                           "AWS authentication requires a valid Date or x-amz-date header")


def test_a_date_header_may_date_the_signature() -> None:
    dated = {**JSON_HEADERS, "Date": "Thu, 01 Jan 2026 12:00:00 GMT"}
    assert verify(*sagemaker_request(headers=dated), KEY.secret_key, NOW) is None


# -- S3: the path as sent, x-amz-content-sha256 required, the payload checked as it streams --------------------------

def test_s3_signs_the_path_as_sent_and_leaves_the_declared_hash_to_the_stream() -> None:
    request, credential = s3_request("http://localhost:8080/bucket/a%20b/c%2Bd~%C3%A9/./x")
    declared = hashlib.sha256(b"data").hexdigest()
    assert verify(request, credential, KEY.secret_key, NOW) == PayloadSigning(sha256=declared)


def test_s3_refuses_a_changed_request_with_what_it_signed() -> None:
    request, credential = s3_request()
    error = refused(replace(request, raw_path="/bucket/other"), credential)
    assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
    assert error.fields["AWSAccessKeyId"] == KEY.access_key
    assert error.fields["SignatureProvided"] == request.headers["authorization"].rpartition("=")[2]
    assert error.fields["StringToSign"].startswith("AWS4-HMAC-SHA256\n20260101T120000Z\n20260101/us-east-1/s3/")
    assert error.fields["CanonicalRequest"].startswith("PUT\n/bucket/other\n")


def test_s3_checks_a_body_in_hand_against_its_declared_hash() -> None:
    request, credential = s3_request()
    assert verify(replace(request, body=b"data"), credential, KEY.secret_key, NOW) is None
    error = refused(replace(request, body=b"changed"), credential)
    assert (error.code, error.status) == ("XAmzContentSHA256Mismatch", 400)
    assert error.fields["S3ComputedContentSHA256"] == hashlib.sha256(b"changed").hexdigest()


def test_s3_unsigned_payload_leaves_nothing_to_check() -> None:
    context = {"client_config": Config(s3={"payload_signing_enabled": False})}
    request, credential = s3_request(context=context)
    assert request.headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert verify(request, credential, KEY.secret_key, NOW) is None


def test_s3_requires_x_amz_content_sha256_and_a_valid_one() -> None:
    request, credential = s3_request()
    bare = replace(request, headers={k: v for k, v in request.headers.items() if k != "x-amz-content-sha256"})
    error = refused(bare, credential)
    assert (error.code, error.message) == ("InvalidRequest", "Missing required header for this request: "
                                           "x-amz-content-sha256")
    assert refused(with_headers(request, x_amz_content_sha256="nonsense"), credential).code == "InvalidArgument"


def test_the_documented_chunked_upload_hands_its_seed_signature_to_the_chunks() -> None:
    """AWS's own example (S3 API reference, "Transferring Payload in Multiple Chunks"): its seed signature holds."""
    request = SignedRequest("PUT", "/examplebucket/chunkObject.txt", "", {
        "host": "s3.amazonaws.com", "x-amz-date": "20130524T000000Z", "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "authorization": f"AWS4-HMAC-SHA256 Credential={DOCUMENTED_CHUNKS.access_key_id}/20130524/us-east-1/s3/"
                         "aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;"
                         "x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature="
                         + DOCUMENTED_CHUNKS.seed,
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560", "content-length": "66824"}, None)
    credential = read_credential(request.headers, {})
    assert credential is not None
    signing = verify(request, credential, DOCUMENTED_SECRET, datetime(2013, 5, 24, 0, 5, tzinfo=UTC))
    assert signing == PayloadSigning(chunks=DOCUMENTED_CHUNKS)


# -- presigned URLs ------------------------------------------------------------------------------------------------

def presigned_s3(expires: int = 3600, url: str = "http://localhost:8080/bucket/key?versionId=v1"
                 ) -> tuple[SignedRequest, Credential]:
    return sign(S3SigV4QueryAuth(KEY, "s3", "us-east-1", expires=expires), "GET", url, body=b"")


def test_an_s3_presigned_url_is_accepted_until_it_expires() -> None:
    request, credential = presigned_s3()
    assert "authorization" not in request.headers
    assert verify(replace(request, body=None), credential, KEY.secret_key, NOW + timedelta(minutes=59)) is None
    error = refused(request, credential, now=NOW + timedelta(hours=1, seconds=1))
    assert (error.code, error.status, error.message) == ("AccessDeniedException", 403, "Request has expired")
    assert error.fields == {"X-Amz-Expires": "3600", "Expires": "2026-01-01T13:00:00Z",
                            "ServerTime": "2026-01-01T13:00:01Z"}


def test_an_s3_presigned_url_dated_in_the_future_is_not_valid_yet() -> None:
    error = refused(*presigned_s3(), now=NOW - timedelta(minutes=16))
    assert (error.code, error.message) == ("AccessDeniedException", "Request is not valid yet")


@pytest.mark.parametrize("change", [
    lambda query: query.replace("versionId=v1", "versionId=v2"),
    lambda query: query.replace("X-Amz-Expires=3600", "X-Amz-Expires=7200"),
    lambda query: query + "&extra=1",
])
def test_a_changed_presigned_query_is_refused(change: Callable[[str], str]) -> None:
    request, credential = presigned_s3()
    assert refused(replace(request, raw_query=change(request.raw_query)), credential).code == "SignatureDoesNotMatch"


@pytest.mark.parametrize(("expires", "message"), [
    ("604801", "X-Amz-Expires must be less than a week (in seconds) that is 604800"),
    ("0", "X-Amz-Expires must be non-negative"),
    ("soon", "X-Amz-Expires should be a number"),
])
def test_s3_refuses_an_x_amz_expires_out_of_range(expires: str, message: str) -> None:
    request, credential = presigned_s3()
    error = refused(replace(request, raw_query=request.raw_query.replace("X-Amz-Expires=3600",
                                                                         f"X-Amz-Expires={expires}")), credential)
    assert (error.code, error.status, error.message) == ("AuthorizationQueryParametersError", 400, message)


def test_s3_requires_every_presigned_parameter() -> None:
    request, credential = presigned_s3()
    query = "&".join(part for part in request.raw_query.split("&") if not part.startswith("X-Amz-SignedHeaders"))
    assert refused(replace(request, raw_query=query), credential).code == "AuthorizationQueryParametersError"


def test_a_presigned_sts_request_is_accepted_and_expires_as_request_expired() -> None:
    signer = SigV4QueryAuth(KEY, "sts", "us-east-1", expires=60)
    request, credential = sign(signer, "GET", "http://localhost:8080/?Action=GetCallerIdentity&Version=2011-06-15")
    assert verify(request, credential, KEY.secret_key, NOW + timedelta(seconds=60)) is None
    error = refused(request, credential, now=NOW + timedelta(seconds=61))
    assert (error.code, error.status) == ("RequestExpired", 400)
    missing = replace(request, raw_query=request.raw_query.replace("X-Amz-Algorithm", "X-Amz-Algorithmus"))
    assert "must include 'X-Amz-Algorithm'" in refused(missing, credential).message


# -- awscrt's signer (the CRT SDKs' and the S3 transfer manager's) agrees -----------------------------------------

def crt_signed(method: str, target: str, headers: dict[str, str], body: bytes, service: str,
               presign: bool = False) -> tuple[SignedRequest, Credential]:
    """Signed by awscrt as the SDKs configure it: S3 without double encoding and with x-amz-content-sha256."""
    request = http.HttpRequest(method, target, http.HttpHeaders(list(headers.items())), io.BytesIO(body))
    s3 = service == "s3"
    config = crt_auth.AwsSigningConfig(
        signature_type=crt_auth.AwsSignatureType.HTTP_REQUEST_QUERY_PARAMS if presign
        else crt_auth.AwsSignatureType.HTTP_REQUEST_HEADERS,
        credentials_provider=crt_auth.AwsCredentialsProvider.new_static(KEY.access_key, KEY.secret_key),
        region="eu-west-1", service=service, date=NOW, use_double_uri_encode=not s3, should_normalize_uri_path=not s3,
        signed_body_value=crt_auth.AwsSignedBodyValue.UNSIGNED_PAYLOAD if presign else None,
        signed_body_header_type=crt_auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256 if s3 and not presign
        else crt_auth.AwsSignedBodyHeaderType.NONE, expiration_in_seconds=600 if presign else None)
    signed = crt_auth.aws_sign_request(request, config).result()
    path, _, query = signed.path.partition("?")
    received = SignedRequest(method, path, query, {name.lower(): value for name, value in signed.headers}, body)
    credential = read_credential(received.headers, dict(query_pairs(query)))
    assert credential is not None
    return received, credential


@pytest.mark.parametrize(("method", "target", "service", "presign"), [
    ("PUT", "/bucket/a%20b/c~d?x=1&a=b%20c", "s3", False),
    ("GET", "/bucket/k%2Bey?versionId=1", "s3", True),
    ("POST", "/endpoints/e%3A1/invocations", "sagemaker", False),
])
def test_requests_awscrt_signed_are_accepted(method: str, target: str, service: str, presign: bool) -> None:
    headers = {"host": "localhost:8080", "x-amz-meta-a": "  v  w ", "content-type": "text/csv"}
    request, credential = crt_signed(method, target, headers, b"1,2", service, presign)
    assert verify(request, credential, KEY.secret_key, NOW) is None
    assert refused(replace(request, raw_path=request.raw_path + "x"), credential).status == 403


# -- speed ---------------------------------------------------------------------------------------------------------

def test_the_signing_key_is_derived_once_per_secret_day_region_and_service() -> None:
    signing_key.cache_clear()
    for _ in range(3):
        verify(*sagemaker_request(), KEY.secret_key, NOW)
    assert (signing_key.cache_info().misses, signing_key.cache_info().hits) == (1, 2)
