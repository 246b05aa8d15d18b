"""The one path every call takes: authenticate → parse → authorize → dispatch, audited.

The signer's credential names the principal, whose secret the signature is verified with
(security/authentication.py; in `open` mode any key is the root and nothing is verified); the
codec reads the request into an operation and validated params; the authorizer may refuse
(security/authorization.py); the service function runs in a worker thread
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

from modelbay.api.audit_records import audit_event
from modelbay.api.authentication import anonymous, authenticate
from modelbay.api.codec_selector import CodecSelector, UnknownService
from modelbay.api.protocol import Call, Codec
from modelbay.api.requests import api_request
from modelbay.errors import AwsError, InternalFailure, InvalidSignature, NotImplementedYet, UnknownOperation
from modelbay.platform import Platform, Regions, UnknownRegion
from modelbay.security.audit import AuditTrail
from modelbay.security.authentication import Authenticator, Identity
from modelbay.security.authorization import Authorizer
from modelbay.security.principal import Principal
from modelbay.security.sigv4 import Credential, read_credential
from modelbay.services.base import Context, Handler, Reply, is_data_event

log = logging.getLogger(__name__)

# APIs that are one for every region (S3's buckets each record theirs): their calls go to the home region's platform
GLOBAL_SERVICES = frozenset({"iam", "sts", "s3", "cloudtrail"})
# 4xx a client working as documented does not expect: it called an API or operation modelbay does not serve
_UNEXPECTED_CLIENT_ERRORS = frozenset({UnknownOperation.code, UnknownService.code})
# the protocol whose payloads stream to the service (S3's): its signature covers the payload's declared hash, which
# the stream checks as it is read; every other protocol's body is read whole, and hashed, before its call is parsed
_STREAMING_PROTOCOL = "rest-xml"


class Pipeline:
    """Handles one HTTP request of any API we serve."""

    def __init__(self, regions: Regions, codecs: CodecSelector, operations: Mapping[str, Mapping[str, Handler]],
                 authenticator: Authenticator, authorizer: Authorizer, audit: AuditTrail) -> None:
        self.regions = regions
        self.codecs = codecs
        self.operations = operations
        self.authenticator = authenticator
        self.authorizer = authorizer
        self.audit = audit

    async def handle(self, request: Request) -> Response:
        request = api_request(request)
        request_id = next_request_id()
        identity = anonymous(self.authenticator.account_id)
        try:
            credential = read_credential(request.headers, request.query_params)
            codec = self.codecs.select(request, credential)
        except AwsError as error:  # no API to answer in: the JSON error shape is the most common one
            log_if_unexpected(request_id, "", error, error.code, error.status)
            self._record(request, request_id, None, "", None, None, identity, error, error.status)
            return _plain_error(error, request_id)
        call: Call | None = None
        operation, failure, output = "", None, None
        try:
            reads_body = codec.service.protocol != _STREAMING_PROTOCOL
            identity = await authenticate(self.authenticator, request, credential, reads_body)
            call = await codec.parse(request)
            operation = call.operation.name
            response, output = await self.dispatch(codec, call, credential, identity, request_id,
                                                   request.client.host if request.client else None)
        except Exception as raised:
            failure = raised if isinstance(raised, AwsError) else internal_failure(request_id)
            if call is None and identity.principal.access_key_id is None:  # refused before it was read: name it
                call = await _parsed_anyway(codec, request)
            operation = operation or failure.operation or (call.operation.name if call else "")
            response = failed(codec, failure, request_id, operation)
        if call is None or not is_data_event(self.operations[codec.service.service_name].get(operation)):
            self._record(request, request_id, codec, operation, call, credential, identity, failure,
                         response.status_code, output)
        return response

    async def dispatch(self, codec: Codec, call: Call, credential: Credential | None, identity: Identity,
                       request_id: str, source_ip: str | None) -> tuple[Response, Mapping[str, Any]]:
        """The answer of a call its caller (`identity`, at `source_ip`) may make, and its output for the audit
        trail; raise the AwsError that answers it otherwise."""
        service, name = codec.service.service_name, call.operation.name
        handler = self.operations[service].get(name)
        region = self._region(credential)
        platform = await self._platform(service, region)
        arguments = (identity, service, name, call.params, platform, source_ip)
        if self.authorizer.is_cached(identity):
            self.authorizer.authorize(*arguments)
        else:  # the caller's policies are read from the store: off the event loop
            await anyio.to_thread.run_sync(self.authorizer.authorize, *arguments)
        if handler is None:
            raise NotImplementedYet(f"{codec.service.service_id} operation {name} is not implemented by modelbay yet.")

        def check_permission(caller: Principal, action: str, resource: str) -> None:  # the caller is identity's
            self.authorizer.check(identity, action, resource, platform, source_ip)

        ctx = Context(platform, request_id, region, identity.principal, check_permission)
        if inspect.iscoroutinefunction(handler):
            result = await handler(ctx, call.params)
        else:
            result = await anyio.to_thread.run_sync(handler, ctx, call.params)
        if isinstance(result, Reply):
            return codec.respond(call.operation, result.output, result.status, request_id), result.output
        return codec.respond(call.operation, result, None, request_id), result

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

    def _record(self, request: Request, request_id: str, codec: Codec | None, operation: str, call: Call | None,
                credential: Credential | None, identity: Identity, failure: AwsError | None, status: int,
                output: Mapping[str, Any] | None = None) -> None:
        """Record the call; a failed one with the code and message the caller was told, and a refused signature
        with the access key it named."""
        self.audit.record(audit_event(
            event_time=datetime.now(UTC), request_id=request_id, principal=identity.principal,
            service=codec.service.service_name if codec else "", operation=operation,
            params=call.params if call else None, output=output,
            error_code=None if failure is None else (codec.spell(failure)[0] if codec else failure.code),
            error_message=None if failure is None else failure.message, status=status,
            source_ip=request.client.host if request.client else None, user_agent=request.headers.get("user-agent"),
            region=self._region(credential), access_key_id=credential.access_key_id if credential else None,
            operation_model=call.operation if call else None))


_REQUEST_IDS = itertools.count()
_REQUEST_ID_PREFIX = str(uuid.uuid4())[:24]  # this process's; the rest counts, so ids stay unique and cheap


def next_request_id() -> str:
    """A UUID-shaped request id, as AWS gives them, unique within and across server processes."""
    return f"{_REQUEST_ID_PREFIX}{next(_REQUEST_IDS):012x}"


def failed(codec: Codec, failure: AwsError, request_id: str, operation: str) -> Response:
    """The answer to a call that failed, logged if the failure was modelbay's (see log_if_unexpected)."""
    response = codec.respond_error(failure, request_id)
    log_if_unexpected(request_id, operation, failure, codec.spell(failure)[0], response.status_code)
    return response


