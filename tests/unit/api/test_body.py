"""RequestStream: a payload pulled from an ASGI receive channel in a worker thread, aws-chunked
framing undone, checksums verified at its end."""

from __future__ import annotations

import base64
import hashlib
import io
import zlib
from collections.abc import Iterable, Mapping

import anyio.to_thread
import pytest
from awscrt import checksums as crt
from botocore.httpchecksum import AwsChunkedWrapper, CrtCrc32Checksum
from starlette.types import Message, Receive

from modelbay.api import body as body_module
from modelbay.api.body import RequestStream, is_aws_chunked
from modelbay.api.s3_errors import BadDigest, IncompleteBody, InvalidDigest, InvalidRequest, MalformedTrailer
from modelbay.errors import RequestTooLarge

pytestmark = pytest.mark.anyio

DATA = bytes(range(256)) * 41 + b"tail"  # 10500 bytes
CHUNKED = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(DATA))}
SIGNATURE = b";chunk-signature=" + b"ab" * 32


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def crc32(data: bytes) -> str:
    return b64(zlib.crc32(data).to_bytes(4, "big"))


def receiver(pieces: Iterable[bytes], disconnect: bool = False) -> Receive:
    """A receive channel that hands out `pieces` one message each (then a disconnect, if asked)."""
    messages: list[Message] = [{"type": "http.request", "body": piece, "more_body": True} for piece in pieces]
    if disconnect:
        messages.append({"type": "http.disconnect"})
    else:
        messages.append({"type": "http.request", "body": b"", "more_body": False})
    queue = iter(messages)

    async def receive() -> Message:
        return next(queue)

    return receive


def split(body: bytes, size: int) -> list[bytes]:
    return [body[at:at + size] for at in range(0, len(body), size)]


def framed(chunks: Iterable[bytes], trailers: Mapping[str, str] | None = None, signature: bytes = b"") -> bytes:
    """aws-chunked framing; `signature` is each chunk header's extension."""
    body = b"".join(b"%x%s\r\n%s\r\n" % (len(chunk), signature, chunk) for chunk in chunks)
    lines = b"".join(f"{name}:{value}\r\n".encode() for name, value in (trailers or {}).items())
    return body + b"0" + signature + b"\r\n" + lines + b"\r\n"


async def read_all(stream: RequestStream, size: int = -1) -> bytes:
    """Read to the end with read(size) in a worker thread, as a service would."""
    def consume() -> bytes:
        pieces = []
        while piece := stream.read(size):
            assert size < 0 or len(piece) <= size
            pieces.append(piece)
        return b"".join(pieces)

    return await anyio.to_thread.run_sync(consume)


def stream_of(pieces: Iterable[bytes], headers: Mapping[str, str], max_bytes: int = 1 << 20,
              disconnect: bool = False) -> RequestStream:
    return RequestStream(receiver(pieces, disconnect), headers, max_bytes)


@pytest.mark.parametrize("size", [-1, 1, 1000, 1 << 20])
async def test_a_plain_body_in_many_messages(size: int) -> None:
    stream = stream_of(split(DATA, 333), {"content-length": str(len(DATA))})
    assert await read_all(stream, size) == DATA
    assert stream.checksums == {}


async def test_what_botocore_frames_is_decoded_and_its_trailer_checked() -> None:
    wrapper = AwsChunkedWrapper(io.BytesIO(DATA), checksum_cls=CrtCrc32Checksum,
                                checksum_name="x-amz-checksum-crc32", chunk_size=4096)
    body = wrapper.read()
    headers = {**CHUNKED, "x-amz-trailer": "x-amz-checksum-crc32",
               "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-sdk-checksum-algorithm": "CRC32"}
    stream = stream_of(split(body, 1000), headers)
    assert await read_all(stream, 5000) == DATA
    assert stream.checksums == {"ChecksumCRC32": crc32(DATA)}


