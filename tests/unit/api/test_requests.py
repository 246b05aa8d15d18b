"""ApiRequest: the same answers as Starlette's request, from a dict of headers."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers
from starlette.requests import Request

from modelbay.api.requests import ApiRequest, IndexedHeaders, api_request

RAW = [(b"content-type", b"text/csv"), (b"x-amz-date", b"20261206T000000Z"), (b"x-amz-meta-a", b"1"),
       (b"x-amz-meta-a", b"2")]


def scope(query: bytes = b"") -> dict[str, object]:
    return {"type": "http", "method": "POST", "path": "/", "query_string": query, "headers": list(RAW)}


@pytest.mark.parametrize("name", ["content-type", "Content-Type", "x-amz-date", "X-AMZ-META-A", "absent"])
def test_indexed_headers_answer_as_starlettes(name: str) -> None:
    indexed, starlette = IndexedHeaders(raw=list(RAW)), Headers(raw=list(RAW))
    assert (indexed.get(name), name in indexed) == (starlette.get(name), name in starlette)
    assert indexed.get(name, "default") == starlette.get(name, "default")


def test_indexed_headers_keep_every_header_as_it_came() -> None:
    indexed = IndexedHeaders(raw=list(RAW))
    assert indexed.raw == RAW
    assert indexed.getlist("x-amz-meta-a") == ["1", "2"]
    assert indexed["X-Amz-Meta-A"] == "1"
    with pytest.raises(KeyError):
        indexed["absent"]
    assert 1 not in indexed


def test_a_request_without_a_query_string_parses_none() -> None:
    request = ApiRequest(scope())
    assert not request.query_params
    assert ApiRequest(scope(b"a=1&b")).query_params.get("a") == "1"


def test_api_request_keeps_the_request_it_is_given_or_reads_the_same_scope() -> None:
    request = ApiRequest(scope())
    assert api_request(request) is request
    plain = Request(scope())
    assert api_request(plain).scope is plain.scope
    assert api_request(plain).headers.get("content-type") == "text/csv"