def log_if_unexpected(request_id: str, operation: str, error: AwsError, code: str, status: int) -> None:
    """Log a call that failed on modelbay's side (5xx, NotImplemented among them) or asked for what it does not
    serve, so the server's log shows it; the ordinary 4xx of a client's own mistakes are left to the audit trail."""
    if status >= 500 or error.code in _UNEXPECTED_CLIENT_ERRORS:
        log.warning("request %s: %s answered %d %s: %s", request_id, operation or "a request for no known operation",
                    status, code, error.message)


async def _parsed_anyway(codec: Codec, request: Request) -> Call | None:
    """The call a request whose authentication failed would have made, for the audit trail; None if it reads as
    none."""
    try:
        return await codec.parse(request)
    except Exception:  # a request refused already: whatever else is wrong with it is not its answer
        return None


def internal_failure(request_id: str) -> InternalFailure:
    """A bug: logged with its traceback and request id, answered without either."""
    log.exception("request %s failed", request_id)
    return InternalFailure("We encountered an internal error. Please try again.")


def _plain_error(error: AwsError, request_id: str) -> Response:
    headers = {"x-amzn-ErrorType": error.code, "x-amzn-RequestId": request_id}
    return JSONResponse({"__type": error.code, "message": error.message}, error.status, headers,
                        media_type="application/x-amz-json-1.1")
