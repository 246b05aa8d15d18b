"""The Codec interface: one per AWS protocol, built from one botocore service model.

A codec turns an HTTP request into a validated Call (operation + params as Python values:
str, int, float, bool, bytes, datetime, dict, list; a streaming blob payload as a readable
binary stream) and turns a service's result dict or an AwsError back into the protocol's
HTTP response. It never calls a service: the pipeline does that.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.model import OperationModel, ServiceModel
from starlette.requests import Request
from starlette.responses import Response

from modelbay.errors import AwsError


@dataclass(frozen=True)
class Call:
    operation: OperationModel
    params: dict[str, Any]


@dataclass(frozen=True)
class ErrorSpelling:
    """How one service spells a generic error: its code and, when it differs, its status."""

    code: str
    status: int | None = None


class Codec(abc.ABC):
    """Reads requests and writes responses of one service, as its botocore model says."""

    #: Response header that carries the request id (S3 uses its own).
    request_id_header = "x-amzn-RequestId"

    def __init__(self, service: ServiceModel, spellings: Mapping[str, ErrorSpelling] | None = None,
                 max_body_bytes: int = 16 * 1024 * 1024, max_stream_bytes: int = 5 * 1024**3) -> None:
        self.service = service
        self.spellings = dict(spellings or {})
        self.max_body_bytes = max_body_bytes  # a larger non-streaming body: RequestTooLarge
        self.max_stream_bytes = max_stream_bytes  # a larger streaming payload: RequestTooLarge

    @abc.abstractmethod
    def matches(self, request: Request) -> bool:
        """Whether this request is for this codec's service (used when two services share a
        signing name, as sagemaker and sagemaker-runtime do, and for unsigned requests)."""

    @abc.abstractmethod
    async def parse(self, request: Request) -> Call:
        """Find the operation and read its input; raise UnknownOperation, SerializationError,
        ValidationError (every problem counted in one message), UnsupportedMediaType,
        RequestTooLarge."""

    @abc.abstractmethod
    def respond(self, operation: OperationModel, output: Mapping[str, Any], status: int | None,
                request_id: str) -> Response:
        """Serialize an output dict (members of the output shape; a streaming payload may be
        a readable binary stream or an iterable of bytes, closed once sent). A key that is not
        a member of the output shape is a bug and raises. status None: the operation's usual
        status (its model's responseCode, else 200)."""

    @abc.abstractmethod
    def respond_error(self, error: AwsError, request_id: str) -> Response:
        """Render an error as the protocol does, spelled as this service spells it."""

    def spell(self, error: AwsError) -> tuple[str, int]:
        """The code and status this service gives an error."""
        spelling = self.spellings.get(error.code)
        if spelling is None:
            return error.code, error.status
        return spelling.code, spelling.status or error.status
