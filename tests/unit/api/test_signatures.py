"""verify_signature on Starlette requests, and RequestStream checking what the signature left to the body: a
declared SHA-256 as the body ends, each aws-chunked chunk's signature as the chunk ends."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import anyio.to_thread
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from starlette.requests import Request
from starlette.types import Message, Receive

from modelbay.api.body import RequestStream
from modelbay.api.signatures import payload_signing, verify_signature
from modelbay.errors import AwsError
from modelbay.security.signed_request import SignedRequest
from modelbay.security.sigv4 import Credential, PayloadSigning, read_credential
from tests.unit.security.botocore_signing import KEY, NOW, sign
from tests.unit.security.documented_chunks import (
    DOCUMENTED_CHUNKS,
    DOCUMENTED_SECRET,
    DOCUMENTED_SIGNATURES,
    DOCUMENTED_TRAILER_CHUNKS,
    DOCUMENTED_TRAILER_SIGNATURES,
    DOCUMENTED_TRAILERS,
    documented_body,
)

pytestmark = pytest.mark.anyio

DOCUMENTED_NOW = datetime(2013, 5, 24, 0, 1, tzinfo=UTC)
DOCUMENTED_HEADERS = {
    "host": "s3.amazonaws.com", "x-amz-date": "20130524T000000Z", "x-amz-storage-class": "REDUCED_REDUNDANCY",
    "authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                     "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                     "x-amz-decoded-content-length;x-amz-storage-class,Signature=" + DOCUMENTED_CHUNKS.seed,
    "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": "66560", "content-length": "66824"}


def receiver(pieces: Iterable[bytes]) -> Receive:
    messages: list[Message] = [{"type": "http.request", "body": piece, "more_body": True} for piece in pieces]
    queue = iter([*messages, {"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> Message:
        return next(queue)

    return receive


def starlette_request(method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes) -> Request:
    """A request as uvicorn hands it over, its body in 1000-byte messages."""
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": query.encode(),
             "headers": [(name.encode(), value.encode()) for name, value in headers]}
    return Request(scope, receiver(body[at:at + 1000] for at in range(0, len(body), 1000)))


def received(signed: SignedRequest, body: bytes) -> Request:
    return starlette_request(signed.method, signed.raw_path, signed.raw_query, list(signed.headers.items()), body)


def credential_of(request: Request) -> Credential:
    credential = read_credential(request.headers, request.query_params)
    assert credential is not None
    return credential


async def read(request: Request) -> bytes:
    """The body as the S3 codec's RequestStream reads it, in a worker thread."""
    stream = RequestStream(request.receive, request.headers, 1 << 20, payload_signing(request))
    return await anyio.to_thread.run_sync(stream.read)


async def test_a_json_request_is_verified_with_its_body_which_the_codec_reads_again() -> None:
    body = b'{"MaxResults": 10}'
    signed, _ = sign(SigV4Auth(KEY, "sagemaker", "us-east-1"), "POST", "http://localhost/",
                     headers={"X-Amz-Target": "SageMaker.ListModels"}, body=body)
    request = received(signed, body)
    await verify_signature(request, credential_of(request), KEY.secret_key, NOW, reads_body=True)
    assert await request.body() == body
    assert payload_signing(request) is None


async def test_a_json_request_whose_body_changed_is_refused() -> None:
    signed, _ = sign(SigV4Auth(KEY, "sagemaker", "us-east-1"), "POST", "http://localhost/", body=b'{"a": 1}')
    request = received(signed, b'{"a": 2}')
    with pytest.raises(AwsError) as caught:
        await verify_signature(request, credential_of(request), KEY.secret_key, NOW, reads_body=True)
    assert caught.value.code == "InvalidSignatureException"


