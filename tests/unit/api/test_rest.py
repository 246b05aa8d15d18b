"""What the REST codecs share: finding operations by template, and members bound to the URI, the
query string, headers and the status, read and written as botocore writes and reads them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from botocore.model import ServiceModel
from starlette.datastructures import Headers, QueryParams

from modelbay.api.rest import Routes, write_bound
from modelbay.api.rest_json_protocol import RestJsonCodec
from modelbay.errors import SerializationError
from tests.unit.api.codec_harness import botocore_call, service_model
from tests.unit.api.rest_harness import Service, http_client

S3 = service_model("s3")
RUNTIME = service_model("sagemaker-runtime")
S3_ROUTES = Routes(S3)
MOMENT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def find(routes: Routes, method: str, path: str, query: str = "", **headers: str) -> tuple[str, dict[str, str]]:
    match = routes.find(method, path, QueryParams(query), Headers(headers))
    assert match is not None, f"no operation for {method} {path}?{query}"
    return match.operation.name, match.labels


@pytest.mark.parametrize(("path", "bucket", "key"), [
    ("/b/k", "b", "k"),
    ("/b/a/b/c/", "b", "a/b/c/"),  # a greedy label keeps slashes, a trailing one too
    ("/b//lead", "b", "/lead"),
    ("/b/a%2Fb", "b", "a/b"),
    ("/b/a%20b%2Bc+d", "b", "a b+c+d"),  # '+' is a plus in a path
    ("/b/%C3%BC%E2%82%AC/%F0%9F%98%80", "b", "ü€/😀"),
    ("/b/100%25", "b", "100%"),
])
def test_greedy_keys_are_percent_decoded(path: str, bucket: str, key: str) -> None:
    assert find(S3_ROUTES, "GET", path) == ("GetObject", {"Bucket": bucket, "Key": key})


def test_a_label_is_one_segment() -> None:
    assert find(S3_ROUTES, "GET", "/a%2Fb")[1] == {"Bucket": "a/b"}  # %2F stays inside the label
    assert find(S3_ROUTES, "GET", "/b/") == ("ListObjects", {"Bucket": "b"})  # a trailing slash is optional
    assert find(S3_ROUTES, "GET", "/") == ("ListBuckets", {})
    with pytest.raises(SerializationError, match="not percent-encoded UTF-8"):
        S3_ROUTES.find("GET", "/b/%FF", QueryParams(""), Headers({}))


@pytest.mark.parametrize(("query", "headers", "operation"), [
    ("", {}, "PutObject"),
    ("", {"x-amz-copy-source": "src/k"}, "CopyObject"),
    ("partNumber=1&uploadId=u", {}, "UploadPart"),
    ("partNumber=1&uploadId=u", {"X-Amz-Copy-Source": "src/k"}, "UploadPartCopy"),
    ("partNumber=1", {}, "PutObject"),  # UploadPart needs both
])
def test_operations_sharing_a_template(query: str, headers: dict[str, str], operation: str) -> None:
    assert find(S3_ROUTES, "PUT", "/b/k", query, **headers)[0] == operation


@pytest.mark.parametrize(("method", "path", "query", "operation"), [
    ("GET", "/b", "", "ListObjects"),
    ("GET", "/b", "list-type=2&prefix=a", "ListObjectsV2"),
    ("GET", "/b", "list-type=1", "ListObjects"),  # the template's value must match
    ("GET", "/b", "location", "GetBucketLocation"),
    ("GET", "/b", "lifecycle", "GetBucketLifecycleConfiguration"),  # not the deprecated GetBucketLifecycle
    ("GET", "/b/k", "uploadId=u", "ListParts"),
    ("DELETE", "/b/k", "", "DeleteObject"),
    ("DELETE", "/b/k", "uploadId=u", "AbortMultipartUpload"),
    ("POST", "/b/k", "uploads", "CreateMultipartUpload"),
    ("POST", "/b/k", "uploadId=u", "CompleteMultipartUpload"),
    ("POST", "/b", "delete", "DeleteObjects"),
    ("HEAD", "/b/k", "", "HeadObject"),
    ("HEAD", "/b", "", "HeadBucket"),
])
def test_s3_operations(method: str, path: str, query: str, operation: str) -> None:
    assert find(S3_ROUTES, method, path, query)[0] == operation


def test_no_operation_fits() -> None:
    assert S3_ROUTES.find("PATCH", "/b/k", QueryParams(""), Headers({})) is None
    assert S3_ROUTES.find("POST", "/b/k", QueryParams(""), Headers({})) is None  # needs ?uploads or an upload id


def test_runtime_operations() -> None:
    routes = Routes(RUNTIME)
    assert find(routes, "POST", "/endpoints/my-endpoint/invocations") == ("InvokeEndpoint",
                                                                          {"EndpointName": "my-endpoint"})
    assert find(routes, "POST", "/endpoints/e/invocations-response-stream")[0] == "InvokeEndpointWithResponseStream"
    assert find(routes, "POST", "/endpoints/e/async-invocations")[0] == "InvokeEndpointAsync"
    assert routes.find("GET", "/endpoints/e/invocations", QueryParams(""), Headers({})) is None
    assert routes.find("POST", "/endpoints/e/other", QueryParams(""), Headers({})) is None


# -- bound members both ways, with botocore's serializer and parser on the other side -----------

def _bindings_model() -> ServiceModel:
    """A rest-json service with one operation binding every kind of member outside the body."""
    bound = {
        "Name": {"shape": "String", "location": "uri", "locationName": "Name"},
        "Path": {"shape": "String", "location": "uri", "locationName": "Path"},
        "Tags": {"shape": "Strings", "location": "querystring", "locationName": "tag"},
        "Limit": {"shape": "Integer", "location": "querystring", "locationName": "limit"},
        "Since": {"shape": "Time", "location": "querystring", "locationName": "since"},
        "Deep": {"shape": "Boolean", "location": "querystring", "locationName": "deep"},
        "Count": {"shape": "Long", "location": "header", "locationName": "x-count"},
        "Ratio": {"shape": "Double", "location": "header", "locationName": "x-ratio"},
        "Flag": {"shape": "Boolean", "location": "header", "locationName": "x-flag"},
        "When": {"shape": "Time", "location": "header", "locationName": "x-when"},
        "Items": {"shape": "Strings", "location": "header", "locationName": "x-items"},
        "Doc": {"shape": "JsonString", "location": "header", "locationName": "x-doc"},
        "Meta": {"shape": "StringMap", "location": "headers", "locationName": "x-meta-"},
        "Note": {"shape": "String"},
    }
    output = {**{k: v for k, v in bound.items() if v.get("location") in ("header", "headers") or k == "Note"},
              "Status": {"shape": "Integer", "location": "statusCode"}}
    shapes = {
        "Input": {"type": "structure", "required": ["Name", "Path"], "members": bound},
        "Output": {"type": "structure", "members": output},
        "Extras": {"type": "structure", "members": {"Extra": {"shape": "StringMap", "location": "querystring"},
                                                     "Tags": bound["Tags"]}},
        "String": {"type": "string"}, "Integer": {"type": "integer"}, "Long": {"type": "long"},
        "Double": {"type": "double"}, "Boolean": {"type": "boolean"}, "Time": {"type": "timestamp"},
        "JsonString": {"type": "string", "jsonvalue": True},
        "Strings": {"type": "list", "member": {"shape": "String"}},
        "StringMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "String"}},
    }
    operations = {
        "Bind": {"name": "Bind", "http": {"method": "PUT", "requestUri": "/things/{Name}/{Path+}?mode=fast"},
                 "input": {"shape": "Input"}, "output": {"shape": "Output"}},
        "Query": {"name": "Query", "http": {"method": "GET", "requestUri": "/extras?all"},
                  "input": {"shape": "Extras"}},
    }
    metadata = {"apiVersion": "2020-01-01", "protocol": "rest-json", "serviceId": "Bindings",
                "endpointPrefix": "bindings", "signatureVersion": "v4"}
    return ServiceModel({"metadata": metadata, "operations": operations, "shapes": shapes})


BINDINGS = _bindings_model()
PARAMS = {"Name": "a b", "Path": "x/y z/ü", "Tags": ["t1", "t 2"], "Limit": 7, "Since": MOMENT, "Deep": True,
          "Count": 2**40, "Ratio": 0.25, "Flag": False, "When": MOMENT, "Items": ["plain", "with, comma", 'a "q"'],
          "Doc": {"k": [1, "two"]}, "Meta": {"color": "red", "Size": "L"}, "Note": "in the body"}
OUTPUT = {"Count": 5, "Ratio": 1.5, "Flag": True, "When": MOMENT, "Items": ["one", "two"], "Doc": {"ok": True},
          "Meta": {"owner": "team-a"}, "Note": "body", "Status": 201}


@pytest.fixture
def service() -> Service:
    return Service({"Bind": OUTPUT})


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(RestJsonCodec(BINDINGS), service) as client:
        yield client


@pytest.mark.anyio
async def test_bound_members_round_trip_with_botocore(http: httpx.AsyncClient, service: Service) -> None:
    answer = await botocore_call(http, BINDINGS, "Bind", PARAMS)
    assert service.calls[0].params == {**PARAMS, "Meta": {"color": "red", "size": "L"}}  # header names lower case
    metadata = answer.pop("ResponseMetadata")
    assert metadata["HTTPStatusCode"] == 201
    assert answer == OUTPUT


@pytest.mark.anyio
async def test_a_querystring_map_takes_the_unclaimed_parameters(http: httpx.AsyncClient, service: Service) -> None:
    response = await http.get("/extras", params=[("all", ""), ("tag", "a"), ("x", "1"), ("tag", "b"), ("y", "")])
    assert response.status_code == 200
    assert service.calls[0].params == {"Tags": ["a", "b"], "Extra": {"x": "1", "y": ""}}


@pytest.mark.anyio
@pytest.mark.parametrize(("headers", "path"), [
    ({"x-count": "many"}, "count"),
    ({"x-flag": "yes"}, "flag"),
    ({"x-when": "yesterday"}, "when"),
    ({"x-doc": "not base64!"}, "doc"),
])
async def test_a_bound_value_of_the_wrong_type(http: httpx.AsyncClient, headers: dict[str, str], path: str) -> None:
    response = await http.put("/things/n/p?mode=fast", headers=headers)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "SerializationException"
    assert f"at '{path}'" in response.json()["message"]


def test_written_headers() -> None:
    shape = BINDINGS.operation_model("Bind").output_shape
    headers, status = write_bound(shape, {"When": MOMENT, "Flag": True, "Items": ['a,b', "c"], "Note": "x",
                                          "Meta": {"k": "ü"}, "Status": 299})
    assert headers == {"x-when": "Mon, 06 May 2024 07:08:09 GMT", "x-flag": "true", "x-items": '"a,b",c',
                       "x-meta-k": "ü"}
    assert status == 299


def test_header_text_that_cannot_travel_is_rfc_2047() -> None:
    shape = BINDINGS.operation_model("Bind").output_shape
    headers, _ = write_bound(shape, {"Meta": {"a": "€", "b": "line\r\nInjected: 1"}})
    assert headers == {"x-meta-a": "=?UTF-8?B?4oKs?=", "x-meta-b": "=?UTF-8?B?bGluZQ0KSW5qZWN0ZWQ6IDE=?="}


def test_outputs_are_checked_against_the_model() -> None:
    shape = BINDINGS.operation_model("Bind").output_shape
    with pytest.raises(KeyError, match="'Bogus' is not a member of Output"):
        write_bound(shape, {"Bogus": 1})
    with pytest.raises(TypeError, match="Long is a long"):
        write_bound(shape, {"Count": "5"})
