"""Routing: the credential scope first, then what each candidate codec recognises."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from starlette.requests import Request

from modelbay.api.codec_selector import CodecSelector, UnknownService
from modelbay.security.sigv4 import Credential


class FakeCodec:
    """Stands in for a codec: a real service model, and a fixed answer to matches()."""

    def __init__(self, service: str, claims: bool) -> None:
        self.service = botocore.session.get_session().get_service_model(service)
        self.claims = claims

    def matches(self, request: Request) -> bool:
        return self.claims


def request() -> Request:
    return Request({"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""})


def selector(**claims: bool) -> CodecSelector:
    codecs: dict[str, Any] = {name.replace("_", "-"): FakeCodec(name.replace("_", "-"), claim)
                              for name, claim in claims.items()}
    return CodecSelector(codecs)


def scope(service: str) -> Credential:
    return Credential("AKID", "20261125", "us-east-1", service)


def test_the_only_api_of_a_signing_name_is_chosen_without_asking() -> None:
    chosen = selector(sagemaker=False, s3=False, sts=False).select(request(), scope("sts"))
    assert chosen.service.service_name == "sts"


def test_apis_sharing_a_signing_name_are_told_apart_by_the_request() -> None:
    control = selector(sagemaker=True, sagemaker_runtime=False, s3=False).select(request(), scope("sagemaker"))
    assert control.service.service_name == "sagemaker"
    runtime = selector(sagemaker=False, sagemaker_runtime=True, s3=False).select(request(), scope("sagemaker"))
    assert runtime.service.service_name == "sagemaker-runtime"


def test_an_s3_scope_never_reaches_another_api() -> None:
    chosen = selector(sagemaker=True, sagemaker_runtime=True, s3=False).select(request(), scope("s3"))
    assert chosen.service.service_name == "s3"


def test_unsigned_requests_go_to_the_first_claimant_else_s3() -> None:
    assert selector(sagemaker=True, s3=True).select(request(), None).service.service_name == "sagemaker"
    assert selector(sagemaker=False, sts=False, s3=False).select(request(), None).service.service_name == "s3"


def test_a_scope_we_do_not_serve() -> None:
    with pytest.raises(UnknownService, match="'ec2'"):
        selector(sagemaker=True, s3=True).select(request(), scope("ec2"))
