"""JSON values by shape, in both directions, for the JSON bodies of every protocol.

`read_json` turns a decoded JSON value into typed Python values (what validation and services
see); `write_json` turns a service's typed values into a JSON-ready value. Structures carry
their body members only, under their wire names (see `members`). Document shapes pass through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from modelbay.api.members import (
    body_members,
    is_outside_body,
    member_of,
    output_fields,
    output_items,
    wire_name,
)
from modelbay.api.paths import item_path, key_path, member_path, value_path
from modelbay.api.scalars import (
    INTEGER_LIMITS,
    SPECIAL_FLOATS,
    expect,
    invalid,
    read_blob,
    read_boolean,
    read_integer,
    read_string,
    read_timestamp,
    write_scalar,
)
from modelbay.api.timestamps import EPOCH_SECONDS


def read_json(shape: Shape, value: Any, path: str = "") -> Any:
    """The typed value of a decoded JSON `value` for `shape`: structures become dicts of their
    modelled members (unknown keys are dropped, as AWS ignores them; nulls count as absent),
    integers int, floats float, timestamps aware UTC datetimes (epoch seconds, or ISO 8601 text),
    blobs bytes (from base64). Raise SerializationError naming the member path (lower camel
    case, from `path`) for a value of the wrong type."""
    if shape.metadata.get("document"):
        return value
    reader = _READERS.get(shape.type_name)
    if reader is None:
        raise invalid(value, path, shape.type_name)
    return reader(shape, value, path)


def write_json(shape: Shape, value: Any) -> Any:
    """The JSON-ready value of a typed `value` for `shape`: timestamps as epoch seconds (or the
    shape's timestampFormat), blobs as base64 text, None members omitted, members outside the
    body skipped. Raise KeyError for a key that is not a member of its structure and TypeError
    for a value of the wrong Python type: the model checks outputs too."""
    if shape.metadata.get("document"):
        return value
    if isinstance(shape, StructureShape):
        return _write_structure(shape, output_fields(shape, value))
    if isinstance(shape, ListShape):
        return [write_json(shape.member, item) for item in output_items(shape, value)]
    if isinstance(shape, MapShape):
        return {write_json(shape.key, key): write_json(shape.value, item)
                for key, item in output_fields(shape, value).items()}
    return write_scalar(shape, value, EPOCH_SECONDS)


def _read_structure(shape: StructureShape, value: Any, path: str) -> dict[str, Any]:
    fields = expect(value, dict, path, "structure")
    result: dict[str, Any] = {}
    for name, member in body_members(shape).items():
        item = fields.get(wire_name(member, name))
        if item is not None:
            result[name] = read_json(member, item, member_path(path, name))
    return result


def _read_list(shape: ListShape, value: Any, path: str) -> list[Any]:
    items = expect(value, list, path, "list")
    return [read_json(shape.member, item, item_path(path, index))
            for index, item in enumerate(items, start=1) if item is not None]


def _read_map(shape: MapShape, value: Any, path: str) -> dict[str, Any]:
    entries = expect(value, dict, path, "map")
    return {read_json(shape.key, key, key_path(path)): read_json(shape.value, item, value_path(path, key))
            for key, item in entries.items() if item is not None}


def _read_float(shape: Shape, value: Any, path: str) -> float:
    if isinstance(value, str) and value in SPECIAL_FLOATS:
        return SPECIAL_FLOATS[value]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise invalid(value, path, shape.type_name)
    return float(value)


def _read_timestamp(shape: Shape, value: Any, path: str) -> Any:
    if not isinstance(value, int | float | str):
        raise invalid(value, path, "timestamp")
    return read_timestamp(shape, value, path)


def _read_blob(shape: Shape, value: Any, path: str) -> bytes:
    return read_blob(expect(value, str, path, "base64 blob"), path)


def _write_structure(shape: StructureShape, value: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in value.items():
        member = member_of(shape, key)
        if item is not None and not is_outside_body(member):
            result[wire_name(member, key)] = write_json(member, item)
    return result


_READERS: dict[str, Callable[[Any, Any, str], Any]] = {
    "structure": _read_structure,
    "list": _read_list,
    "map": _read_map,
    "string": read_string,
    "boolean": read_boolean,
    **dict.fromkeys(INTEGER_LIMITS, read_integer),
    "float": _read_float,
    "double": _read_float,
    "timestamp": _read_timestamp,
    "blob": _read_blob,
}
