"""Member paths as AWS words them in validation and serialization errors.

Members in lower camel case joined by dots, list items as `<index>.member` counted from 1,
map values by their key: `algorithmSpecification.trainingImage`, `tags.2.member.key`,
`environment.MY_VAR`. The empty path is the input itself.
"""

from __future__ import annotations

_SEPARATOR = "."


def member_path(path: str, name: str) -> str:
    """The path of structure member `name` (as the model spells it) under `path`."""
    return _join(path, name[:1].lower() + name[1:])


def item_path(path: str, index: int) -> str:
    """The path of a list's item; `index` counts from 1."""
    return _join(path, f"{index}.member")


def key_path(path: str) -> str:
    """The path of a map's keys."""
    return _join(path, "key")


def value_path(path: str, key: str) -> str:
    """The path of a map's value under `key`."""
    return _join(path, key)


def _join(path: str, part: str) -> str:
    return f"{path}{_SEPARATOR}{part}" if path else part
