"""XML values by shape, in both directions, for rest-xml bodies and query responses.

The layout follows botocore's XML serializer and parser: a member's element is named by its
locationName (a flattened list whose member has a locationName takes that one), a non-flattened
list wraps its items in `member` (or the list member's locationName), a flattened list repeats
its items directly under the parent, a map holds `entry` elements of `key` and `value` (or their
locationNames; a flattened map repeats the entries under the member's name), an `xmlAttribute`
member is an attribute of its structure's element. Scalars are text (see `scalars`): booleans
`true`/`false`, timestamps ISO 8601 with milliseconds and Z unless the shape says otherwise,
blobs base64.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree.ElementTree import Element, ParseError, SubElement, fromstring, tostring

from botocore.model import ListShape, MapShape, Shape, StructureShape

from modelbay.api.members import (
    body_members,
    element_name,
    entry_names,
    is_flattened,
    is_outside_body,
    item_name,
    member_of,
    output_fields,
    output_items,
    wire_name,
)
from modelbay.api.paths import item_path, key_path, member_path, value_path
from modelbay.api.scalars import invalid, read_text, write_text
from modelbay.errors import SerializationError

MALFORMED_XML = "The XML you provided was not well-formed or did not validate against our published schema"


class MalformedXml(SerializationError):
    """A body that is not XML at all (S3 calls it MalformedXML; a wrong value inside good XML stays a
    SerializationError)."""

    code = "MalformedXML"
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
# A document type declaration is where entities are declared; no AWS body has one.
_FORBIDDEN = ("<!DOCTYPE", "<!ENTITY")


def parse_xml(body: bytes) -> Element:
    """The root element of a UTF-8 XML body, with namespaces stripped from tags and attribute
    names. Raise SerializationError(MALFORMED_XML) for a body that is not well-formed UTF-8 XML
    or that declares a document type or entities."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedXml(MALFORMED_XML) from None
    if any(marker in text.upper() for marker in _FORBIDDEN):
        raise MalformedXml(MALFORMED_XML)
    try:
        root = fromstring(text)  # from text, so the declaration's encoding cannot change the reading
    except (ParseError, ValueError):
        raise MalformedXml(MALFORMED_XML) from None
    for element in root.iter():
        element.tag = _local(element.tag)
        element.attrib = {_local(name): value for name, value in element.attrib.items()}
    return root


def read_xml(shape: Shape, element: Element, path: str = "") -> Any:
    """The typed value of `element` for `shape` (its element: a structure's, a list's wrapper, a
    map's wrapper, a scalar's; flattened lists and maps are read as the structure members they
    are). Unknown elements are ignored; raise SerializationError naming the member path for a
    value of the wrong type."""
    if isinstance(shape, StructureShape):
        return _read_structure(shape, element, path)
    if isinstance(shape, ListShape):
        return _read_items(shape, _children(element, item_name(shape)), path)
    if isinstance(shape, MapShape):
        return _read_entries(shape, _children(element, "entry"), path)
    return read_text(shape, element.text or "", path)


def write_xml(parent: Element, name: str, shape: Shape, value: Any) -> None:
    """Append `value` under `parent` as element `name` (a flattened list or map: as repeated
    `name` elements). Raise KeyError for a key that is not a member of its structure and
    TypeError for a value of the wrong Python type."""
    if isinstance(shape, ListShape) and is_flattened(shape):
        for item in output_items(shape, value):
            write_xml(parent, name, shape.member, item)
    elif isinstance(shape, ListShape):
        wrapper = _sub_element(parent, name, shape)
        for item in output_items(shape, value):
            write_xml(wrapper, item_name(shape), shape.member, item)
    elif isinstance(shape, MapShape):
        _write_entries(parent, name, shape, value)
    elif isinstance(shape, StructureShape):
        write_members(_sub_element(parent, name, shape), shape, value)
    else:
        _sub_element(parent, name, shape).text = write_text(shape, value)


