"""The Smithy RPC v2 CBOR protocol (the `protocol` of CloudWatch's model; the SDKs of Go, Java and
others speak it, while botocore 1.44 ranks JSON above it and boto3 speaks JSON 1.0).

A request is `POST /service/<targetPrefix>/operation/<Operation>` with `smithy-protocol:
rpc-v2-cbor`, `Content-Type: application/cbor` and the operation's input shape as one CBOR map
(an input may have no body at all); the response carries the same header and its output shape.
An error is a CBOR map `{"__type": <code>, "message": <text>}` with the error's status. A service
whose model is `awsQueryCompatible` (CloudWatch) words it as query_compatible.py says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cbor2
from botocore.model import OperationModel, ServiceModel
from starlette.requests import Request
from starlette.responses import Response

from modelbay.api.calls import (
    checked_input,
    find_operation,
    media_type,
    no_output,
    read_body,
    reading_input,
    usual_status,
)
from modelbay.api.cborvalues import decode_cbor, read_cbor, write_cbor
from modelbay.api.protocol import Call, Codec, ErrorSpelling
from modelbay.api.query_compatible import QueryCompatibility
from modelbay.errors import AwsError, UnknownOperation, UnsupportedMediaType

CBOR = "application/cbor"
PROTOCOL_HEADER = "smithy-protocol"
PROTOCOL = "rpc-v2-cbor"


class CborCodec(Codec):
    """Smithy RPC v2 CBOR for one service, its paths named by the model's targetPrefix."""

    def __init__(self, service: ServiceModel, spellings: Mapping[str, ErrorSpelling] | None = None,
                 **limits: int) -> None:
        super().__init__(service, spellings, **limits)
        self.path_prefix = f"/service/{service.metadata['targetPrefix']}/operation/"
        self.query_compatibility = QueryCompatibility(service)

    def matches(self, request: Request) -> bool:
        return request.url.path.startswith(self.path_prefix)

    async def parse(self, request: Request) -> Call:
        """Raise UnknownOperation (not POST, a path naming no operation of this service),
        UnsupportedMediaType (no smithy-protocol header, a body that is not application/cbor),
        RequestTooLarge, SerializationError (not one CBOR item, a tag other than 1, wrong types)
        and ValidationError, in that order."""
        operation = self._operation(request)
        with reading_input(operation):
            if request.headers.get(PROTOCOL_HEADER) != PROTOCOL:
                raise UnsupportedMediaType(f"A request to {request.url.path} must say {PROTOCOL_HEADER}: {PROTOCOL}")
            body = await read_body(request, self.max_body_bytes)
            if body and media_type(request) != CBOR:
                shown = request.headers.get("content-type", "")
                raise UnsupportedMediaType(f"Content-Type '{shown}' is not supported; use {CBOR}")
            shape = operation.input_shape
            params = read_cbor(shape, decode_cbor(body)) if shape is not None else {}
            return Call(operation, checked_input(shape, params))

    def respond(self, operation: OperationModel, output: Mapping[str, Any], status: int | None,
                request_id: str) -> Response:
        if operation.output_shape is None:
            no_output(operation, output)
            body: Any = {}
        else:
            body = write_cbor(operation.output_shape, output)
        return self._cbor(body, usual_status(operation, status), {self.request_id_header: request_id})

    def respond_error(self, error: AwsError, request_id: str) -> Response:
        code, status = self.spell(error)
        compatibility = self.query_compatibility
        headers = {self.request_id_header: request_id, **compatibility.headers(code, error)}
        body = {"__type": compatibility.error_type(code), "message": error.message, **error.fields}
        return self._cbor(body, status, headers)

    def _operation(self, request: Request) -> OperationModel:
        path, service_id = request.url.path, self.service.service_id
        if not path.startswith(self.path_prefix):
            raise UnknownOperation(f"The path {path} names no operation of {service_id}; "
                                   f"expected {self.path_prefix}<Operation>")
        if request.method != "POST":
            raise UnknownOperation(f"{service_id} operations are called with POST, not {request.method}")
        return find_operation(self.service, path.removeprefix(self.path_prefix))

    def _cbor(self, body: Any, status: int, headers: dict[str, str]) -> Response:
        return Response(cbor2.dumps(body), status, {PROTOCOL_HEADER: PROTOCOL, **headers}, media_type=CBOR)

