"""A call to a model answered from its parts: the pipeline's steps without an ASGI request.

The front door (front_door.py) hands over a request it has read whole whose path is one of sagemaker-runtime's and
that is unsigned or signed for it: its path, headers and body. The lane takes the pipeline's steps with them — the
credential, the caller, the signature (in `iam` mode), the operation the path matches and its input, read and
validated by the codec from the botocore model as any call's — then `Pipeline.dispatch` and the codec's answer, or
its error, as the pipeline gives them. It takes only data events (calls the audit trail does not record): a request
it cannot read into such a call (an unknown credential, a bad signature, an input that fails validation, another
operation) is not answered here but handed back, for the app to answer the usual way, audited.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.datastructures import Headers
from starlette.responses import Response

from modelbay.api.authentication import anonymous, identify
from modelbay.api.codec_selector import signing_name
from modelbay.api.pipeline import Pipeline, failed, internal_failure, next_request_id
from modelbay.api.requests import NO_QUERY, IndexedHeaders
from modelbay.api.rest_json_protocol import RestJsonCodec
from modelbay.api.signatures import joined_headers
from modelbay.errors import AwsError
from modelbay.security.authentication import Identity
from modelbay.security.signed_request import SignedRequest
from modelbay.security.sigv4 import Credential, read_credential, verify
from modelbay.services.base import is_data_event


class InvocationLane:
    """sagemaker-runtime's data events, answered from a request's path, headers and body."""

    def __init__(self, pipeline: Pipeline, codec: RestJsonCodec) -> None:
        self.pipeline = pipeline
        self.codec = codec
        self.signing_scope = f"/{signing_name(codec)}/aws4_request"

    def takes(self, authorization: str | None) -> bool:
        """Whether a request with this Authorization header may be the codec's: unsigned, or a V4 signature whose
        scope is its signing name (the pipeline would choose another codec for another)."""
        return authorization is None or self.signing_scope in authorization.partition(",")[0]

    async def answer(self, method: str, raw_path: str, raw_headers: list[tuple[bytes, bytes]], body: bytes,
                     source_ip: str | None) -> Response | None:
        """The response to the request, or None for one the app must answer (see the module's docstring)."""
        headers = IndexedHeaders(raw=raw_headers)
        request_id = next_request_id()
        try:
            credential = read_credential(headers, NO_QUERY)
            identity = await self._caller(credential, method, raw_path, headers, body)
            match = self.codec.routes.find(method, raw_path, NO_QUERY, headers)
            handler = None if match is None else self.pipeline.operations[self.codec.service.service_name].get(
                match.operation.name)
            if match is None or not is_data_event(handler):
                return None
            call = self.codec.call(match, NO_QUERY, headers, body)
        except AwsError:
            return None
        try:
            response, _ = await self.pipeline.dispatch(self.codec, call, credential, identity, request_id, source_ip)
        except Exception as raised:
            failure = raised if isinstance(raised, AwsError) else internal_failure(request_id)
            return failed(self.codec, failure, request_id, call.operation.name)
        return response

    async def _caller(self, credential: Credential | None, method: str, raw_path: str, headers: Headers,
                      body: bytes) -> Identity:
        if credential is None:
            return anonymous(self.pipeline.authenticator.account_id)
        identity = await identify(self.pipeline.authenticator, credential, headers.get("x-amz-security-token"))
        if identity.secret_access_key is not None:
            signed = SignedRequest(method, raw_path, "", joined_headers(headers.raw), body)
            verify(signed, credential, identity.secret_access_key, datetime.now(UTC))
        return identity
