"""S3's REST-XML protocol.

A request names its operation by method, path and query (see `rest`), path-style
(`/{Bucket}/{Key}`) or virtual-hosted-style (Host `<bucket>.<base host>`, rewritten to path-style
first). Its input is bound to the URI, the query string and headers; its payload is the object
itself (a streaming `Body`: a RequestStream the service reads) or an XML document. A response
carries the output's header members as headers and its payload (the object, streamed) or its
other members as an XML document. Errors are `<Error><Code/><Message/>...<RequestId/><HostId/>`.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import quote
from xml.etree.ElementTree import Element, SubElement

import anyio.to_thread
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from modelbay.api.body import RequestStream
from modelbay.api.calls import checked_input, no_output, reading_input, usual_status
from modelbay.api.members import body_members, wire_name
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
from modelbay.api.scalars import write_text
from modelbay.api.signatures import payload_signing
from modelbay.api.streaming import payload_response
from modelbay.api.xmlvalues import parse_xml, read_xml, xml_bytes, xml_document
from modelbay.errors import AwsError, UnknownOperation

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
_XML = "application/xml"
_DEFAULT_HOSTS = ("localhost",)
# Root elements of output documents that are not `<output shape name without Output>Result`
# (botocore's model does not carry them; S3's clients other than botocore check them).
_ROOTS = {
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "ListBuckets": "ListAllMyBucketsResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "DeleteObjects": "DeleteResult",
    "ListParts": "ListPartsResult",
    "ListMultipartUploads": "ListMultipartUploadsResult",
}
# Outputs whose one body member is the document's root element itself.
_MEMBER_ROOTS = {"GetBucketLocation": "LocationConstraint"}


class RestXmlCodec(Codec):
    """S3 as botocore's model says; `virtual_hosts` are the host names (besides localhost) under
    which `<bucket>.<host>` addresses a bucket."""

    request_id_header = "x-amz-request-id"

    def __init__(self, service: ServiceModel, spellings: Mapping[str, ErrorSpelling] | None = None, *,
                 virtual_hosts: Collection[str] = (), **limits: int) -> None:
        super().__init__(service, spellings, **limits)
        self.routes = Routes(service)
        # longest first: with s3.localhost served too, bkt.s3.localhost is bucket bkt, not bkt.s3
        self.base_hosts = sorted({*_DEFAULT_HOSTS, *(host.lower() for host in virtual_hosts)}, key=len, reverse=True)

    def matches(self, request: Request) -> bool:
        return self._match(request) is not None

    async def parse(self, request: Request) -> Call:
        """Raise UnknownOperation, SerializationError, ValidationError, RequestTooLarge and the body
        errors of RequestStream (for a payload read whole: at once; for a streaming Body: as the
        service reads it)."""
        match = self._match(request)
        if match is None:
            raise UnknownOperation(f"The specified method is not allowed against this resource: "
                                   f"{request.method} {raw_path(request.scope)}")
        shape = match.operation.input_shape
        if shape is None:
            return Call(match.operation, {})
        with reading_input(match.operation):
            params = read_bound(shape, match, request.query_params, request.headers)
            params |= await self._payload(request, shape)
        return Call(match.operation, checked_input(shape, params))

    def respond(self, operation: OperationModel, output: Mapping[str, Any], status: int | None,
                request_id: str) -> Response:
        headers = self._ids(request_id)
        shape = operation.output_shape
        if shape is None:
            no_output(operation, output)
            return _S3Response(b"", usual_status(operation, status), headers)
        bound, bound_status = write_bound(shape, output)
        headers |= bound
        status = usual_status(operation, bound_status if status is None else status)
        payload = payload_member(shape)
        if payload is not None and is_raw(payload[1]):
            return payload_response(output.get(payload[0]), status, headers)
        body = self._document(operation, shape, output)
        return _S3Response(body, status, headers, media_type=_XML if body else None)

    def respond_error(self, error: AwsError, request_id: str) -> Response:
        code, status = self.spell(error)
        root = Element("Error")
        details = {"Code": code, "Message": error.message, **error.fields, "RequestId": request_id,
                   "HostId": _host_id(request_id)}
        for name, value in details.items():
            SubElement(root, name).text = str(value)
        return _S3Response(xml_bytes(root), status, self._ids(request_id), media_type=_XML)

    def _match(self, request: Request) -> Match | None:
        return self.routes.find(request.method, self._path(request), request.query_params, request.headers)

    def _path(self, request: Request) -> str:
        """The request's path, path-style: a virtual-hosted bucket is moved from Host into it."""
        path = raw_path(request.scope)
        bucket = self._host_bucket(request.headers.get("host", "").lower())
        return path if bucket is None else f"/{quote(bucket, safe='')}{path}"

    def _host_bucket(self, host: str) -> str | None:
        """The bucket of a `<bucket>.<base host>[:port]` Host, or None (an IP address never names one)."""
        if host.startswith("["):  # an IPv6 address
            return None
        name = host.rpartition(":")[0] if ":" in host else host
        if _is_ip_address(name):
            return None
        for base in self.base_hosts:
            if name.endswith("." + base) and len(name) > len(base) + 1:
                return name[:-len(base) - 1]
        return None

    async def _payload(self, request: Request, shape: StructureShape) -> dict[str, Any]:
        """The members the body holds: a streaming payload as a RequestStream the service reads,
        anything else read whole (checked like any payload), as bytes, text or XML."""
        if not has_body(shape):
            return {}
        payload = payload_member(shape)
        if payload is not None and payload[1].serialization.get("streaming"):
            return {payload[0]: RequestStream(request.receive, request.headers, self.max_stream_bytes,
                                              payload_signing(request))}
        stream = RequestStream(request.receive, request.headers, self.max_body_bytes, payload_signing(request))
        body = await anyio.to_thread.run_sync(stream.read)
        return read_payload(shape, body, _read_document)

    def _document(self, operation: OperationModel, shape: StructureShape, output: Mapping[str, Any]) -> bytes:
        """The XML body of an output: its structure payload, else its body members; b"" when it
        has neither."""
        payload = payload_member(shape)
        if payload is not None:
            name, member = payload
            value = output.get(name)
            return b"" if value is None else xml_document(wire_name(member, name), member, value, S3_NAMESPACE)
        if operation.name in _MEMBER_ROOTS:
            return _member_root(_MEMBER_ROOTS[operation.name], shape, output)
        if not body_members(shape):
            return b""
        root = _ROOTS.get(operation.name) or shape.name.removesuffix("Output") + "Result"
        return xml_document(root, shape, output, S3_NAMESPACE)

    def _ids(self, request_id: str) -> dict[str, str]:
        return {self.request_id_header: request_id, "x-amz-id-2": _host_id(request_id)}


class _S3Response(Response):
    """A response that sends no body to a HEAD request (its headers still say what GET would send)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "HEAD":
            await super().__call__(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": b""})


def _read_document(shape: Shape, body: bytes) -> Any:
    return read_xml(shape, parse_xml(body))


def _member_root(name: str, shape: StructureShape, output: Mapping[str, Any]) -> bytes:
    root = Element(name, xmlns=S3_NAMESPACE)
    value = output.get(name)
    if value is not None:
        root.text = write_text(shape.members[name], value)
    return xml_bytes(root)


def _host_id(request_id: str) -> str:
    """S3's x-amz-id-2 / HostId: an opaque token, here derived from the request id."""
    return base64.b64encode(hashlib.sha256(request_id.encode()).digest()).decode("ascii")


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
