"""Validation of typed input values against a botocore shape, worded as AWS words it.

Runs after a codec has read the wire into Python values, so it is the same for every protocol:
required members, enums, string/list/map/blob lengths, numeric ranges and patterns, each
problem naming the member path in lower camel case (`algorithmSpecification.trainingImage`,
`tags.2.member.key`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import regex
from botocore.model import ListShape, MapShape, Shape, StructureShape

from modelbay.api.paths import item_path, key_path, member_path, value_path


def validate(shape: Shape, value: Any) -> list[str]:
    """All problems of `value` (a dict for the operation's input shape), in AWS's wording."""
    return list(_problems(shape, value, ""))


def _problems(shape: Shape, value: Any, path: str) -> Iterator[str]:
    if isinstance(shape, StructureShape):
        yield from _structure_problems(shape, value, path)
    elif isinstance(shape, ListShape):
        yield from _bound_problems(shape, value, path, len(value), "length")
        for i, item in enumerate(value, start=1):
            yield from _problems(shape.member, item, item_path(path, i))
    elif isinstance(shape, MapShape):
        yield from _bound_problems(shape, value, path, len(value), "length")
        for key, item in value.items():
            yield from _problems(shape.key, key, key_path(path))
            yield from _problems(shape.value, item, value_path(path, str(key)))
    elif shape.type_name == "string":
        yield from _string_problems(shape, value, path)
    elif shape.type_name == "blob" and isinstance(value, bytes | bytearray):
        yield from _bound_problems(shape, value, path, len(value), "length")
    elif shape.type_name in ("integer", "long", "float", "double"):
        yield from _bound_problems(shape, value, path, value, "value")


def _structure_problems(shape: StructureShape, value: dict[str, Any], path: str) -> Iterator[str]:
    for name in shape.required_members:
        if value.get(name) is None:
            yield f"Value null at '{member_path(path, name)}' failed to satisfy constraint: Member must not be null"
    order, members = _member_order(shape), shape.members
    # the members given (a call sets a few of many), in the model's order, which is the order AWS words them in
    for name in sorted((name for name, item in value.items() if item is not None and name in order),
                       key=order.__getitem__):
        yield from _problems(members[name], value[name], member_path(path, name))


@functools.cache
def _member_order(shape: StructureShape) -> dict[str, int]:
    return {name: index for index, name in enumerate(shape.members)}


def _string_problems(shape: Shape, value: str, path: str) -> Iterator[str]:
    enum = shape.enum
    if enum and value not in enum:
        yield _problem(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")
    yield from _bound_problems(shape, value, path, len(value), "length")
    pattern = shape.metadata.get("pattern")
    if pattern is not None:
        compiled = _compile(pattern)
        if compiled is not None and compiled.fullmatch(value) is None:
            yield _problem(value, path, f"Member must satisfy regular expression pattern: {pattern}")


def _bound_problems(shape: Shape, value: Any, path: str, measure: float, what: str) -> Iterator[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and measure < low:
        yield _problem(value, path, f"Member must have {what} greater than or equal to {_number(low)}")
    if high is not None and measure > high:
        yield _problem(value, path, f"Member must have {what} less than or equal to {_number(high)}")


def _problem(value: Any, path: str, rule: str) -> str:
    return f"Value '{_show(value)}' at '{path}' failed to satisfy constraint: {rule}"


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    return str(value)


def _number(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


# Java regular expressions (as in AWS models) that Python's `regex` reads differently.
_JAVA_TO_PYTHON = {
    r"\uD800\uDC00-\uDBFF\uDFFF": r"\U00010000-\U0010FFFF",  # a surrogate-pair range: astral planes
}


@functools.cache
def _compile(pattern: str) -> regex.Pattern[str] | None:
    """Compile a model pattern once; one we cannot read is not enforced (AWS still enforces it)."""
    for java, python in _JAVA_TO_PYTHON.items():
        pattern = pattern.replace(java, python)
    try:
        return regex.compile(pattern, regex.DOTALL)
    except regex.error:
        return None