async def test_a_repeated_header_is_verified_as_its_values_joined() -> None:
    signed, _ = sign(SigV4Auth(KEY, "sagemaker", "us-east-1"), "GET", "http://localhost/x",
                     headers={"X-Amz-Meta-Many": "one,two"})
    headers = [(name, value) for name, value in signed.headers.items() if name != "x-amz-meta-many"]
    request = starlette_request("GET", "/x", "", [*headers, ("x-amz-meta-many", " one "), ("X-Amz-Meta-Many", "two")],
                                b"")
    await verify_signature(request, credential_of(request), KEY.secret_key, NOW, reads_body=True)


async def test_a_streamed_s3_body_is_checked_against_its_declared_sha256_as_it_ends() -> None:
    data = b"payload " * 500
    signed, _ = sign(S3SigV4Auth(KEY, "s3", "us-east-1"), "PUT", "http://localhost/bucket/key", body=data)
    request = received(signed, data)
    await verify_signature(request, credential_of(request), KEY.secret_key, NOW, reads_body=False)
    assert payload_signing(request) == PayloadSigning(sha256=hashlib.sha256(data).hexdigest())
    assert await read(request) == data

    tampered = received(signed, data[:-1] + b"!")
    await verify_signature(tampered, credential_of(tampered), KEY.secret_key, NOW, reads_body=False)
    with pytest.raises(AwsError) as caught:
        await read(tampered)
    assert (caught.value.code, caught.value.status) == ("XAmzContentSHA256Mismatch", 400)


async def test_the_documented_chunked_upload_streams_with_every_chunk_verified() -> None:
    body = documented_body(DOCUMENTED_SIGNATURES)
    assert len(body) == int(DOCUMENTED_HEADERS["content-length"])
    request = starlette_request("PUT", "/examplebucket/chunkObject.txt", "", list(DOCUMENTED_HEADERS.items()), body)
    await verify_signature(request, credential_of(request), DOCUMENTED_SECRET, DOCUMENTED_NOW, reads_body=False)
    assert await read(request) == b"a" * 66560


@pytest.mark.parametrize("tamper", [
    lambda body: body.replace(b"aaaa", b"baaa", 1),  # the first chunk's data
    lambda body: body.replace(DOCUMENTED_SIGNATURES[2].encode(), DOCUMENTED_SIGNATURES[1].encode()),  # a replay
    lambda body: body.replace(b";chunk-signature=" + DOCUMENTED_SIGNATURES[1].encode(), b""),  # a signature missing
])
async def test_a_tampered_chunked_upload_is_refused_before_it_ends(tamper: Callable[[bytes], bytes]) -> None:
    request = starlette_request("PUT", "/examplebucket/chunkObject.txt", "", list(DOCUMENTED_HEADERS.items()),
                                tamper(documented_body(DOCUMENTED_SIGNATURES)))
    await verify_signature(request, credential_of(request), DOCUMENTED_SECRET, DOCUMENTED_NOW, reads_body=False)
    with pytest.raises(AwsError) as caught:
        await read(request)
    assert (caught.value.code, caught.value.status) == ("SignatureDoesNotMatch", 403)


async def test_the_documented_signed_trailer_is_verified_with_its_checksum() -> None:
    headers = {**DOCUMENTED_HEADERS, "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
               "x-amz-trailer": "x-amz-checksum-crc32c"}
    body = documented_body(DOCUMENTED_TRAILER_SIGNATURES, DOCUMENTED_TRAILERS)
    signing = PayloadSigning(chunks=DOCUMENTED_TRAILER_CHUNKS)
    stream = RequestStream(receiver([body]), headers, 1 << 20, signing)
    assert await anyio.to_thread.run_sync(stream.read) == b"a" * 66560
    assert stream.checksums == {"ChecksumCRC32C": "sOO8/Q=="}

    forged = body.replace(DOCUMENTED_TRAILERS["x-amz-trailer-signature"].encode(), b"0" * 64)
    stream = RequestStream(receiver([forged]), headers, 1 << 20, signing)
    with pytest.raises(AwsError, match="signature we calculated"):
        await anyio.to_thread.run_sync(stream.read)
