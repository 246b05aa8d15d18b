"""The one path every call takes: parse → authenticate → authorize → dispatch, audited.

The codec reads the request into an operation and validated params; the signer's credential
names the principal; the authorizer may refuse; the service function runs in a worker thread
(an `async def` one on the event loop); the codec writes its result or error. Whatever happens,
one audit event records the call and its outcome (unless it is a data event: see
services.base.data_event), with the message a failed call was told, and the response carries the
request id. A call that failed on modelbay's side, or asked for what it does not serve, is also
logged at WARNING with its request id (log_if_unexpected).
"""

from __future__ import annotations

import inspect
import itertools
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from modelbay.api.codec_selector import CodecSelector, UnknownService
from modelbay.api.protocol import Call, Codec
from modelbay.errors import AwsError, InternalFailure, InvalidSignature, NotImplementedYet, UnknownOperation
from modelbay.platform import Platform, Regions, UnknownRegion
from modelbay.security.audit import SUCCESS, AuditEvent, AuditTrail
from modelbay.security.policy import Authorizer
from modelbay.security.principal import Principal
from modelbay.security.sigv4 import Credential, read_credential
from modelbay.services.base import Context, Handler, Reply, is_data_event

log = logging.getLogger(__name__)

_RESOURCE_MEMBERS = ("Bucket", "Key")
# APIs that are one for every region (S3's buckets each record theirs): their calls go to the home region's platform
GLOBAL_SERVICES = frozenset({"iam", "sts", "s3"})
# 4xx a client working as documented does not expect: it called an API or operation modelbay does not serve
_UNEXPECTED_CLIENT_ERRORS = frozenset({UnknownOperation.code, UnknownService.code})


class Pipeline:
    """Handles one HTTP request of any API we serve."""

    def __init__(self, regions: Regions, codecs: CodecSelector, operations: Mapping[str, Mapping[str, Handler]],
                 authorizer: Authorizer, audit: AuditTrail) -> None:
        self.regions = regions
        self.codecs = codecs
        self.operations = operations
        self.authorizer = authorizer
        self.audit = audit

    async def handle(self, request: Request) -> Response:
        request_id = next_request_id()
        try:
            credential = read_credential(request.headers, request.query_params)
            codec = self.codecs.select(request, credential)
        except AwsError as error:  # no API to answer in: the JSON error shape is the most common one
            log_if_unexpected(request_id, "", error, error.code, error.status)
            self._record(request, request_id, None, "", None, None, error, error.status)
            return _plain_error(error, request_id)
        call: Call | None = None
        operation, failure = "", None
        try:
            call = await codec.parse(request)
            operation = call.operation.name
            response = await self._dispatch(codec, call, credential, request_id)
        except Exception as raised:
            failure = raised if isinstance(raised, AwsError) else _internal_failure(request_id)
            operation = operation or failure.operation or ""
            response = codec.respond_error(failure, request_id)
            log_if_unexpected(request_id, operation, failure, codec.spell(failure)[0], response.status_code)
        if call is None or not is_data_event(self.operations[codec.service.service_name].get(operation)):
            self._record(request, request_id, codec, operation, call, credential, failure, response.status_code)
        return response

    async def _dispatch(self, codec: Codec, call: Call, credential: Credential | None, request_id: str) -> Response:
        service, name = codec.service.service_name, call.operation.name
        principal = self._authenticate(credential)
        self.authorizer.authorize(principal, service, name, resource_names(call.params))
        handler = self.operations[service].get(name)
        if handler is None:
            raise NotImplementedYet(f"{codec.service.service_id} operation {name} is not implemented by modelbay yet.")
        region = self._region(credential)
        ctx = Context(await self._platform(service, region), request_id, region, principal)
        if inspect.iscoroutinefunction(handler):
            result = await handler(ctx, call.params)
        else:
            result = await anyio.to_thread.run_sync(handler, ctx, call.params)
        if isinstance(result, Reply):
            return codec.respond(call.operation, result.output, result.status, request_id)
        return codec.respond(call.operation, result, None, request_id)

    def _region(self, credential: Credential | None) -> str:
        """The region of the signature's credential scope; the home region's for an unsigned call."""
        return credential.region if credential and credential.region else self.regions.home.settings.region

    async def _platform(self, service: str, region: str) -> Platform:
        """The platform that serves `service` in `region` (opening the region, in a worker thread, on its first
        call); raise InvalidSignature for a region AWS does not have, as AWS refuses such a credential scope."""
        if service in GLOBAL_SERVICES:
            return self.regions.home
        found = self.regions.find(region)
        if found is not None:
            return found
        try:
            return await anyio.to_thread.run_sync(self.regions.get, region)
        except UnknownRegion:
            raise InvalidSignature(f"Credential should be scoped to a valid region, not '{region}'.") from None

    def _authenticate(self, credential: Credential | None) -> Principal:
        """Who signed (verification of the signature itself comes with the security work)."""
        account = self.regions.home.settings.account_id
        return Principal(credential.access_key_id if credential else None, account)

    def _record(self, request: Request, request_id: str, codec: Codec | None, operation: str, call: Call | None,
                credential: Credential | None, failure: AwsError | None, status: int) -> None:
        """Record the call; a failed one with the code and message the caller was told."""
        self.audit.record(AuditEvent(
            event_time=datetime.now(UTC),
            request_id=request_id,
            principal=self._authenticate(credential).arn,
            service=codec.service.service_name if codec else "",
            operation=operation,
            resources=tuple(resource_names(call.params)) if call else (),
            outcome=SUCCESS if failure is None else (codec.spell(failure)[0] if codec else failure.code),
            status_code=status,
            source_ip=request.client.host if request.client else None,
            error_message=None if failure is None else failure.message,
            region=self._region(credential),
        ))


_REQUEST_IDS = itertools.count()
_REQUEST_ID_PREFIX = str(uuid.uuid4())[:24]  # this process's; the rest counts, so ids stay unique and cheap


def next_request_id() -> str:
    """A UUID-shaped request id, as AWS gives them, unique within and across server processes."""
    return f"{_REQUEST_ID_PREFIX}{next(_REQUEST_IDS):012x}"


def resource_names(params: Mapping[str, Any]) -> list[str]:
    """The names and ARNs a call is about, for authorization and the audit trail."""
    return [value for key, value in params.items()
            if isinstance(value, str) and (key.endswith(("Name", "Arn")) or key in _RESOURCE_MEMBERS)]


def log_if_unexpected(request_id: str, operation: str, error: AwsError, code: str, status: int) -> None:
    """Log a call that failed on modelbay's side (5xx, NotImplemented among them) or asked for what it does not
    serve, so the server's log shows it; the ordinary 4xx of a client's own mistakes are left to the audit trail."""
    if status >= 500 or error.code in _UNEXPECTED_CLIENT_ERRORS:
        log.warning("request %s: %s answered %d %s: %s", request_id, operation or "a request for no known operation",
                    status, code, error.message)


def _internal_failure(request_id: str) -> InternalFailure:
    """A bug: logged with its traceback and request id, answered without either."""
    log.exception("request %s failed", request_id)
    return InternalFailure("We encountered an internal error. Please try again.")


def _plain_error(error: AwsError, request_id: str) -> Response:
    headers = {"x-amzn-ErrorType": error.code, "x-amzn-RequestId": request_id}
    return JSONResponse({"__type": error.code, "message": error.message}, error.status, headers,
                        media_type="application/x-amz-json-1.1")
