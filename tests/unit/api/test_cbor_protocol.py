"""The Smithy RPC v2 CBOR codec in a tiny app, driven by botocore's own serializer and parser and by raw HTTP."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import cbor2
import httpx
import pytest
from botocore.model import ServiceModel

from modelbay.api.cbor_protocol import CborCodec
from modelbay.api.cborvalues import write_cbor
from modelbay.api.spellings import SPELLINGS
from modelbay.errors import AwsError, InternalFailure, ResourceNotFound
from tests.unit.api.codec_harness import REQUEST_ID, FakeService, botocore_call, http_client, service_model
from tests.unit.api.shapes import thing_service

pytestmark = pytest.mark.anyio

THINGS = thing_service("smithy-rpc-v2-cbor")
CLOUDWATCH = service_model("cloudwatch")
CBOR_HEADERS = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}
THINGS_OP = "/service/Things/operation/Op"
MOMENT = datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=UTC)
EVERY_KIND = {
    "Name": "naïve ✓", "Count": -(2**31), "Total": 2**63 - 1, "Ratio": 0.1, "Enabled": False,
    "When": MOMENT, "WhenIso": datetime(2024, 1, 1, tzinfo=UTC), "WhenHttp": datetime(1969, 7, 20, 20, 17, tzinfo=UTC),
    "Data": b"\x00\xff\x80 bytes", "Labels": {"a": 1, "b": -2}, "Flat": {"left": "right"},
    "Items": [{"Value": "one"}, {"Value": "two"}], "Named": ["x", "y"], "Repeated": [3, 2, 1], "Aliases": [],
    "Kind": "k", "Child": {"Value": "nested"},
}


class Failing:
    """A service that raises a given error."""

    def __init__(self, error: AwsError) -> None:
        self.error = error

    def __call__(self, call: Any) -> dict[str, Any]:
        raise self.error


@pytest.fixture
async def things() -> AsyncIterator[tuple[httpx.AsyncClient, FakeService]]:
    service = FakeService({"Op": EVERY_KIND})
    async with http_client(CborCodec(THINGS, max_body_bytes=4096), service) as client:
        yield client, service


async def cloudwatch_call(service: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    async with http_client(CborCodec(CLOUDWATCH, SPELLINGS["cloudwatch"]), service) as http:
        return await botocore_call(http, CLOUDWATCH, operation, params)


async def raw(http: httpx.AsyncClient, body: bytes, path: str = THINGS_OP,
              headers: dict[str, str] | None = None) -> tuple[int, Any, httpx.Headers]:
    """POST a body as is; the status, the decoded CBOR answer and the response headers."""
    response = await http.post(path, content=body, headers=CBOR_HEADERS if headers is None else headers)
    return response.status_code, cbor2.loads(response.content), response.headers


async def test_every_member_kind_round_trips_through_botocore(things: tuple[httpx.AsyncClient, FakeService]) -> None:
    http, service = things
    answer = await botocore_call(http, THINGS, "Op", EVERY_KIND)
    assert service.calls[0].params == EVERY_KIND
    assert answer.pop("ResponseMetadata")["RequestId"] == REQUEST_ID
    assert answer == EVERY_KIND


async def test_special_floats_both_ways() -> None:
    specials = FakeService({"Op": {"Ratio": math.inf}})
    async with http_client(CborCodec(THINGS), specials) as http:
        assert (await botocore_call(http, THINGS, "Op", {"Ratio": -math.inf}))["Ratio"] == math.inf
        await botocore_call(http, THINGS, "Op", {"Ratio": math.nan})
    assert specials.calls[0].params == {"Ratio": -math.inf}
    assert math.isnan(specials.calls[1].params["Ratio"])


async def test_a_float_member_sent_as_float32_or_as_an_integer() -> None:
    model = ServiceModel({
        "metadata": {"apiVersion": "2020-01-01", "protocol": "smithy-rpc-v2-cbor", "targetPrefix": "Measures",
                     "serviceId": "Measures", "endpointPrefix": "measures"},
        "operations": {"Op": {"name": "Op", "http": {"method": "POST", "requestUri": "/"},
                              "input": {"shape": "Measure"}, "output": {"shape": "Measure"}}},
        "shapes": {"Measure": {"type": "structure", "members": {"Value": {"shape": "Float"}}},
                   "Float": {"type": "float"}}})
    measures = FakeService({"Op": {"Value": 2}})
    async with http_client(CborCodec(model), measures) as http:
        answer = await botocore_call(http, model, "Op", {"Value": 1.5})  # botocore sends a float32
        status, written, _ = await raw(http, cbor2.dumps({"Value": 7}), "/service/Measures/operation/Op")
    assert [call.params for call in measures.calls] == [{"Value": 1.5}, {"Value": 7.0}]
    assert answer["Value"] == 2.0 and isinstance(answer["Value"], float)
    assert (status, written) == (200, {"Value": 2.0})


async def test_timestamps_are_tag_1_epoch_seconds_on_the_wire(things: tuple[httpx.AsyncClient, FakeService]) -> None:
    http, _ = things
    response = await http.post(THINGS_OP, content=cbor2.dumps({}), headers=CBOR_HEADERS)
    epochs = cbor2.loads(response.content, semantic_decoders={1: lambda value, immutable: ("tag 1", value)})
    assert epochs["When"] == ("tag 1", MOMENT.timestamp())
    assert epochs["WhenIso"] == ("tag 1", 1704067200) and isinstance(epochs["WhenIso"][1], int)
    assert epochs["Data"] == EVERY_KIND["Data"]  # a byte string, not base64 text


async def test_plain_epoch_seconds_are_a_timestamp_too(things: tuple[httpx.AsyncClient, FakeService]) -> None:
    http, service = things
    status, _, _ = await raw(http, cbor2.dumps({"When": 1704067200.5}))
    assert status == 200
    assert service.calls[0].params == {"When": datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)}


async def test_null_and_undefined_are_absent(things: tuple[httpx.AsyncClient, FakeService]) -> None:
    http, service = things
    body = cbor2.dumps({"Name": None, "Count": cbor2.undefined, "Named": ["a", None], "Labels": {"k": None},
                        "Unknown": "dropped"})
    status, _, _ = await raw(http, body)
    assert status == 200
    assert service.calls[0].params == {"Named": ["a"], "Labels": {}}


async def test_an_empty_body_is_an_empty_input(things: tuple[httpx.AsyncClient, FakeService]) -> None:
    http, service = things
    response = await http.post(THINGS_OP, headers={"smithy-protocol": "rpc-v2-cbor"})
    assert response.status_code == 200
    assert service.calls[0].params == {}


@pytest.mark.parametrize(("value", "message"), [
    ({"Count": "3"}, "Value '3' at 'count' is not a valid integer"),
    ({"Count": 2**31}, "Value '2147483648' at 'count' is not a valid integer"),
    ({"Total": 1.5}, "Value '1.5' at 'total' is not a valid long"),
    ({"Enabled": 1}, "Value '1' at 'enabled' is not a valid boolean"),
    ({"Data": "text"}, "Value 'text' at 'data' is not a valid blob (a byte string)"),
    ({"When": "2024-01-01"}, "Value '2024-01-01' at 'when' is not a valid timestamp"),
    ({"Items": [{"Value": 5}]}, "Value '5' at 'items.1.member.value' is not a valid string"),
    ({"Labels": {"a": "1"}}, "Value '1' at 'labels.a' is not a valid integer"),
    ({"Child": ["x"]}, "at 'child' is not a valid structure"),
    (["not", "a", "map"], "is not a valid structure"),
])
async def test_wrong_types_name_the_member(things: tuple[httpx.AsyncClient, FakeService], value: Any,
                                           message: str) -> None:
    http, _ = things
    status, error, _ = await raw(http, cbor2.dumps(value))
    assert (status, error["__type"]) == (400, "SerializationException")
    assert message in error["message"]


@pytest.mark.parametrize(("body", "reason"), [
    (b"\xa1\x61", "premature end of stream"),
    (cbor2.dumps({}) + b"\x00", "1 bytes follow its data item"),
    (b"\xa1\x61a\xff", ""),
    (cbor2.dumps(cbor2.CBORTag(999, "x")), "uses no tag but 1"),
    (cbor2.dumps({"Named": [["x"], ["x"]]}, value_sharing=True), "uses no tag but 1"),
    (b"\xa1\x61\xff\x61a", "utf-8"),
])
async def test_a_body_that_is_not_one_well_formed_cbor_item(things: tuple[httpx.AsyncClient, FakeService],
                                                            body: bytes, reason: str) -> None:
    http, _ = things
    status, error, _ = await raw(http, body)
    assert (status, error["__type"]) == (400, "SerializationException")
    assert error["message"].startswith("The request body is not valid CBOR")
    assert reason in error["message"]


async def test_the_protocol_header_and_content_type_are_required(things: tuple[httpx.AsyncClient, FakeService]) -> None:
    http, _ = things
    status, error, _ = await raw(http, cbor2.dumps({}), headers={"Content-Type": "application/cbor"})
    assert (status, error["__type"]) == (415, "UnsupportedMediaTypeException")
    assert "smithy-protocol: rpc-v2-cbor" in error["message"]
    status, error, _ = await raw(http, b"{}", headers={"smithy-protocol": "rpc-v2-cbor",
                                                       "Content-Type": "application/json"})
    assert (status, error["__type"]) == (415, "UnsupportedMediaTypeException")


async def test_unknown_operations_and_methods(things: tuple[httpx.AsyncClient, FakeService]) -> None:
    http, _ = things
    status, error, _ = await raw(http, b"", path="/service/Things/operation/Nope")
    assert (status, error["__type"]) == (400, "UnknownOperationException")
    assert "Nope" in error["message"]
    response = await http.get(THINGS_OP, headers=CBOR_HEADERS)
    assert cbor2.loads(response.content)["__type"] == "UnknownOperationException"
    assert "POST" in cbor2.loads(response.content)["message"]


async def test_answers_carry_the_protocol_header(things: tuple[httpx.AsyncClient, FakeService]) -> None:
    http, _ = things
    _, _, headers = await raw(http, cbor2.dumps({}))
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    assert headers["content-type"] == "application/cbor"
    assert headers["x-amzn-requestid"] == REQUEST_ID


async def test_validation_errors_are_counted_in_one_message_as_cloudwatch_spells_them() -> None:
    parsed = await cloudwatch_call(FakeService(), "PutMetricData", {"MetricData": [{"Value": 1.0}]})
    error = parsed["Error"]
    assert error["Code"] == "ValidationError"  # from x-amzn-query-error, as botocore reads it
    assert error["QueryErrorCode"] == "ValidationException"  # the model's shape of that code, in __type
    assert error["Type"] == "Sender"
    assert error["Message"].startswith("2 validation errors detected: ")
    for member in ("'namespace'", "'metricData.1.member.metricName'"):
        assert member in error["Message"]
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID


async def test_cloudwatch_errors_are_query_compatible() -> None:
    missing = await cloudwatch_call(Failing(ResourceNotFound("no such alarm")), "DescribeAlarms", {})
    assert missing["Error"] == {"Code": "ResourceNotFound", "QueryErrorCode": "ResourceNotFound",
                                "Type": "Sender", "Message": "no such alarm"}
    broken = await cloudwatch_call(Failing(InternalFailure("oops")), "DescribeAlarms", {})
    assert (broken["Error"]["Code"], broken["Error"]["Type"]) == ("InternalFailure", "Receiver")


async def test_errors_of_other_services_have_no_query_error(things: tuple[httpx.AsyncClient, FakeService]) -> None:
    http, _ = things
    status, error, headers = await raw(http, cbor2.dumps({"Count": "x"}))
    assert "x-amzn-query-error" not in headers
    assert set(error) == {"__type", "message"}


async def test_an_unknown_cloudwatch_operation_is_an_invalid_action() -> None:
    async with http_client(CborCodec(CLOUDWATCH, SPELLINGS["cloudwatch"]), FakeService()) as http:
        status, error, headers = await raw(http, b"", path="/service/GraniteServiceVersion20100801/operation/Nope")
    assert (status, error["__type"], headers["x-amzn-query-error"]) == (400, "InvalidAction", "InvalidAction;Sender")


def test_outputs_are_checked_against_the_model() -> None:
    thing = THINGS.shape_for("Thing")
    with pytest.raises(TypeError, match="Integer is a integer"):
        write_cbor(thing, {"Count": "3"})
    with pytest.raises(KeyError, match="'Nope' is not a member of Thing"):
        write_cbor(thing, {"Nope": 1})