async def test_signed_chunks_without_a_trailer() -> None:
    body = framed(split(DATA, 8192), signature=SIGNATURE)
    headers = {**CHUNKED, "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}
    assert await read_all(stream_of(split(body, 4000), headers)) == DATA


async def test_signed_chunks_with_a_checksum_and_a_trailer_signature() -> None:
    trailers = {"x-amz-checksum-sha256": b64(hashlib.sha256(DATA).digest()), "x-amz-trailer-signature": "cd" * 32}
    body = framed(split(DATA, 8192), trailers, SIGNATURE)
    headers = {"x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
               "x-amz-decoded-content-length": str(len(DATA)), "x-amz-trailer": "x-amz-checksum-sha256"}
    stream = stream_of([body], headers)
    assert await read_all(stream) == DATA
    assert stream.checksums == {"ChecksumSHA256": trailers["x-amz-checksum-sha256"]}


@pytest.mark.parametrize("pull_bytes", [1, 1 << 20])  # one message per trip to the event loop, or all at once
async def test_every_split_of_the_framing_across_messages(pull_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(body_module, "_PULL_BYTES", pull_bytes)
    data = b"0123456789abcdefghij"
    framing = framed([data[:7], data[7:8], data[8:]], {"x-amz-checksum-crc32": crc32(data)}, SIGNATURE)
    headers = {"content-encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32"}
    for size in range(1, len(framing) + 1):
        stream = stream_of(split(framing, size), headers)
        assert await read_all(stream, 3) == data, size
        assert stream.checksums == {"ChecksumCRC32": crc32(data)}


async def test_many_small_chunks() -> None:
    chunks = [DATA[at:at + 1 + at % 7] for at in range(0, 3000, 5)]
    data = b"".join(chunks)
    body = framed(chunks, {"x-amz-checksum-crc32c": b64(crt.crc32c(data).to_bytes(4, "big"))})
    headers = {"content-encoding": "gzip, aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32c"}
    stream = stream_of(split(body, 700), headers)
    assert await read_all(stream, 100) == data
    assert stream.checksums["ChecksumCRC32C"] == b64(crt.crc32c(data).to_bytes(4, "big"))


@pytest.mark.parametrize(("header", "digest"), [
    ("x-amz-checksum-crc32", lambda d: zlib.crc32(d).to_bytes(4, "big")),
    ("x-amz-checksum-crc32c", lambda d: crt.crc32c(d).to_bytes(4, "big")),
    ("x-amz-checksum-crc64nvme", lambda d: crt.crc64nvme(d).to_bytes(8, "big")),
    ("x-amz-checksum-sha1", lambda d: hashlib.sha1(d).digest()),
    ("x-amz-checksum-sha256", lambda d: hashlib.sha256(d).digest()),
    ("x-amz-checksum-sha512", lambda d: hashlib.sha512(d).digest()),
    ("x-amz-checksum-md5", lambda d: hashlib.md5(d).digest()),
    ("x-amz-checksum-xxhash64", crt.XXHash.compute_xxhash64),
    ("x-amz-checksum-xxhash3", crt.XXHash.compute_xxhash3_64),
    ("x-amz-checksum-xxhash128", crt.XXHash.compute_xxhash3_128),
])
async def test_each_checksum_header_is_verified(header: str, digest: object) -> None:
    value = b64(digest(DATA))  # type: ignore[operator]  # the parametrized lambdas
    member = "Checksum" + header.removeprefix("x-amz-checksum-").upper()
    stream = stream_of(split(DATA, 4096), {header: value})
    assert await read_all(stream) == DATA
    assert stream.checksums == {member: value}
    wrong = stream_of([DATA + b"!"], {header: value})
    with pytest.raises(BadDigest, match=f"The {member.removeprefix('Checksum')} you specified did not match"):
        await read_all(wrong)


async def test_a_wrong_trailing_crc32_is_a_bad_digest() -> None:
    body = framed([DATA], {"x-amz-checksum-crc32": crc32(DATA + b"!")})
    stream = stream_of([body], {**CHUNKED, "x-amz-trailer": "x-amz-checksum-crc32"})
    with pytest.raises(BadDigest) as caught:
        await read_all(stream)
    assert (caught.value.code, caught.value.status) == ("BadDigest", 400)
    assert caught.value.message == "The CRC32 you specified did not match the calculated checksum."
    assert stream.checksums == {"ChecksumCRC32": crc32(DATA)}  # what it computed, to show what went wrong


async def test_content_md5() -> None:
    right = b64(hashlib.md5(DATA).digest())
    assert await read_all(stream_of([DATA], {"content-md5": right})) == DATA
    with pytest.raises(BadDigest, match="The Content-MD5 you specified did not match what we received."):
        await read_all(stream_of([DATA[:-1]], {"content-md5": right}))
    with pytest.raises(InvalidDigest, match="The Content-MD5 you specified was invalid."):
        stream_of([DATA], {"content-md5": "not base64!"})
    with pytest.raises(InvalidRequest, match="Value for x-amz-checksum-crc32 header is invalid."):
        stream_of([DATA], {"x-amz-checksum-crc32": b64(b"12345")})


async def test_an_algorithm_asked_for_without_a_value_is_computed() -> None:
    stream = stream_of([DATA], {"x-amz-sdk-checksum-algorithm": "crc64nvme"})
    assert await read_all(stream) == DATA
    assert stream.checksums == {"ChecksumCRC64NVME": b64(crt.crc64nvme(DATA).to_bytes(8, "big"))}


async def test_trailers_must_be_the_announced_ones() -> None:
    announced = {"content-encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32"}
    with pytest.raises(MalformedTrailer, match="x-amz-checksum-crc32 announced"):
        await read_all(stream_of([framed([DATA])], announced))
    with pytest.raises(MalformedTrailer, match="x-amz-checksum-sha1 was not announced"):
        await read_all(stream_of([framed([DATA], {"x-amz-checksum-sha1": "x"})], {"content-encoding": "aws-chunked"}))
    with pytest.raises(MalformedTrailer, match="not well-formed"):
        await read_all(stream_of([framed([DATA])[:-2] + b"no colon\r\n\r\n"], {"content-encoding": "aws-chunked"}))
    with pytest.raises(InvalidRequest, match="x-amz-trailer"):
        stream_of([], {"content-encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-md4"})


@pytest.mark.parametrize(("body", "message"), [
    (b"zz\r\n", "no valid size"),
    (b"4\r\nabcdef\r\n0\r\n\r\n", "longer than its header says"),
    (b"4;" + b"x" * 5000 + b"\r\n", "too long"),
])
async def test_malformed_framing(body: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        await read_all(stream_of([body], {"content-encoding": "aws-chunked"}))


@pytest.mark.parametrize(("pieces", "headers", "disconnect"), [
    ([DATA[:100]], {"content-length": str(len(DATA))}, True),  # the client went away
    ([DATA[:100]], {"content-length": str(len(DATA))}, False),  # the body ended early
    ([framed([DATA])[:50]], CHUNKED, False),  # inside a chunk
    ([framed([DATA])[:-2]], CHUNKED, False),  # before the last line
    ([framed([DATA[:-1]])], CHUNKED, False),  # shorter than x-amz-decoded-content-length
])
async def test_a_short_body_is_incomplete(pieces: list[bytes], headers: dict[str, str], disconnect: bool) -> None:
    with pytest.raises(IncompleteBody, match="You did not provide the number of bytes"):
        await read_all(stream_of(pieces, headers, disconnect=disconnect))


async def test_the_size_limit() -> None:
    with pytest.raises(RequestTooLarge):  # at once when declared
        stream_of([DATA], {"content-length": str(len(DATA))}, max_bytes=len(DATA) - 1)
    exact = stream_of(split(framed(split(DATA, 1000)), 999), {"content-encoding": "aws-chunked"}, len(DATA))
    assert await read_all(exact) == DATA
    over = stream_of(split(framed(split(DATA, 1000)), 999), {"content-encoding": "aws-chunked"}, len(DATA) - 1)
    with pytest.raises(RequestTooLarge, match=f"maximum allowed size of {len(DATA) - 1} bytes"):
        await read_all(over)


async def test_read_after_the_end_and_an_empty_body() -> None:
    stream = stream_of([], {"content-md5": b64(hashlib.md5(b"").digest())})
    assert await anyio.to_thread.run_sync(stream.read) == b""
    assert await anyio.to_thread.run_sync(stream.read, 10) == b""


def test_aws_chunked_is_recognised() -> None:
    assert is_aws_chunked({"content-encoding": "aws-chunked"})
    assert is_aws_chunked({"content-encoding": "gzip,AWS-Chunked"})
    assert is_aws_chunked({"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"})
    assert not is_aws_chunked({"content-encoding": "gzip", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
