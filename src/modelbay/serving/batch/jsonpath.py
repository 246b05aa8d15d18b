"""The JSONPath subset of batch transform's DataProcessing filters (InputFilter, OutputFilter).

SageMaker accepts `$` followed by steps: `.name` or `['name']` (a child), `['a','b']` (several
children, kept as an object), `[0]` or `[-1]` (an element), `[0,2]` (several elements, kept as
an array), `[1:]` or `[:3]` (a slice, end exclusive) and `.*` or `[*]` (every child, as an
array). Each step applies to what the previous one selected: `$.features[1:]` is the features
array without its first element. A CSV record is filtered as the array of its fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Step = Callable[[Any], Any]
_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_QUOTED = r"'[^']*'"
_INDEX = r"-?\d+"
# One step each; tried in order at the current position.
_STEP_PATTERNS = (
    ("wildcard", re.compile(r"\.\*|\[\*\]")),
    ("child", re.compile(rf"\.({_NAME})")),
    ("names", re.compile(rf"\.?\[({_QUOTED}(?:\s*,\s*{_QUOTED})*)\]")),
    ("slice", re.compile(rf"\[({_INDEX})?:({_INDEX})?\]")),
    ("indexes", re.compile(rf"\[({_INDEX}(?:\s*,\s*{_INDEX})*)\]")),
)


class JsonPathError(ValueError):
    """An expression outside the supported subset, or a document it cannot select from."""


@dataclass(frozen=True)
class JsonPath:
    """A parsed expression; `select` applies it to a JSON value (as json.loads gives it)."""

    expression: str
    steps: tuple[Step, ...]

    def select(self, document: Any) -> Any:
        """What the expression selects from `document`; JsonPathError if a step does not fit the document."""
        value = document
        for step in self.steps:
            value = step(value)
        return value


def parse(expression: str) -> JsonPath:
    """Parse `expression`; raise JsonPathError naming where it leaves the supported subset."""
    text = expression.strip()
    if not text.startswith("$"):
        raise JsonPathError(f"JSONPath {expression!r} must start with '$'")
    steps: list[Step] = []
    position = 1
    while position < len(text):
        step, position = _step_at(text, position, expression)
        steps.append(step)
    return JsonPath(expression, tuple(steps))


def _step_at(text: str, position: int, expression: str) -> tuple[Step, int]:
    for kind, pattern in _STEP_PATTERNS:
        if match := pattern.match(text, position):
            return _STEP_MAKERS[kind](match), match.end()
    raise JsonPathError(f"JSONPath {expression!r}: unsupported syntax at position {position}: {text[position:]!r} "
                        "(supported: $, .name, ['name','other'], [index,index], [start:end], .*, [*])")


def _wildcard(_: re.Match[str]) -> Step:
    def every_child(value: Any) -> list[Any]:
        if isinstance(value, dict):
            return list(value.values())
        return list(_array(value, "*"))
    return every_child


def _child(match: re.Match[str]) -> Step:
    return _names_step([match.group(1)], single=True)


def _names(match: re.Match[str]) -> Step:
    names = [quoted.strip()[1:-1] for quoted in re.findall(_QUOTED, match.group(1))]
    return _names_step(names, single=len(names) == 1)


def _names_step(names: list[str], single: bool) -> Step:
    def children(value: Any) -> Any:
        if not isinstance(value, dict):
            raise JsonPathError(f"cannot select {names} from {_kind(value)}: not an object")
        if missing := [name for name in names if name not in value]:
            raise JsonPathError(f"the object has no member {missing[0]!r}")
        return value[names[0]] if single else {name: value[name] for name in names}
    return children


def _indexes(match: re.Match[str]) -> Step:
    indexes = [int(index) for index in match.group(1).split(",")]

    def elements(value: Any) -> Any:
        array = _array(value, str(indexes))
        if bad := [index for index in indexes if not -len(array) <= index < len(array)]:
            raise JsonPathError(f"index {bad[0]} is out of range for an array of {len(array)}")
        return array[indexes[0]] if len(indexes) == 1 else [array[index] for index in indexes]
    return elements


def _slice(match: re.Match[str]) -> Step:
    start, end = (None if group is None else int(group) for group in match.groups())
    return lambda value: _array(value, match.group(0))[start:end]


def _array(value: Any, step: str) -> list[Any]:
    if not isinstance(value, list):
        raise JsonPathError(f"cannot apply {step} to {_kind(value)}: not an array")
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number")


_STEP_MAKERS: dict[str, Callable[[re.Match[str]], Step]] = {
    "wildcard": _wildcard, "child": _child, "names": _names, "slice": _slice, "indexes": _indexes}
