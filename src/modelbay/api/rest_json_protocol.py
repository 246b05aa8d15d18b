"""The REST-JSON protocol (sagemaker-runtime's InvokeEndpoint and its siblings).

A request names its operation by method and path (`POST /endpoints/{EndpointName}/invocations`,
see `rest`); its input is bound to the URI, the query string and headers, and its payload is the
body as it is (a blob: the model's input) or a JSON document. A response carries the output's
header members as headers and its payload or its other members as JSON. Errors are
`{"__type": <code>, "message": ..., <fields>}` with the code also in `x-amzn-ErrorType` (where
botocore reads it; other clients read `__type`); fields are the error shape's other members, which
botocore reads from the body by name (ModelError's OriginalStatusCode, OriginalMessage, LogStreamArn).
A payload that is an event stream (InvokeEndpointWithResponseStream's Body) is sent as one (see
`event_stream`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from botocore.model import OperationModel, ServiceModel, Shape, StructureShape
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from modelbay.api.calls import checked_input, json_document, no_output, read_body, reading_input, usual_status
from modelbay.api.event_stream import EventStreamResponse
from modelbay.api.jsonvalues import read_json, write_json
from modelbay.api.protocol import Call, Codec, ErrorSpelling
from modelbay.api.rest import (
    Match,
    Routes,
    has_body,
    is_raw,
    payload_member,
    raw_path,
    read_bound,
    read_payload,
    write_bound,
)
from modelbay.api.streaming import payload_response
from modelbay.errors import AwsError, UnknownOperation

_JSON = "application/json"
_MATCH_KEY = "modelbay.rest_json_match"  # where a request's match is kept in its ASGI scope


class RestJsonCodec(Codec):
    """A REST-JSON service as its botocore model says."""

    def __init__(self, service: ServiceModel, spellings: Mapping[str, ErrorSpelling] | None = None,
                 **limits: int) -> None:
        super().__init__(service, spellings, **limits)
        self.routes = Routes(service)

    def matches(self, request: Request) -> bool:
        """A request without X-Amz-Target (which names a JSON-protocol operation) whose method and
        path fit one of this service's operations."""
        return "x-amz-target" not in request.headers and self._match(request) is not None

    async def parse(self, request: Request) -> Call:
        """Raise UnknownOperation, RequestTooLarge, SerializationError and ValidationError."""
        match = self._match(request)
        if match is None:
            raise UnknownOperation(f"No {self.service.service_id} operation is called with "
                                   f"{request.method} {raw_path(request.scope)}")
        shape = match.operation.input_shape
        body = await read_body(request, self.max_body_bytes) if shape is not None and has_body(shape) else b""
        return self.call(match, request.query_params, request.headers, body)

    def call(self, match: Match, query: QueryParams, headers: Headers, body: bytes) -> Call:
        """The call of a request from its parts: the operation its method and path match, its query, its headers
        and its whole body. Raise SerializationError and ValidationError."""
        shape = match.operation.input_shape
        if shape is None:
            return Call(match.operation, {})
        with reading_input(match.operation):
            params = read_bound(shape, match, query, headers)
            if has_body(shape):
                params |= read_payload(shape, body, _read_document)
        return Call(match.operation, checked_input(shape, params))

    def respond(self, operation: OperationModel, output: Mapping[str, Any], status: int | None,
                request_id: str) -> Response:
        headers = {self.request_id_header: request_id}
        shape = operation.output_shape
        if shape is None:
            no_output(operation, output)
            return JSONResponse({}, usual_status(operation, status), headers, media_type=_JSON)
        bound, bound_status = write_bound(shape, output)
        headers |= bound
        status = usual_status(operation, bound_status if status is None else status)
        payload = payload_member(shape)
        if payload is None:
            return JSONResponse(write_json(shape, output), status, headers, media_type=_JSON)
        name, member = payload
        if member.serialization.get("eventstream"):
            return EventStreamResponse(cast(StructureShape, member), output[name], status, headers)
        if is_raw(member):
            return payload_response(output.get(name), status, headers)
        value = output.get(name)
        return JSONResponse({} if value is None else write_json(member, value), status, headers, media_type=_JSON)

    def respond_error(self, error: AwsError, request_id: str) -> Response:
        code, status = self.spell(error)
        body = {"__type": code, "message": error.message, **error.fields}
        headers = {"x-amzn-ErrorType": code, self.request_id_header: request_id}
        return JSONResponse(body, status, headers, media_type=_JSON)

    def _match(self, request: Request) -> Match | None:
        """The request's operation, found once: the router's `matches` and then `parse` both ask."""
        found = request.scope.get(_MATCH_KEY)
        if found is None or found[0] is not self:
            found = (self, self.routes.find(request.method, raw_path(request.scope), request.query_params,
                                            request.headers))
            request.scope[_MATCH_KEY] = found
        match: Match | None = found[1]
        return match


def _read_document(shape: Shape, body: bytes) -> Any:
    return read_json(shape, json_document(body))
