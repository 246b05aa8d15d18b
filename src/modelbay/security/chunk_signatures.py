"""The signatures of an aws-chunked payload (S3's STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]).

Each chunk's header carries its signature, chained from the request's own (the seed):

    HMAC(signing key, "AWS4-HMAC-SHA256-PAYLOAD\\n" + X-Amz-Date + "\\n" + scope + "\\n" + previous signature + "\\n"
         + hex(SHA-256("")) + "\\n" + hex(SHA-256(chunk data)))

so a chunk changed, dropped, replayed or moved breaks the chain at that chunk. The final, empty chunk is signed
too; in the trailer variant the trailers that follow it are signed as one more link:

    HMAC(signing key, "AWS4-HMAC-SHA256-TRAILER\\n" + X-Amz-Date + "\\n" + scope + "\\n" + final chunk's signature
         + "\\n" + hex(SHA-256("name:value\\n" for each trailer, by name)))
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from modelbay.security.signature_errors import S3, signature_mismatch

_PAYLOAD = "AWS4-HMAC-SHA256-PAYLOAD"
_TRAILER = "AWS4-HMAC-SHA256-TRAILER"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
TRAILER_SIGNATURE = "x-amz-trailer-signature"


@dataclass(frozen=True)
class ChunkSigning:
    """What the chunks of a request signed with a STREAMING-AWS4-HMAC-SHA256-PAYLOAD* body chain from."""

    signing_key: bytes = field(repr=False)
    timestamp: str  # X-Amz-Date, as signed
    scope: str  # <date>/<region>/<service>/aws4_request
    seed: str  # the request's own signature
    access_key_id: str
    signed_trailer: bool  # STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: the trailers are signed too


class ChunkVerifier:
    """Checks the chunks of one payload in order, as they stream: begin(signature) at a chunk's header, update()
    with its data, end() once it is complete, then trailers() after the final chunk. end() and trailers() raise
    S3's SignatureDoesNotMatch for a signature that breaks the chain (or is missing)."""

    def __init__(self, signing: ChunkSigning) -> None:
        self._signing = signing
        self._previous = signing.seed
        self._provided = ""
        self._digest = hashlib.sha256()

    def begin(self, signature: str | None) -> None:
        """A chunk starts; `signature` is its header's chunk-signature (None when the header has none)."""
        self._provided = signature or ""
        self._digest = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._digest.update(data)

    def end(self) -> None:
        """The chunk begun last is complete: check its signature, which the next chunk chains from."""
        self._previous = self._check(_PAYLOAD, f"{_EMPTY_SHA256}\n{self._digest.hexdigest()}", self._provided)

    def trailers(self, trailers: Mapping[str, str]) -> None:
        """The trailers (lower-case names, x-amz-trailer-signature among them) that followed the final chunk."""
        if not self._signing.signed_trailer:
            return
        signed = "".join(f"{name}:{value}\n" for name, value in sorted(trailers.items()) if name != TRAILER_SIGNATURE)
        self._check(_TRAILER, hashlib.sha256(signed.encode()).hexdigest(), trailers.get(TRAILER_SIGNATURE, ""))

    def _check(self, algorithm: str, hashes: str, provided: str) -> str:
        signing = self._signing
        string_to_sign = f"{algorithm}\n{signing.timestamp}\n{signing.scope}\n{self._previous}\n{hashes}"
        expected = hmac.new(signing.signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), provided.encode()):
            raise signature_mismatch(S3, signing.access_key_id, string_to_sign, provided)
        return expected
