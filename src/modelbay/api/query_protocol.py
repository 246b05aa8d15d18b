"""The AWS query protocol (STS, and IAM later).

A request names its operation with `Action=<Operation>&Version=<apiVersion>` and flattens the
input into form parameters (see `queryvalues`), in an `application/x-www-form-urlencoded` POST
body or in the query string. The response is XML: `<{Op}Response xmlns=...>` holding the
output in the result wrapper the model names and `<ResponseMetadata><RequestId>`; an error is
`<ErrorResponse><Error><Type>Sender|Receiver</Type><Code/><Message/></Error><RequestId/>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl
from xml.etree.ElementTree import Element, SubElement

from botocore.model import OperationModel
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
from modelbay.api.protocol import Call, Codec
from modelbay.api.queryvalues import read_query
from modelbay.api.xmlvalues import write_xml, xml_bytes
from modelbay.errors import AwsError, SerializationError, UnknownOperation, UnsupportedMediaType

FORM = "application/x-www-form-urlencoded"
_XML = "text/xml"


class QueryCodec(Codec):
    """The query protocol of one service, as its model's apiVersion and xmlNamespace say."""

    def matches(self, request: Request) -> bool:
        """An Action in the query string naming one of this service's operations, or a form POST
        to `/` without one (its body, read only by parse, names the operation)."""
        action = request.query_params.get("Action")
        if action is not None:
            return action in self.service.operation_names
        return request.method == "POST" and request.url.path == "/" and media_type(request) == FORM

    async def parse(self, request: Request) -> Call:
        """Raise UnsupportedMediaType (a body that is not a form), RequestTooLarge,
        SerializationError (not UTF-8, or wrong types), UnknownOperation (no Action, an Action
        or Version this service does not have) and ValidationError, in that order."""
        params = list(request.query_params.multi_items())
        if request.method == "POST":
            params += await self._form(request)
        fields = dict(params)
        operation = self._operation(fields.get("Action"), fields.get("Version"))
        shape = operation.input_shape
        with reading_input(operation):
            return Call(operation, checked_input(shape, read_query(shape, params) if shape is not None else {}))

    def respond(self, operation: OperationModel, output: Mapping[str, Any], status: int | None,
                request_id: str) -> Response:
        root = self._root(f"{operation.name}Response")
        shape = operation.output_shape
        if shape is None:
            no_output(operation, output)
        else:
            write_xml(root, shape.serialization.get("resultWrapper", f"{operation.name}Result"), shape, output)
        SubElement(SubElement(root, "ResponseMetadata"), "RequestId").text = request_id
        return self._xml(root, usual_status(operation, status), request_id)

    def respond_error(self, error: AwsError, request_id: str) -> Response:
        code, status = self.spell(error)
        root = self._root("ErrorResponse")
        details = SubElement(root, "Error")
        fields = {"Type": "Sender" if error.sender_fault else "Receiver", "Code": code, "Message": error.message,
                  **error.fields}
        for name, value in fields.items():
            SubElement(details, name).text = str(value)
        SubElement(root, "RequestId").text = request_id
        return self._xml(root, status, request_id)

    async def _form(self, request: Request) -> list[tuple[str, str]]:
        kind = media_type(request)
        if kind not in (FORM, ""):
            raise UnsupportedMediaType(f"Content-Type '{request.headers['content-type']}' is not supported; "
                                       f"use {FORM}")
        body = await read_body(request, self.max_body_bytes)
        try:
            return parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError) as error:
            raise SerializationError(f"The request body is not a valid form: {error}") from None

    def _operation(self, action: str | None, version: str | None) -> OperationModel:
        service_id, api_version = self.service.service_id, self.service.api_version
        if not action:
            raise UnknownOperation(f"The request has no Action; {service_id} expects Action=<Operation>")
        if version is not None and version != api_version:
            raise UnknownOperation(f"Operation {action} of version {version} is not supported by {service_id}, "
                                   f"which serves version {api_version}")
        return find_operation(self.service, action)

    def _root(self, name: str) -> Element:
        root = Element(name)
        namespace = self.service.metadata.get("xmlNamespace")
        if namespace:
            root.set("xmlns", namespace)
        return root

    def _xml(self, root: Element, status: int, request_id: str) -> Response:
        return Response(xml_bytes(root), status, {self.request_id_header: request_id}, media_type=_XML)
