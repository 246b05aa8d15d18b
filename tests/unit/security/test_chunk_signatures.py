"""ChunkVerifier against AWS's published chunk and trailer signatures; any chunk changed, missing, replayed or moved
breaks the chain at that chunk."""

from __future__ import annotations

import pytest

from modelbay.errors import AwsError
from modelbay.security.chunk_signatures import ChunkSigning, ChunkVerifier
from tests.unit.security.documented_chunks import (
    DOCUMENTED_CHUNKS,
    DOCUMENTED_DATA,
    DOCUMENTED_SIGNATURES,
    DOCUMENTED_TRAILER_CHUNKS,
    DOCUMENTED_TRAILER_SIGNATURES,
    DOCUMENTED_TRAILERS,
)


def feed(verifier: ChunkVerifier, chunks: list[tuple[bytes, str | None]]) -> None:
    """Each chunk as a stream delivers it: its header, its data in two pieces, its end."""
    for data, signature in chunks:
        verifier.begin(signature)
        verifier.update(data[:100])
        verifier.update(data[100:])
        verifier.end()


def documented(signatures: tuple[str, ...]) -> list[tuple[bytes, str | None]]:
    return list(zip(DOCUMENTED_DATA, signatures, strict=True))


def test_the_documented_chunks_are_accepted() -> None:
    verifier = ChunkVerifier(DOCUMENTED_CHUNKS)
    feed(verifier, documented(DOCUMENTED_SIGNATURES))
    verifier.trailers({})


def test_the_documented_trailer_is_accepted_and_a_changed_one_refused() -> None:
    verifier = ChunkVerifier(DOCUMENTED_TRAILER_CHUNKS)
    feed(verifier, documented(DOCUMENTED_TRAILER_SIGNATURES))
    verifier.trailers(DOCUMENTED_TRAILERS)
    with pytest.raises(AwsError) as caught:
        verifier.trailers({**DOCUMENTED_TRAILERS, "x-amz-checksum-crc32c": "AAAAAA=="})
    assert (caught.value.code, caught.value.status) == ("SignatureDoesNotMatch", 403)
    assert caught.value.fields["StringToSign"].startswith("AWS4-HMAC-SHA256-TRAILER\n20130524T000000Z\n")


def test_a_missing_trailer_signature_is_refused() -> None:
    verifier = ChunkVerifier(DOCUMENTED_TRAILER_CHUNKS)
    feed(verifier, documented(DOCUMENTED_TRAILER_SIGNATURES))
    with pytest.raises(AwsError, match="signature we calculated"):
        verifier.trailers({"x-amz-checksum-crc32c": "sOO8/Q=="})


def test_trailers_of_a_payload_whose_trailer_is_unsigned_are_not_checked() -> None:
    verifier = ChunkVerifier(DOCUMENTED_CHUNKS)
    feed(verifier, documented(DOCUMENTED_SIGNATURES))
    verifier.trailers({"x-amz-checksum-crc32c": "anything"})


def refused_at(signing: ChunkSigning, chunks: list[tuple[bytes, str | None]]) -> int:
    """The index of the chunk the verifier refuses."""
    verifier = ChunkVerifier(signing)
    for index, chunk in enumerate(chunks):
        try:
            feed(verifier, [chunk])
        except AwsError as error:
            assert (error.code, error.status) == ("SignatureDoesNotMatch", 403)
            assert error.fields["AWSAccessKeyId"] == signing.access_key_id
            assert error.fields["SignatureProvided"] == (chunk[1] or "")
            return index
    raise AssertionError("every chunk was accepted")


@pytest.mark.parametrize(("chunks", "at"), [
    ([(b"b" + b"a" * 65535, DOCUMENTED_SIGNATURES[0])], 0),  # its data changed
    (documented(DOCUMENTED_SIGNATURES)[:1] + [(b"a" * 1024, "0" * 64)], 1),  # a forged signature
    (documented(DOCUMENTED_SIGNATURES)[:1] + [(b"a" * 1024, None)], 1),  # no signature
    (documented(DOCUMENTED_SIGNATURES)[:1] * 2, 1),  # the first chunk replayed
    ([documented(DOCUMENTED_SIGNATURES)[1], documented(DOCUMENTED_SIGNATURES)[0]], 0),  # chunks swapped
    (documented(DOCUMENTED_SIGNATURES)[:1] + [documented(DOCUMENTED_SIGNATURES)[2]], 1),  # a chunk dropped
    (documented(DOCUMENTED_SIGNATURES)[:2] + [(b"", DOCUMENTED_TRAILER_SIGNATURES[2])], 2),  # another upload's end
])
def test_a_broken_chain_is_refused_at_the_chunk_that_breaks_it(chunks: list[tuple[bytes, str | None]],
                                                                at: int) -> None:
    assert refused_at(DOCUMENTED_CHUNKS, chunks) == at


def test_a_chunk_signed_with_another_key_is_refused() -> None:
    other = ChunkSigning(b"k" * 32, DOCUMENTED_CHUNKS.timestamp, DOCUMENTED_CHUNKS.scope, DOCUMENTED_CHUNKS.seed,
                         DOCUMENTED_CHUNKS.access_key_id, signed_trailer=False)
    assert refused_at(other, documented(DOCUMENTED_SIGNATURES)) == 0


def test_the_signing_key_stays_out_of_the_repr() -> None:
    assert repr(DOCUMENTED_CHUNKS.signing_key) not in repr(DOCUMENTED_CHUNKS)
