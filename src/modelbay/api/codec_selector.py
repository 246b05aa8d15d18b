"""Telling the APIs apart on one port.

First by the service named in the SigV4 credential scope (several APIs may share a signing
name: sagemaker and sagemaker-runtime both sign as "sagemaker"), then by what the request
looks like to each candidate codec: an X-Amz-Target prefix, a query Action, a REST path.
An unsigned request is offered to every codec in turn; S3 takes what no other claims.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request

from modelbay.api.protocol import Codec
from modelbay.errors import AwsError
from modelbay.security.sigv4 import Credential

# Most specific first: a target header or an Action names its API; REST paths are looser.
_PROTOCOL_ORDER = {"json": 0, "query": 1, "rest-json": 2, "rest-xml": 3}


class UnknownService(AwsError):
    code = "UnknownServiceException"
    status = 400


class CodecSelector:
    """Picks the codec of the API a request is for."""

    def __init__(self, codecs: Mapping[str, Codec], fallback: str = "s3") -> None:
        ordered = sorted(codecs.items(), key=lambda item: _PROTOCOL_ORDER[item[1].service.protocol])
        self.codecs = dict(ordered)
        self.fallback = fallback
        self.by_signing_name: dict[str, list[Codec]] = {}
        for codec in self.codecs.values():
            self.by_signing_name.setdefault(signing_name(codec), []).append(codec)

    def select(self, request: Request, credential: Credential | None) -> Codec:
        """The codec for this request; raise UnknownService for a scope naming an API we don't serve."""
        if credential is None:
            candidates = list(self.codecs.values())
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
        return self.codecs[self.fallback] if credential is None else candidates[0]


def signing_name(codec: Codec) -> str:
    metadata = codec.service.metadata
    return str(metadata.get("signingName") or metadata["endpointPrefix"])
