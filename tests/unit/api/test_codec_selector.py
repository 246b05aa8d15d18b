"""Routing: the credential scope first, then what each candidate codec recognises."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import botocore.session
import pytest
from starlette.requests import Request

from modelbay.api.app import make_codecs
from modelbay.api.codec_selector import CodecSelector, UnknownService
from modelbay.config import Settings
from modelbay.security.sigv4 import Credential


class FakeCodec:
    """Stands in for a codec: a real service model, and a fixed answer to matches()."""

    def __init__(self, service: str, claims: bool) -> None:
        self.service = botocore.session.get_session().get_service_model(service)
        self.claims = claims

    def matches(self, request: Request) -> bool:
        return self.claims


def request(path: str = "/", headers: Mapping[str, str] | None = None, query: bytes = b"") -> Request:
    raw_headers = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    return Request({"type": "http", "method": "POST", "path": path, "headers": raw_headers, "query_string": query})


def selector(**claims: bool) -> CodecSelector:
    codecs: list[Any] = [FakeCodec(name.replace("_", "-"), claim) for name, claim in claims.items()]
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


@pytest.mark.parametrize("signed", [True, False])
def test_a_service_of_several_protocols_is_answered_in_the_one_a_request_speaks(signed: bool) -> None:
    codecs = [*make_codecs("cloudwatch", Settings(), ()), *make_codecs("s3", Settings(), ())]
    chosen = CodecSelector(codecs)
    credential = scope("monitoring") if signed else None
    requests = {
        "smithy-rpc-v2-cbor": request("/service/GraniteServiceVersion20100801/operation/ListMetrics"),
        "json": request(headers={"X-Amz-Target": "GraniteServiceVersion20100801.ListMetrics"}),
        "query": request(query=b"Action=ListMetrics&Version=2010-08-01"),
    }
    for protocol, sent in requests.items():
        codec = chosen.select(sent, credential)
        assert (codec.service.service_name, codec.service.protocol) == ("cloudwatch", protocol)


def test_a_signed_request_no_protocol_claims_goes_to_the_primary_one() -> None:
    chosen = CodecSelector([*make_codecs("cloudwatch", Settings(), ()), *make_codecs("s3", Settings(), ())])
    assert chosen.select(request("/elsewhere"), scope("monitoring")).service.protocol == "smithy-rpc-v2-cbor"


def test_application_auto_scaling_needs_nothing_new() -> None:
    codecs = make_codecs("application-autoscaling", Settings(), ())
    assert [codec.service.protocol for codec in codecs] == ["json"]
    chosen = CodecSelector([*codecs, *make_codecs("s3", Settings(), ())])
    target = {"X-Amz-Target": "AnyScaleFrontendService.DescribeScalableTargets"}
    assert chosen.select(request(headers=target), scope("application-autoscaling")) is codecs[0]
    assert chosen.select(request(headers=target), None) is codecs[0]
