"""Telling the APIs apart on one port.

First by the service named in the SigV4 credential scope (several APIs may share a signing
name: sagemaker and sagemaker-runtime both sign as "sagemaker"), then by what the request
looks like to each candidate codec: a Smithy RPC v2 path, an X-Amz-Target prefix, a query
Action, a REST path. One service may have a codec per protocol (CloudWatch speaks CBOR, JSON 1.0
and query): the request's shape picks the one that answers it. An unsigned request is offered
to every codec in turn; S3 takes what no other claims.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request

from modelbay.api.protocol import Codec
from modelbay.errors import AwsError
from modelbay.security.sigv4 import Credential

# Most specific first: an RPC v2 path, a target header or an Action names its API; REST paths are looser.
_PROTOCOL_ORDER = {"smithy-rpc-v2-cbor": 0, "json": 1, "query": 2, "rest-json": 3, "rest-xml": 4}


class UnknownService(AwsError):
    code = "UnknownServiceException"
    status = 400


class CodecSelector:
    """Picks the codec of the API a request is for."""

    def __init__(self, codecs: Iterable[Codec], fallback: str = "s3") -> None:
        """`fallback` names the service whose codec answers an unsigned request no codec claims."""
        self.codecs = sorted(codecs, key=lambda codec: _PROTOCOL_ORDER[codec.service.protocol])
        fallbacks = [codec for codec in self.codecs if codec.service.service_name == fallback]
        if not fallbacks:
            raise ValueError(f"no codec of the fallback service {fallback!r}")
        self.fallback = fallbacks[0]
        self.by_signing_name: dict[str, list[Codec]] = {}
        for codec in self.codecs:
            self.by_signing_name.setdefault(signing_name(codec), []).append(codec)

    def select(self, request: Request, credential: Credential | None) -> Codec:
        """The codec for this request; raise UnknownService for a scope naming an API we don't serve."""
        if credential is None:
            candidates = self.codecs
        else:
            candidates = self.by_signing_name.get(credential.service, [])
            if not candidates:
                raise UnknownService(f"modelbay does not serve the '{credential.service}' API; it serves "
                                     + ", ".join(sorted(self.by_signing_name)))
            if len(candidates) == 1:
                return candidates[0]  # its own parse gives the right error for a bad request
        for codec in candidates:
            if codec.matches(request):
                return codec
        return self.fallback if credential is None else candidates[0]


def signing_name(codec: Codec) -> str:
    metadata = codec.service.metadata
    return str(metadata.get("signingName") or metadata["endpointPrefix"])
