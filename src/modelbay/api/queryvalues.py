"""Query-protocol input: flat parameters (`Tags.member.1.Key=k`) into typed values by shape.

The names follow botocore's query serializer: structure members by their locationName joined
with dots; a list's items as `<name>.member.<i>` (or the list member's locationName instead of
`member`), a flattened list's as `<name>.<i>` (renamed after the list member's locationName
when it has one); a map's entries as `<name>.entry.<i>.key` / `.value` (or their locationNames;
a flattened map drops `entry`). An empty list is sent as `<name>=`. Items are taken in index
order; unknown parameters are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from modelbay.api.members import body_members, element_name, entry_names, is_flattened, item_name
from modelbay.api.paths import item_path, key_path, member_path, value_path
from modelbay.api.scalars import invalid, read_text


@dataclass
class _Node:
    """One dotted name segment: the text sent for it, and the names below it."""

    text: str | None = None
    children: dict[str, _Node] = field(default_factory=dict)


def read_query(shape: StructureShape, params: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The typed input of `shape` from (name, value) pairs. Raise SerializationError naming the
    member path for a value of the wrong type."""
    root = _Node()
    for name, text in params:
        node = root
        for segment in name.split("."):
            node = node.children.setdefault(segment, _Node())
        node.text = text
    return _read_structure(shape, root, "")


def _read(shape: Shape, node: _Node, path: str) -> Any:
    if isinstance(shape, StructureShape):
        return _read_structure(shape, node, path)
    if isinstance(shape, ListShape):
        items = node if is_flattened(shape) else node.children.get(item_name(shape), _Node())
        return [_read(shape.member, item, item_path(path, index)) for index, item in enumerate(_indexed(items), 1)]
    if isinstance(shape, MapShape):
        return _read_map(shape, node if is_flattened(shape) else node.children.get("entry", _Node()), path)
    if node.text is None:
        raise invalid(".".join(node.children), path, shape.type_name)
    return read_text(shape, node.text, path)


def _read_structure(shape: StructureShape, node: _Node, path: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, member in body_members(shape).items():
        child = node.children.get(element_name(member, name))
        if child is not None:
            result[name] = _read(member, child, member_path(path, name))
    return result


def _read_map(shape: MapShape, entries: _Node, path: str) -> dict[str, Any]:
    key_name, value_name = entry_names(shape)
    result: dict[str, Any] = {}
    for entry in _indexed(entries):
        key_node, value_node = entry.children.get(key_name), entry.children.get(value_name)
        if key_node is None:
            raise invalid("", path, "map entry (it has no key)")
        key = _read(shape.key, key_node, key_path(path))
        if value_node is not None:
            result[key] = _read(shape.value, value_node, value_path(path, str(key)))
    return result


def _indexed(node: _Node) -> list[_Node]:
    """The children named by positive integers, in numeric order."""
    numbered = [(int(name), child) for name, child in node.children.items() if name.isascii() and name.isdigit()]
    return [child for _, child in sorted(numbered, key=lambda pair: pair[0])]