def write_members(element: Element, shape: StructureShape, value: Mapping[str, Any]) -> None:
    """Write a structure's body members into its own `element` (children and attributes)."""
    for key, item in output_fields(shape, value).items():
        member = member_of(shape, key)
        if item is None or is_outside_body(member):
            continue
        if member.serialization.get("xmlAttribute"):
            element.set(wire_name(member, key), write_text(member, item))
        else:
            write_xml(element, element_name(member, key), member, item)


def xml_document(root_name: str, shape: StructureShape, value: Mapping[str, Any], namespace: str | None) -> bytes:
    """A UTF-8 XML document with an XML declaration: element `root_name` holding `value`'s
    members, in the default `namespace` when given (else the shape's own, if any)."""
    root = Element(root_name)
    _add_namespace(root, shape)
    if namespace:
        root.set("xmlns", namespace)
    write_members(root, shape, value)
    return xml_bytes(root)


def xml_bytes(root: Element) -> bytes:
    """A built element tree as a UTF-8 document with an XML declaration."""
    document: bytes = tostring(root, encoding="utf-8", short_empty_elements=False)
    return _DECLARATION + document


def _read_structure(shape: StructureShape, element: Element, path: str) -> dict[str, Any]:
    children: dict[str, list[Element]] = {}
    for child in element:
        children.setdefault(child.tag, []).append(child)
    result: dict[str, Any] = {}
    for name, member in body_members(shape).items():
        where = member_path(path, name)
        if member.serialization.get("xmlAttribute"):
            text = element.get(_local(wire_name(member, name)))
            if text is not None:
                result[name] = read_text(member, text, where)
        elif nodes := children.get(element_name(member, name)):
            result[name] = _read_member(member, nodes, where)
    return result


def _read_member(member: Shape, nodes: list[Element], path: str) -> Any:
    if isinstance(member, ListShape) and is_flattened(member):
        return _read_items(member, nodes, path)
    if isinstance(member, MapShape) and is_flattened(member):
        return _read_entries(member, nodes, path)
    return read_xml(member, nodes[0], path)


def _read_items(shape: ListShape, nodes: list[Element], path: str) -> list[Any]:
    return [read_xml(shape.member, node, item_path(path, index)) for index, node in enumerate(nodes, start=1)]


def _read_entries(shape: MapShape, entries: list[Element], path: str) -> dict[str, Any]:
    key_name, value_name = entry_names(shape)
    result: dict[str, Any] = {}
    for entry in entries:
        key_node, value_node = entry.find(key_name), entry.find(value_name)
        if key_node is None:
            raise invalid(tostring(entry, encoding="unicode"), path, "map entry (it has no key)")
        key = read_xml(shape.key, key_node, key_path(path))
        if value_node is not None:
            result[key] = read_xml(shape.value, value_node, value_path(path, str(key)))
    return result


def _write_entries(parent: Element, name: str, shape: MapShape, value: Mapping[str, Any]) -> None:
    key_name, value_name = entry_names(shape)
    wrapper = None if is_flattened(shape) else _sub_element(parent, name, shape)
    for key, item in output_fields(shape, value).items():
        entry = SubElement(parent, name) if wrapper is None else SubElement(wrapper, "entry")
        write_xml(entry, key_name, shape.key, key)
        write_xml(entry, value_name, shape.value, item)


def _children(element: Element, tag: str) -> list[Element]:
    return [child for child in element if child.tag == tag]


def _sub_element(parent: Element, name: str, shape: Shape) -> Element:
    element = SubElement(parent, name)
    _add_namespace(element, shape)
    return element


def _add_namespace(element: Element, shape: Shape) -> None:
    """The shape's xmlNamespace as an xmlns (or xmlns:prefix) attribute, as botocore writes it."""
    namespace = shape.serialization.get("xmlNamespace")
    if isinstance(namespace, str):
        element.set("xmlns", namespace)
    elif isinstance(namespace, dict):
        prefix = namespace.get("prefix")
        element.set(f"xmlns:{prefix}" if prefix else "xmlns", namespace["uri"])


def _local(name: str) -> str:
    """A tag or attribute name without its namespace ("{uri}type" and "xsi:type" give "type")."""
    return name.rsplit("}", 1)[-1].rsplit(":", 1)[-1]
