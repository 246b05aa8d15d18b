"""A request's condition keys (`aws:SourceIp`, `aws:PrincipalTag/team`, `s3:prefix`), as policies read them.

IAM matches condition key names case-insensitively, so a key is asked for in lowercase. A dict may spell its keys
as it likes (on a first miss, an index of its keys by their lowercase spelling is made). Any other mapping may be
lazy (a value computed on first access: a resource's tags read from the store only if a condition asks for them):
it is asked for lowercase keys only, and never listed, so that it computes nothing no policy asks for.

A value is a string, a number, a bool, a time, or a list of strings (a multivalued key, such as `aws:TagKeys`); it is
read as a tuple of such scalars, once per key and request. An absent key and an empty list are both "missing".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

Scalar = str | bool | int | float | datetime
ContextValue = Scalar | Sequence[str]
_SCALARS = (str, bool, int, float, datetime)  # a tuple: isinstance reads it faster than a union


class RequestContext:
    """Condition keys by case-insensitive name; a value is read from the mapping at most once."""

    __slots__ = ("_index", "_read", "_values")

    def __init__(self, values: Mapping[str, ContextValue]) -> None:
        self._values = values
        self._index: dict[str, str] | None = None  # a dict's lowercased keys → its spelling, made on a first miss
        self._read: dict[str, tuple[Scalar, ...] | None] = {}

    def get(self, key: str) -> tuple[Scalar, ...] | None:
        """The values of `key` (lowercase), or None if the request has none."""
        if key in self._read:
            return self._read[key]
        values = self._read[key] = _scalars(self._lookup(key))
        return values

    def _lookup(self, key: str) -> ContextValue | None:
        found = self._values.get(key)
        if found is not None or not isinstance(self._values, dict):
            return found
        if self._index is None:
            self._index = {name.lower(): name for name in self._values}
        spelling = self._index.get(key)
        return None if spelling is None or spelling == key else self._values.get(spelling)


def _scalars(value: ContextValue | None) -> tuple[Scalar, ...] | None:
    if value is None:
        return None
    if isinstance(value, _SCALARS):
        return (value,)
    return tuple(value) or None


def as_text(value: Scalar) -> str:
    """A value as string operators compare it: booleans as `true`/`false`, times as ISO 8601 in UTC."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)
