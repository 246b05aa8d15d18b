"""The AWS JSON 1.0 / 1.1 protocol (SageMaker, CloudWatch Logs, KMS, Application Auto Scaling).

A request is `POST /` with `X-Amz-Target: <targetPrefix>.<Operation>` and a JSON body holding
the operation's input shape; the response body holds its output shape. Errors are
`{"__type": <code>, "message": <text>}` with the code also in `x-amzn-ErrorType` (for a query-compatible
service, CloudWatch, as query_compatible.py says).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from botocore.model import OperationModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from modelbay.api.calls import (
    checked_input,
    find_operation,
    json_document,
    media_type,
    no_output,
    read_body,
    reading_input,
    usual_status,
)
from modelbay.api.jsonvalues import read_json, write_json
from modelbay.api.protocol import Call, Codec
from modelbay.api.query_compatible import QueryCompatibility
from modelbay.errors import AwsError, UnknownOperation, UnsupportedMediaType

_PLAIN_JSON = "application/json"


class JsonCodec(Codec):
    """AWS JSON 1.0 and 1.1, as the service model's jsonVersion and targetPrefix say."""

    @property
    def media_type(self) -> str:
        """The protocol's own Content-Type (requests may also say application/json)."""
        return f"application/x-amz-json-{self.service.metadata.get('jsonVersion', '1.0')}"

    @functools.cached_property
    def query_compatibility(self) -> QueryCompatibility:
        return QueryCompatibility(self.service)

    @property
    def target_prefix(self) -> str:
        return f"{self.service.metadata['targetPrefix']}."

    def matches(self, request: Request) -> bool:
        return request.headers.get("x-amz-target", "").startswith(self.target_prefix)

    async def parse(self, request: Request) -> Call:
        """Raise UnknownOperation (not POST, or a target naming no operation of this service),
        UnsupportedMediaType, RequestTooLarge, SerializationError (not JSON, or wrong types) and
        ValidationError, in that order."""
        operation = self._operation(request)
        with reading_input(operation):
            if media_type(request) not in (self.media_type, _PLAIN_JSON):
                shown = request.headers.get("content-type", "")
                raise UnsupportedMediaType(f"Content-Type '{shown}' is not supported; use {self.media_type}")
            document = json_document(await read_body(request, self.max_body_bytes))
            params = read_json(operation.input_shape, document) if operation.input_shape is not None else {}
            return Call(operation, checked_input(operation.input_shape, params))

    def respond(self, operation: OperationModel, output: Mapping[str, Any], status: int | None,
                request_id: str) -> Response:
        if operation.output_shape is None:
            no_output(operation, output)
            body: Any = {}
        else:
            body = write_json(operation.output_shape, output)
        return self._json(body, usual_status(operation, status), {self.request_id_header: request_id})

    def respond_error(self, error: AwsError, request_id: str) -> Response:
        code, status = self.spell(error)
        compatibility = self.query_compatibility
        body = {"__type": compatibility.error_type(code), "message": error.message, **error.fields}
        return self._json(body, status, {"x-amzn-ErrorType": code, self.request_id_header: request_id,
                                         **compatibility.headers(code, error)})

    def _operation(self, request: Request) -> OperationModel:
        target = request.headers.get("x-amz-target", "")
        service_id = self.service.service_id
        if not target.startswith(self.target_prefix):
            named = f"Operation {target}" if target else "A request without an X-Amz-Target header"
            raise UnknownOperation(f"{named} is not supported by {service_id}; "
                                   f"expected X-Amz-Target: {self.target_prefix}<Operation>")
        if request.method != "POST":
            raise UnknownOperation(f"{service_id} operations are called with POST, not {request.method}")
        return find_operation(self.service, target.removeprefix(self.target_prefix))

    def _json(self, body: Any, status: int, headers: dict[str, str]) -> Response:
        return JSONResponse(body, status, headers, media_type=self.media_type)
