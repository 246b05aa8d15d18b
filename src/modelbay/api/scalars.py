"""Scalar values on the wire, shared by the body codecs.

Reading: text (XML elements and attributes, query parameters) into typed values, and the
pieces JSON needs too (integer bounds, special floats, timestamps, base64 blobs); a value of
the wrong type raises SerializationError naming the member path. Writing: a typed value into
what JSON carries, or into text; a value of the wrong Python type is a bug in the service that
produced it and raises TypeError naming the shape.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import regex
from botocore.model import Shape

from modelbay.api.timestamps import ISO8601, format_timestamp, parse_timestamp
from modelbay.errors import SerializationError

#: Smallest value past each integer type's range (Java's int and long).
INTEGER_LIMITS = {"integer": 2**31, "long": 2**63}
#: How JSON and XML spell the floats that have no number literal.
SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_FLOAT_TYPES = ("float", "double")

_INTEGER_TEXT = regex.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = regex.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SHOWN_CHARS = 100

# What a service may return for each type (bool is excluded from the numbers separately).
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "timestamp": (datetime, int, float),
    "blob": (bytes, bytearray, memoryview, str),
}


def invalid(value: Any, path: str, kind: str) -> SerializationError:
    """The error for a value that is not a valid `kind` ("integer", "timestamp", ...)."""
    shown = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(shown) > _SHOWN_CHARS:
        shown = shown[:_SHOWN_CHARS] + "..."
    where = f" at '{path}'" if path else ""
    return SerializationError(f"Value '{shown}'{where} is not a valid {kind}")


def read_text(shape: Shape, text: str, path: str) -> Any:
    """A scalar shape's value from its text; strings are kept exactly, other text is stripped."""
    if shape.type_name == "string":
        return text
    reader = _TEXT_READERS.get(shape.type_name)
    if reader is None:
        raise invalid(text, path, shape.type_name)
    return reader(shape, text.strip(), path)


def expect(value: Any, kind: type | tuple[type, ...], path: str, name: str) -> Any:
    """`value`, if a `kind` (a document's own type: JSON's and CBOR's readers); else SerializationError naming it."""
    if not isinstance(value, kind):
        raise invalid(value, path, name)
    return value


def read_string(shape: Shape, value: Any, path: str) -> str:
    return str(expect(value, str, path, "string"))


def read_boolean(shape: Shape, value: Any, path: str) -> bool:
    return bool(expect(value, bool, path, "boolean"))


def read_integer(shape: Shape, value: Any, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(value, path, shape.type_name)
    return bounded_integer(shape, value, path)


def bounded_integer(shape: Shape, number: int, path: str) -> int:
    """`number` when it fits the shape's integer type (Java's int or long)."""
    limit = INTEGER_LIMITS[shape.type_name]
    if not -limit <= number < limit:
        raise invalid(str(number), path, shape.type_name)
    return number


def read_timestamp(shape: Shape, value: Any, path: str) -> datetime:
    """Epoch seconds (number or text), ISO 8601 or an HTTP date, as an aware UTC datetime."""
    try:
        return parse_timestamp(value, shape.serialization.get("timestampFormat"))
    except ValueError:
        raise invalid(value, path, "timestamp") from None


def read_blob(text: str, path: str) -> bytes:
    """Base64 text (whitespace ignored) as bytes."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise invalid(text, path, "base64 blob") from None


def write_scalar(shape: Shape, value: Any, timestamp_format: str) -> Any:
    """A scalar as JSON carries it: str, bool, int, float, or the text of a special float,
    a timestamp (in the shape's timestampFormat, else `timestamp_format`) or a blob (base64)."""
    kind = shape.type_name
    allowed = _PYTHON_TYPES.get(kind, (str,))
    if not isinstance(value, allowed) or (isinstance(value, bool) and kind != "boolean"):
        raise TypeError(f"{shape.name} is a {kind}; a service returned {type(value).__name__} {value!r}")
    checked: Any = value  # of the shape's type now, which mypy cannot tell through the table
    if kind in _FLOAT_TYPES:
        return _spell_float(float(checked))
    if kind == "timestamp":
        return format_timestamp(checked, shape.serialization.get("timestampFormat", timestamp_format))
    if kind == "blob":
        return base64.b64encode(checked.encode() if isinstance(checked, str) else bytes(checked)).decode("ascii")
    return checked


def write_text(shape: Shape, value: Any) -> str:
    """A scalar as text (XML): booleans as true/false, timestamps ISO 8601 unless the shape says."""
    written = write_scalar(shape, value, ISO8601)
    if isinstance(written, bool):
        return "true" if written else "false"
    return str(written)


def _spell_float(number: float) -> float | str:
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return number


def _read_boolean(shape: Shape, text: str, path: str) -> bool:
    if text not in ("true", "false"):
        raise invalid(text, path, "boolean")
    return text == "true"


def _read_integer(shape: Shape, text: str, path: str) -> int:
    if _INTEGER_TEXT.fullmatch(text) is None:
        raise invalid(text, path, shape.type_name)
    return bounded_integer(shape, int(text), path)


def _read_float(shape: Shape, text: str, path: str) -> float:
    if text in SPECIAL_FLOATS:
        return SPECIAL_FLOATS[text]
    if _FLOAT_TEXT.fullmatch(text) is None:
        raise invalid(text, path, shape.type_name)
    return float(text)


def _read_timestamp_text(shape: Shape, text: str, path: str) -> datetime:
    return read_timestamp(shape, text, path)


def _read_blob_text(shape: Shape, text: str, path: str) -> bytes:
    return read_blob(text, path)


_TEXT_READERS: dict[str, Callable[[Shape, str, str], Any]] = {
    "boolean": _read_boolean,
    "integer": _read_integer,
    "long": _read_integer,
    "float": _read_float,
    "double": _read_float,
    "timestamp": _read_timestamp_text,
    "blob": _read_blob_text,
}
