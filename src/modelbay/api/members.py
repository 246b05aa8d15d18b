"""Members, list items and map entries as bodies name them, for every codec.

A member with a `location` (header, headers, uri, querystring, statusCode) travels outside
the body and is left to the REST codecs; a member's name on the wire is its `locationName`
when the model gives one. Output dicts are checked against the model: a key that is not a
member is a bug in the service that produced it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape


def body_members(shape: StructureShape) -> dict[str, Shape]:
    """The members a body carries, by their model names."""
    return {name: member for name, member in shape.members.items() if not is_outside_body(member)}


def is_outside_body(member: Shape) -> bool:
    """Whether the member travels in a header, the URI or the status line."""
    return "location" in member.serialization


def member_of(shape: StructureShape, key: str) -> Shape:
    """The member `key` of an output structure; raise KeyError naming both when there is none."""
    try:
        return shape.members[key]
    except KeyError:
        raise KeyError(f"{key!r} is not a member of {shape.name} (members: {', '.join(shape.members)})") from None


def wire_name(shape: Shape, name: str) -> str:
    """A member's (or list member's, map key's or value's) name on the wire: its locationName,
    else `name`."""
    return str(shape.serialization.get("name", name))


def element_name(member: Shape, name: str) -> str:
    """A member's element (XML) or parameter (query) name, as botocore reads and writes them: a
    flattened list whose member has a locationName is named after that, else `wire_name`."""
    if isinstance(member, ListShape) and is_flattened(member) and "name" in member.member.serialization:
        return str(member.member.serialization["name"])
    return wire_name(member, name)


def item_name(shape: ListShape) -> str:
    """The name of a non-flattened list's items: `member` unless the model names them."""
    return wire_name(shape.member, "member")


def entry_names(shape: MapShape) -> tuple[str, str]:
    """The names of a map entry's key and value: `key` and `value` unless the model names them."""
    return wire_name(shape.key, "key"), wire_name(shape.value, "value")


def is_flattened(shape: Shape) -> bool:
    """Whether a list's items (a map's entries) repeat directly under the parent, unwrapped."""
    return bool(shape.serialization.get("flattened"))


def output_fields(shape: Shape, value: Any) -> Mapping[str, Any]:
    """A structure's or map's output value; raise TypeError when a service returned something else."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{shape.name} is a {shape.type_name}; a service returned {type(value).__name__}")
    return value


def output_items(shape: Shape, value: Any) -> Sequence[Any]:
    """A list's output value; raise TypeError when a service returned something else."""
    if not isinstance(value, list | tuple):
        raise TypeError(f"{shape.name} is a list; a service returned {type(value).__name__}")
    return value
