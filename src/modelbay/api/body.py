"""A request's payload as a synchronous binary stream, read where services run: a worker thread.

The stream pulls the body from the ASGI receive channel as it is read, about a MiB per trip to
the event loop (never the whole body), undoes S3's `aws-chunked` framing when the request uses
it, and checks the payload's Content-MD5 and x-amz-checksum-* values (see `checksums`) as it
ends; for a request whose signature verify_signature accepted, it also checks what the signature
left to the body (`PayloadSigning`): the SHA-256 x-amz-content-sha256 declared, as it ends, or each
chunk's signature (`chunk_signatures`), as the chunk ends. aws-chunked, as S3 takes it:

    <hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n ... 0[;chunk-signature=<sig>]\\r\\n
    [x-amz-checksum-crc32:<base64>\\r\\n][x-amz-trailer-signature:<sig>\\r\\n]\\r\\n
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections import deque
from collections.abc import Mapping
from typing import Protocol

import anyio.from_thread
from starlette.types import Receive

from modelbay.api.checksums import PayloadChecksums
from modelbay.api.s3_errors import IncompleteBody, InvalidRequest, MalformedTrailer
from modelbay.errors import RequestTooLarge
from modelbay.security.chunk_signatures import ChunkVerifier
from modelbay.security.signature_errors import content_sha256_mismatch
from modelbay.security.sigv4 import PayloadSigning

_PULL_BYTES = 1024 * 1024  # how much one trip to the event loop gathers
_MAX_LINE = 4096  # a chunk header or trailer line
_MAX_TRAILERS = 16
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")
_INCOMPLETE = "You did not provide the number of bytes specified by the Content-Length HTTP header"
_CHUNK_SIGNATURE = b"chunk-signature="


class RequestStream:
    """The payload of one request, read from a worker thread (one that anyio started).

    read() raises, at the point it happens: RequestTooLarge past `max_bytes` (at once when the
    declared length is larger), IncompleteBody when the client goes away or the payload is shorter
    than declared, InvalidRequest for malformed aws-chunked framing, MalformedTrailer, and at the
    end BadDigest when a checksum or Content-MD5 does not match, so a store throws away what it
    wrote; with `signing`, SignatureDoesNotMatch for a chunk whose signature breaks the chain (once
    the chunk has been read) and XAmzContentSHA256Mismatch at the end. Malformed checksum headers
    raise at construction (see PayloadChecksums).
    """

    def __init__(self, receive: Receive, headers: Mapping[str, str], max_bytes: int,
                 signing: PayloadSigning | None = None) -> None:
        self._checks = PayloadChecksums(headers)
        received = _Received(receive)
        chunked = is_aws_chunked(headers)
        chunk_signing = signing.chunks if signing else None
        verifier = ChunkVerifier(chunk_signing) if chunk_signing else None
        self._payload: _Payload = _AwsChunked(received, verifier) if chunked else received
        self._declared_sha256 = signing.sha256 if signing else None
        self._sha256 = hashlib.sha256() if self._declared_sha256 else None
        self._declared = _declared_length(headers, chunked)
        self._max_bytes = max_bytes
        if self._declared is not None and self._declared > max_bytes:
            raise _too_large(max_bytes)
        self._size = 0
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        """`size` bytes (all that is left when negative), fewer only at the end; b"" after it."""
        wanted = size if size >= 0 else sys.maxsize
        pieces: list[bytes] = []
        while wanted > 0 and not self._ended:
            piece = self._payload.take(min(wanted, _PULL_BYTES))
            if not piece:
                self._end()
                break
            self._count(piece)
            pieces.append(piece)
            wanted -= len(piece)
        return b"".join(pieces)

    @property
    def checksums(self) -> dict[str, str]:
        """The flexible checksums computed over the payload ({"ChecksumCRC32": base64}: each one the
        client declared, announced or asked for), once it has been read to its end (when read()
        raised BadDigest too: they say what arrived); empty before."""
        return self._checks.checksums

    def _count(self, piece: bytes) -> None:
        self._size += len(piece)
        if self._size > self._max_bytes:
            raise _too_large(self._max_bytes)
        self._checks.update(piece)
        if self._sha256 is not None:
            self._sha256.update(piece)

    def _end(self) -> None:
        self._ended = True
        if self._declared is not None and self._size != self._declared:
            raise IncompleteBody(_INCOMPLETE)
        if self._sha256 is not None and self._declared_sha256 is not None:
            computed = self._sha256.hexdigest()
            if computed != self._declared_sha256:
                raise content_sha256_mismatch(self._declared_sha256, computed)
        self._checks.verify(self._payload.trailers)


def is_aws_chunked(headers: Mapping[str, str]) -> bool:
    """Whether the body is aws-chunked framed: as Content-Encoding says (alone or with others), or
    as a STREAMING-* x-amz-content-sha256 implies."""
    encodings = (token.strip().lower() for token in headers.get("content-encoding", "").split(","))
    return "aws-chunked" in encodings or headers.get("x-amz-content-sha256", "").startswith("STREAMING-")


def _declared_length(headers: Mapping[str, str], chunked: bool) -> int | None:
    text = headers.get("x-amz-decoded-content-length" if chunked else "content-length", "").strip()
    return int(text) if text.isdigit() else None


def _too_large(max_bytes: int) -> RequestTooLarge:
    return RequestTooLarge(f"Your proposed upload exceeds the maximum allowed size of {max_bytes} bytes")


class _Payload(Protocol):
    @property
    def trailers(self) -> Mapping[str, str]:
        """The trailers that followed the payload, by lower-case name."""

    def take(self, size: int) -> bytes:
        """Up to `size` bytes of payload; b"" at its end."""


class _Received:
    """The raw body, gathered from the event loop in large trips and handed on without copying
    where a piece can be passed on whole."""

    trailers: Mapping[str, str] = {}

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._pieces: deque[bytes] = deque()
        self._buffered = 0
        self._more = True

    def take(self, size: int) -> bytes:
        if not self._pieces and self._more:
            self._fill()
        taken: list[bytes] = []
        wanted = size
        while self._pieces and wanted > 0:
            piece = self._pieces.popleft()
            if len(piece) > wanted:
                self._pieces.appendleft(piece[wanted:])
                piece = piece[:wanted]
            taken.append(piece)
            wanted -= len(piece)
        self._buffered -= size - wanted
        return b"".join(taken)

    def line(self) -> bytes:
        """The bytes up to the next CRLF (consumed with it); raise IncompleteBody at the end of the
        body, InvalidRequest past _MAX_LINE bytes."""
        while True:
            head = self._pieces[0] if self._pieces else b""
            end = head.find(b"\r\n", 0, _MAX_LINE + 2)
            if end >= 0:
                self._pieces.popleft()
                if len(head) > end + 2:
                    self._pieces.appendleft(head[end + 2:])
                self._buffered -= end + 2
                return head[:end]
            if len(head) > _MAX_LINE:
                raise InvalidRequest("An aws-chunked chunk header or trailer line is too long")
            if len(self._pieces) > 1:
                self._pieces.appendleft(self._pieces.popleft() + self._pieces.popleft())
            elif self._more:
                self._fill()
            else:
                raise IncompleteBody(_INCOMPLETE)

    def _fill(self) -> None:
        anyio.from_thread.run(self._pull)

    async def _pull(self) -> None:
        """Receive at least once, then until _PULL_BYTES are buffered or the body ends (in the event
        loop: one trip from the worker thread gathers many messages)."""
        while self._more:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise IncompleteBody(_INCOMPLETE)
            piece = message.get("body", b"")
            if piece:
                self._pieces.append(piece)
                self._buffered += len(piece)
            self._more = message.get("more_body", False)
            if self._buffered >= _PULL_BYTES:
                return


class _AwsChunked:
    """The payload inside aws-chunked framing, and the trailers that follow it; with a verifier, each
    chunk's signature checked once the chunk has been taken, the trailers' once they have come."""

    def __init__(self, source: _Received, verifier: ChunkVerifier | None) -> None:
        self._source = source
        self._verifier = verifier
        self._left = 0  # bytes of the current chunk not yet taken
        self._started = False
        self._ended = False
        self.trailers: dict[str, str] = {}

    def take(self, size: int) -> bytes:
        if self._left == 0 and not self._ended:
            self._next_chunk()
        if self._ended:
            return b""
        piece = self._source.take(min(size, self._left))
        if not piece:
            raise IncompleteBody(_INCOMPLETE)
        self._left -= len(piece)
        if self._verifier is not None:
            self._verifier.update(piece)
        return piece

    def _next_chunk(self) -> None:
        if self._started and self._source.line():
            raise InvalidRequest("An aws-chunked chunk is longer than its header says")
        if self._started and self._verifier is not None:
            self._verifier.end()
        self._started = True
        size_text, _, extensions = self._source.line().partition(b";")
        if not _CHUNK_SIZE.fullmatch(size_text):
            raise InvalidRequest(f"An aws-chunked chunk header has no valid size: {size_text[:40]!r}")
        self._left = int(size_text, 16)
        if self._verifier is not None:
            self._verifier.begin(_chunk_signature(extensions))
        if self._left == 0:
            if self._verifier is not None:
                self._verifier.end()
            self.trailers = self._read_trailers()
            if self._verifier is not None:
                self._verifier.trailers(self.trailers)
            self._ended = True

    def _read_trailers(self) -> dict[str, str]:
        trailers: dict[str, str] = {}
        while line := self._source.line():
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon or len(trailers) == _MAX_TRAILERS:
                raise MalformedTrailer("The request contained trailing data that was not well-formed")
            trailers[name.strip().lower()] = value.strip()
        return trailers


def _chunk_signature(extensions: bytes) -> str | None:
    """The chunk-signature among a chunk header's extensions (`;chunk-signature=<hex>`), if any."""
    for extension in extensions.split(b";"):
        if extension.startswith(_CHUNK_SIGNATURE):
            return extension[len(_CHUNK_SIGNATURE):].decode("latin-1")
    return None
