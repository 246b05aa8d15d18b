from __future__ import annotations

import pytest

from modelbay.security.sigv4 import Credential, IncompleteSignature, read_credential

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
