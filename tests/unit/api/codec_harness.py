"""A codec in a tiny Starlette app (parse → a fake handler → respond / respond_error), driven
through httpx as any client would, or with botocore's own serializer and parser as boto3 does."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import botocore.session
import httpx
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelbay.api.protocol import Call, Codec
from modelbay.errors import AwsError

REQUEST_ID = "11111111-2222-3333-4444-555555555555"
URL = "http://modelbay"

Handler = Callable[[Call], Mapping[str, Any]]


def service_model(name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


class FakeService:
    """Records every call it gets and answers with a fixed output per operation."""

    def __init__(self, outputs: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.outputs = dict(outputs or {})
        self.calls: list[Call] = []

    def __call__(self, call: Call) -> Mapping[str, Any]:
        self.calls.append(call)
        return self.outputs.get(call.operation.name, {})


def codec_app(codec: Codec, handler: Handler) -> Starlette:
    async def endpoint(request: Request) -> Response:
        try:
            call = await codec.parse(request)
            return codec.respond(call.operation, handler(call), None, REQUEST_ID)
        except AwsError as error:
            return codec.respond_error(error, REQUEST_ID)

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])


def http_client(codec: Codec, handler: Handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=codec_app(codec, handler)), base_url=URL)


async def botocore_call(http: httpx.AsyncClient, model: ServiceModel, operation: str,
                        params: Mapping[str, Any]) -> dict[str, Any]:
    """Serialize `params` as botocore does, send them, and parse the answer as botocore does
    (not validating them first, so the server sees what a careless client sends; an error
    answer parses to {"Error": {"Code", "Message", ...}, ...})."""
    operation_model = model.operation_model(operation)
    serializer = create_serializer(model.protocol, include_validation=False)
    request = serializer.serialize_to_request(dict(params), operation_model)
    prepare_request_dict(request, endpoint_url=URL)
    prepared = create_request_object(request).prepare()
    response = await http.request(prepared.method, prepared.url, headers=dict(prepared.headers.items()),
                                  content=prepared.body)
    parsed: dict[str, Any] = create_parser(model.protocol).parse(
        {"body": response.content, "headers": {k.lower(): v for k, v in response.headers.items()},
         "status_code": response.status_code},
        operation_model.output_shape)
    return parsed
