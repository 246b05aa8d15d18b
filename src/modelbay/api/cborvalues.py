"""CBOR values by shape, in both directions, for the Smithy RPC v2 CBOR protocol.

`decode_cbor` reads a body into cbor2's Python values, refusing every semantic tag but 1 (epoch
timestamps, the only tag the protocol uses: others, value sharing and string references among
them, would let a small body grow into a huge value). `read_cbor` turns those values into the
typed values validation and services see, as `read_json` does for JSON; `write_cbor` turns a
service's typed values into what botocore's parser reads: timestamps as tag 1 epoch seconds,
blobs as byte strings, floats as CBOR floats (NaN and the infinities too), structures as maps
of their body members. Members are keyed by their model names, as Smithy says and botocore's
parser reads them (its serializer writes a member's locationName instead, which no RPC v2 model
has: reading takes either). Null and undefined count as absent.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn

import cbor2
from botocore.model import ListShape, MapShape, Shape, StructureShape

from modelbay.api.members import body_members, is_outside_body, member_of, output_fields, output_items, wire_name
from modelbay.api.paths import item_path, key_path, member_path, value_path
from modelbay.api.scalars import (
    INTEGER_LIMITS,
    expect,
    invalid,
    read_boolean,
    read_integer,
    read_string,
    read_timestamp,
    write_scalar,
)
from modelbay.api.timestamps import EPOCH_SECONDS, format_timestamp
from modelbay.errors import SerializationError

_EPOCH_TAG = 1
# The tags cbor2 6.2 decodes itself (found by decoding every tag up to 70000): each but 1 is refused
# explicitly, any other tag by the tag hook.
_BUILT_IN_TAGS = (0, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260, 261, 1004, 43000, 55799)


class _RefusedTag(Exception):
    pass


def decode_cbor(body: bytes) -> Any:
    """The one CBOR data item of a body (an empty body is an empty map); raise SerializationError for
    a body that is not exactly one well-formed item, or that holds a tag other than 1."""
    if not body:
        return {}
    stream = io.BytesIO(body)
    decoder = cbor2.CBORDecoder(stream, semantic_decoders=_REFUSED_TAGS, tag_hook=_refuse_unknown_tag)
    try:
        value = decoder.decode()
    except cbor2.CBORDecodeError as error:
        reason = f"{error}: {error.__cause__}" if error.__cause__ else str(error)
        raise SerializationError(f"The request body is not valid CBOR: {reason}") from None
    if stream.tell() != len(body):
        raise SerializationError(f"The request body is not valid CBOR: {len(body) - stream.tell()} bytes follow "
                                 "its data item")
    return value


def read_cbor(shape: Shape, value: Any, path: str = "") -> Any:
    """The typed value of a decoded CBOR `value` for `shape`: structures become dicts of their
    modelled members (unknown keys are dropped), integers int, floats float (integers accepted),
    timestamps aware UTC datetimes (tag 1, or plain epoch seconds), blobs bytes (byte strings).
    Raise SerializationError naming the member path for a value of the wrong type."""
    if shape.metadata.get("document"):
        return value
    reader = _READERS.get(shape.type_name)
    if reader is None:
        raise invalid(value, path, shape.type_name)
    return reader(shape, value, path)


def write_cbor(shape: Shape, value: Any) -> Any:
    """The value cbor2 encodes for a typed `value` of `shape`; None members omitted, members
    outside the body skipped. Raise KeyError for a key that is not a member of its structure and
    TypeError for a value of the wrong Python type: the model checks outputs too."""
    if shape.metadata.get("document"):
        return value
    if isinstance(shape, StructureShape):
        return _write_structure(shape, output_fields(shape, value))
    if isinstance(shape, ListShape):
        return [write_cbor(shape.member, item) for item in output_items(shape, value)]
    if isinstance(shape, MapShape):
        return {write_cbor(shape.key, key): write_cbor(shape.value, item)
                for key, item in output_fields(shape, value).items()}
    return _write_scalar(shape, value)


def _write_scalar(shape: Shape, value: Any) -> Any:
    written = write_scalar(shape, value, EPOCH_SECONDS)  # checks the Python type; JSON's spelling of it
    kind = shape.type_name
    if kind in ("float", "double"):
        return float(value)
    if kind == "timestamp":  # epoch seconds whatever the shape's timestampFormat, as botocore writes them
        seconds = float(format_timestamp(value, EPOCH_SECONDS))
        return cbor2.CBORTag(_EPOCH_TAG, int(seconds) if seconds.is_integer() else seconds)
    if kind == "blob":
        return value.encode() if isinstance(value, str) else bytes(value)
    return written


def _write_structure(shape: StructureShape, value: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in value.items():
        member = member_of(shape, key)
        if item is not None and not is_outside_body(member):
            result[key] = write_cbor(member, item)
    return result


def _is_absent(value: Any) -> bool:
    return value is None or value is cbor2.undefined


def _read_structure(shape: StructureShape, value: Any, path: str) -> dict[str, Any]:
    fields = expect(value, Mapping, path, "structure")
    result: dict[str, Any] = {}
    for name, member in body_members(shape).items():
        item = fields.get(name, fields.get(wire_name(member, name)))
        if not _is_absent(item):
            result[name] = read_cbor(member, item, member_path(path, name))
    return result


def _read_list(shape: ListShape, value: Any, path: str) -> list[Any]:
    items = expect(value, list, path, "list")
    return [read_cbor(shape.member, item, item_path(path, index))
            for index, item in enumerate(items, start=1) if not _is_absent(item)]


def _read_map(shape: MapShape, value: Any, path: str) -> dict[str, Any]:
    entries = expect(value, Mapping, path, "map")
    return {read_cbor(shape.key, key, key_path(path)): read_cbor(shape.value, item, value_path(path, str(key)))
            for key, item in entries.items() if not _is_absent(item)}


def _read_float(shape: Shape, value: Any, path: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise invalid(value, path, shape.type_name)
    return float(value)


def _read_timestamp(shape: Shape, value: Any, path: str) -> datetime:
    if isinstance(value, datetime):  # tag 1, decoded by cbor2 as an aware UTC datetime
        return value.astimezone(UTC)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise invalid(value, path, "timestamp")
    return read_timestamp(shape, value, path)


def _read_blob(shape: Shape, value: Any, path: str) -> bytes:
    return bytes(expect(value, bytes, path, "blob (a byte string)"))


def _refuse_tag(value: Any, immutable: bool) -> NoReturn:
    raise _RefusedTag("Smithy RPC v2 CBOR uses no tag but 1 (epoch timestamps)")


def _refuse_unknown_tag(tag: cbor2.CBORTag, immutable: bool) -> NoReturn:
    _refuse_tag(tag.value, immutable)


_REFUSED_TAGS: dict[int, Callable[[Any, bool], Any]] = dict.fromkeys(_BUILT_IN_TAGS, _refuse_tag)

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
