"""AWS's published aws-chunked examples (S3 API reference: "Transferring Payload in Multiple Chunks" and
"Including Trailing Headers"): 65536 and 1024 bytes of "a", then the final empty chunk, each with its signature."""

from __future__ import annotations

from dataclasses import replace

from modelbay.security.chunk_signatures import ChunkSigning
from modelbay.security.sigv4 import signing_key

DOCUMENTED_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOCUMENTED_DATA = (b"a" * 65536, b"a" * 1024, b"")

DOCUMENTED_CHUNKS = ChunkSigning(
    signing_key(DOCUMENTED_SECRET, "20130524", "us-east-1", "s3"), "20130524T000000Z",
    "20130524/us-east-1/s3/aws4_request", "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    "AKIAIOSFODNN7EXAMPLE", signed_trailer=False)
DOCUMENTED_SIGNATURES = ("ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                         "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
                         "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9")

DOCUMENTED_TRAILER_CHUNKS = replace(
    DOCUMENTED_CHUNKS, seed="106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e", signed_trailer=True)
DOCUMENTED_TRAILER_SIGNATURES = ("b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
                                 "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
                                 "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992")
DOCUMENTED_TRAILERS = {"x-amz-checksum-crc32c": "sOO8/Q==",
                       "x-amz-trailer-signature": "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"}


def documented_body(signatures: tuple[str, ...], trailers: dict[str, str] | None = None) -> bytes:
    """The example's aws-chunked body, with `signatures` in its chunk headers."""
    body = b"".join(b"%x;chunk-signature=%s\r\n%s\r\n" % (len(data), signature.encode(), data)
                     for data, signature in zip(DOCUMENTED_DATA, signatures, strict=True))
    body = body[:-2]  # the final chunk's data is empty: its CRLF ends the trailers instead
    return body + b"".join(f"{name}:{value}\r\n".encode() for name, value in (trailers or {}).items()) + b"\r\n"
