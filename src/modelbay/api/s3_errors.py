"""S3's errors about a request's body, raised by the API layer while it reads one (aws-chunked
framing, Content-MD5 and x-amz-checksum-* values); S3 has no other spelling for them."""

from __future__ import annotations

from modelbay.errors import AwsError


class BadDigest(AwsError):
    """The payload does not match the Content-MD5 or x-amz-checksum-* value the client declared."""

    code = "BadDigest"


class InvalidDigest(AwsError):
    """A Content-MD5 header that is not the base64 of 16 bytes."""

    code = "InvalidDigest"


class IncompleteBody(AwsError):
    """The client stopped sending before the end of the payload it announced."""

    code = "IncompleteBody"


class MalformedTrailer(AwsError):
    """An aws-chunked trailer that is not `name:value`, or a checksum trailer that was not announced
    in x-amz-trailer (or was announced and did not come)."""

    code = "MalformedTrailerError"


class InvalidRequest(AwsError):
    """A request S3 refuses as a whole: malformed aws-chunked framing, an invalid checksum header."""

    code = "InvalidRequest"
