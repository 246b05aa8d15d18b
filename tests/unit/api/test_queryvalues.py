"""Query parameters by shape: read back exactly what botocore's query serializer flattens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.model import OperationModel
from botocore.serialize import create_serializer

from modelbay.api.queryvalues import read_query
from modelbay.errors import SerializationError
from tests.unit.api.codec_harness import service_model
from tests.unit.api.shapes import thing, thing_service

STS = service_model("sts")
MOMENT = datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=UTC)


def flattened(operation: OperationModel, params: dict[str, Any]) -> list[tuple[str, str]]:
    """What botocore's query serializer sends for `params`, as (name, value) pairs."""
    body = create_serializer("query").serialize_to_request(params, operation)["body"]
    return [(name, str(value)) for name, value in body.items()]


def test_every_feature_round_trips() -> None:
    params = {"Name": "n", "Count": 3, "Total": 2**40, "Ratio": 0.5, "Enabled": True, "When": MOMENT,
              "Data": b"\x00\xff", "Labels": {"a": 1, "b": 2}, "Flat": {"x": "1"}, "Items": [{"Value": "v"}],
              "Named": ["p", "q"], "Repeated": [5, 6], "Aliases": ["a1"], "Child": {"Value": "c"}}
    pairs = flattened(thing_service("query").operation_model("Op"), params)
    assert ("Labels.entry.2.value", "2") in pairs and ("Named.Item.2", "q") in pairs and ("Pair.1.Left", "x") in pairs
    assert ("Alias.1", "a1") in pairs
    assert read_query(thing(), pairs) == params


def test_sts_input_round_trips() -> None:
    operation = STS.operation_model("AssumeRole")
    params = {"RoleArn": "arn:aws:iam::000000000000:role/r", "RoleSessionName": "session", "DurationSeconds": 900,
              "Tags": [{"Key": "k1", "Value": "v1"}, {"Key": "k2", "Value": ""}], "PolicyArns": [{"arn": "a" * 20}],
              "TransitiveTagKeys": []}
    assert read_query(operation.input_shape, flattened(operation, params)) == params


def test_items_are_taken_in_index_order_and_unknown_names_ignored() -> None:
    pairs = [("Named.Item.10", "ten"), ("Named.Item.2", "two"), ("Named.Item.x", "?"), ("Action", "Op"),
             ("Bogus.1", "b"), ("Child.Other", "o")]
    assert read_query(thing(), pairs) == {"Named": ["two", "ten"], "Child": {}}


@pytest.mark.parametrize(("pairs", "message"), [
    ([("Count", "x")], "Value 'x' at 'count' is not a valid integer"),
    ([("Items.member.2.Value.Deeper", "x")], "Value 'Deeper' at 'items.1.member.value' is not a valid string"),
    ([("Labels.entry.1.value", "1")], "Value '' at 'labels' is not a valid map entry (it has no key)"),
    ([("Enabled", "1")], "Value '1' at 'enabled' is not a valid boolean"),
])
def test_a_wrong_value_names_its_member_path(pairs: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(SerializationError) as raised:
        read_query(thing(), pairs)
    assert raised.value.message == message
