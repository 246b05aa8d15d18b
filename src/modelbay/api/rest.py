"""What the REST protocols (rest-json, rest-xml) share: finding the operation a request is for,
and the members bound outside the body (URI labels, query string, headers, status code).

Each operation's `requestUri` is compiled once per service: `{Label}` matches one path segment,
`{Label+}` the rest of the path (slashes included); a query name in the template
(`/{Bucket}?uploads`, `/{Bucket}?list-type=2`) must be present, with its value when the
template gives one. Operations that share a template (S3's PutObject, CopyObject, UploadPart and
UploadPartCopy) are told apart by their required header and query members: of the candidates
whose constraints the request meets, the one with the most constraints wins (then the longest
literal path, then one not deprecated, then the model's order).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote, unquote

from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from starlette.datastructures import Headers, QueryParams
from starlette.types import Scope

from modelbay.api.members import body_members, member_of, wire_name
from modelbay.api.paths import item_path, member_path, value_path
from modelbay.api.scalars import invalid, read_text, write_scalar
from modelbay.api.timestamps import HTTP_DATE
from modelbay.errors import SerializationError

_LABEL = re.compile(r"\{([^}]+?)(\+?)\}")
# A quoted header list item (RFC 7230, as botocore writes one holding a comma) or a plain one.
_HEADER_ITEM = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^,]+))')
_ESCAPED = re.compile(r"\\(.)")
_UNSENDABLE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # what HTTP servers refuse in a header value


@dataclass(frozen=True)
class Match:
    """The operation a request is for, with its URI labels percent-decoded, by label name."""

    operation: OperationModel
    labels: dict[str, str]
    literals: frozenset[str]  # query names the template fixes (not members)


@dataclass(frozen=True)
class _Route:
    operation: OperationModel
    path: re.Pattern[str]
    labels: tuple[str, ...]  # label names of the path's groups, in order
    literals: tuple[tuple[str, str | None], ...]  # query names the template fixes, with their value if any
    required_query: tuple[str, ...]
    required_headers: tuple[str, ...]

    def accepts(self, query: QueryParams, headers: Headers) -> bool:
        """Whether the request has the template's query names and the required bound members."""
        if not (self.literals or self.required_query or self.required_headers):
            return True
        return (all(name in query if value is None else query.get(name) == value for name, value in self.literals)
                and all(name in query for name in self.required_query)
                and all(name in headers for name in self.required_headers))

    def match(self, found: re.Match[str]) -> Match:
        try:
            labels = {name: unquote(text, errors="strict") for name, text in zip(self.labels, found.groups(),
                                                                                 strict=True)}
        except UnicodeDecodeError:
            raise SerializationError(f"The request path {found.string!r} is not percent-encoded UTF-8") from None
        return Match(self.operation, labels, frozenset(name for name, _ in self.literals))


class Routes:
    """The operations of one REST service model, found by method, path, query and headers.

    Routes are indexed by method and by the first query name their template fixes, so a lookup
    tries only the routes whose query names the request has, plus those that fix none."""

    def __init__(self, service: ServiceModel) -> None:
        ranked = sorted(((_route(service.operation_model(name)), index)
                         for index, name in enumerate(service.operation_names)), key=_rank)
        self._routes: dict[tuple[str, str | None], list[tuple[int, _Route]]] = {}
        for order, (route, _) in enumerate(ranked):
            key = (route.operation.http["method"], route.literals[0][0] if route.literals else None)
            self._routes.setdefault(key, []).append((order, route))

    def find(self, method: str, path: str, query: QueryParams, headers: Headers) -> Match | None:
        """The operation for a request (`path` still percent-encoded), or None when none fits.
        Raise SerializationError for a label that is not percent-encoded UTF-8."""
        candidates = self._routes.get((method, None), [])
        if query:  # the routes that fix one of its names too, in their order
            fixing = [found for name in query for found in self._routes.get((method, name), ())]
            candidates = sorted([*candidates, *fixing], key=lambda candidate: candidate[0])
        tried: dict[re.Pattern[str], re.Match[str] | None] = {}
        for _, route in candidates:
            if not route.accepts(query, headers):
                continue
            if route.path not in tried:
                tried[route.path] = route.path.fullmatch(path)
            found = tried[route.path]
            if found is not None:
                return route.match(found)
        return None


def _route(operation: OperationModel) -> _Route:
    template, _, query = operation.http["requestUri"].partition("?")
    path, labels = _path_pattern(template)
    literals = tuple((name, value if sep else None)
                     for name, sep, value in (part.partition("=") for part in query.split("&") if part))
    shape = operation.input_shape
    required = [(name, shape.members[name]) for name in shape.required_members] if shape is not None else []
    bound = [(member.serialization.get("location"), wire_name(member, name)) for name, member in required]
    return _Route(operation, path, labels, literals,
                  tuple(name for location, name in bound if location == "querystring"),
                  tuple(name.lower() for location, name in bound if location == "header"))


def _path_pattern(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """A template's path as a regular expression (a trailing slash is optional unless the template
    ends with one or with a greedy label), and its label names."""
    parts: list[str] = []
    labels: list[str] = []
    at = 0
    for label in _LABEL.finditer(template):
        parts += [re.escape(template[at:label.start()]), "(.+)" if label.group(2) else "([^/]+)"]
        labels.append(label.group(1))
        at = label.end()
    parts.append(re.escape(template[at:]))
    optional_slash = "" if template.endswith(("/", "+}")) else "/?"
    return re.compile("".join(parts) + optional_slash), tuple(labels)


def _rank(entry: tuple[_Route, int]) -> tuple[int, int, bool, int]:
    route, index = entry
    constraints = len(route.literals) + len(route.required_query) + len(route.required_headers)
    literal_path = len(_LABEL.sub("", route.operation.http["requestUri"].partition("?")[0]))
    return -constraints, -literal_path, bool(route.operation.deprecated), index


def raw_path(scope: Scope) -> str:
    """The request's path still percent-encoded (ASGI's `path` is decoded, which loses `%2F`)."""
    raw = scope.get("raw_path")
    if raw is None:
        return quote(scope["path"])
    return bytes(raw).decode("latin-1").partition("?")[0]  # some servers leave the query on it


# -- members bound outside the body, read ------------------------------------------------------

def read_bound(shape: StructureShape, match: Match, query: QueryParams, headers: Headers) -> dict[str, Any]:
    """The input members bound to URI labels, the query string and headers, typed: header
    timestamps are HTTP dates (any AWS format is read), a `headers` map takes every header with its
    prefix (stripped; names lower case), a querystring map every parameter no other member or the
    template claims. Raise SerializationError naming the member path for a value of a wrong type."""
    layout = _layout(shape)
    params: dict[str, Any] = {}
    for bound in layout.uri:
        params[bound.name] = _read_scalar(bound.member, match.labels.get(bound.wire), bound.path)
    for bound in layout.query:
        params[bound.name] = _read_query(shape, bound.member, bound.wire, match, query, bound.path)
    if layout.headers:
        for raw_name, raw_value in headers.raw:  # each header once, not each member's lookup over them all
            header = layout.headers.get(raw_name)
            if header is not None and header.name not in params:  # the first of repeated headers wins
                params[header.name] = _read_header(header.member, raw_value.decode("latin-1"), header.path)
    for bound in layout.prefixed:
        params[bound.name] = _read_prefixed(cast(MapShape, bound.member), bound.wire.lower(), headers, bound.path)
    return {name: value for name, value in params.items() if value is not None}


@dataclass(frozen=True)
class _Bound:
    """A member bound outside the body, with what reading it needs, worked out once per shape."""

    name: str
    member: Shape
    wire: str
    path: str


@dataclass(frozen=True)
class _Layout:
    uri: tuple[_Bound, ...]
    query: tuple[_Bound, ...]
    headers: dict[bytes, _Bound]  # by lower-case header name, as ASGI gives them
    prefixed: tuple[_Bound, ...]  # `headers` maps


@functools.cache
def _layout(shape: StructureShape) -> _Layout:
    """The shape's members bound outside the body (botocore keeps one shape object per model shape,
    so this runs once per operation)."""
    by_location: dict[str, list[_Bound]] = {"uri": [], "querystring": [], "header": [], "headers": []}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        if location in by_location and (location != "headers" or isinstance(member, MapShape)):
            by_location[location].append(_Bound(name, member, wire_name(member, name), member_path("", name)))
    return _Layout(tuple(by_location["uri"]), tuple(by_location["querystring"]),
                   {bound.wire.lower().encode("latin-1"): bound for bound in by_location["header"]},
                   tuple(by_location["headers"]))


def _read_scalar(member: Shape, text: str | None, path: str) -> Any:
    return None if text is None else read_text(member, text, path)


def _read_query(shape: StructureShape, member: Shape, wire: str, match: Match, query: QueryParams,
                path: str) -> Any:
    if isinstance(member, ListShape):
        items = query.getlist(wire)
        return [read_text(member.member, item, item_path(path, index)) for index, item in enumerate(items, 1)] or None
    if isinstance(member, MapShape):
        claimed = match.literals | {wire_name(m, n) for n, m in shape.members.items()
                                    if m.serialization.get("location") == "querystring"}
        return _read_query_map(member, [(k, v) for k, v in query.multi_items() if k not in claimed], path)
    return _read_scalar(member, query.get(wire), path)


def _read_query_map(member: MapShape, pairs: list[tuple[str, str]], path: str) -> dict[str, Any] | None:
    """A querystring map: a value per name, or every value of a repeated name for a map of lists."""
    entries: dict[str, Any] = {}
    for key, text in pairs:
        if isinstance(member.value, ListShape):
            entries.setdefault(key, []).append(read_text(member.value.member, text, value_path(path, key)))
        else:
            entries.setdefault(key, read_text(member.value, text, value_path(path, key)))
    return entries or None


def _read_header(member: Shape, text: str | None, path: str) -> Any:
    if text is None:
        return None
    if isinstance(member, ListShape):
        items = [_ESCAPED.sub(r"\1", quoted) if quoted else plain.strip()
                 for quoted, plain in _HEADER_ITEM.findall(text)]
        return [read_text(member.member, item, item_path(path, index))
                for index, item in enumerate(filter(None, items), 1)]
    if member.serialization.get("jsonvalue"):
        try:
            return json.loads(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            raise invalid(text, path, "base64-encoded JSON value") from None
    return read_text(member, text, path)


def _read_prefixed(member: MapShape, prefix: str, headers: Headers, path: str) -> dict[str, Any] | None:
    found: dict[str, Any] = {}
    for name, text in headers.items():
        if name.lower().startswith(prefix):
            key = name.lower()[len(prefix):]
            found[key] = read_text(member.value, text, value_path(path, key))
    return found or None


# -- members bound outside the body, written ---------------------------------------------------

def write_bound(shape: StructureShape, output: Mapping[str, Any]) -> tuple[dict[str, str], int | None]:
    """The response headers of an output's header-bound members (timestamps as HTTP dates) and the
    value of its statusCode member. Raise KeyError for a key that is not a member of the output and
    TypeError for a value of the wrong Python type."""
    headers: dict[str, str] = {}
    status: int | None = None
    for key, value in output.items():
        member = member_of(shape, key)
        location = member.serialization.get("location")
        if value is None or location is None:
            continue
        if location == "header":
            headers[wire_name(member, key)] = _header_text(member, value)
        elif location == "headers" and isinstance(member, MapShape):
            headers.update({wire_name(member, key) + name: _header_text(member.value, item)
                            for name, item in value.items()})
        elif location == "statusCode":
            status = int(value)
    return headers, status


def _header_text(member: Shape, value: Any) -> str:
    if isinstance(member, ListShape):
        return ",".join(_list_item(member.member, item) for item in value)
    if member.serialization.get("jsonvalue"):
        return base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode("ascii")
    written = write_scalar(member, value, HTTP_DATE)
    if isinstance(written, bool):
        return "true" if written else "false"
    return _sendable(str(written))


def _list_item(member: Shape, item: Any) -> str:
    text = _header_text(member, item)
    if member.type_name == "string" and ("," in text or '"' in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _sendable(text: str) -> str:
    """Text a header can carry: Latin-1 without control characters as it is (so the bytes a client
    sent come back unchanged), anything else encoded as RFC 2047 (as S3 answers such metadata)."""
    if _UNSENDABLE.search(text) is None:
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            pass
        else:
            return text
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode("ascii") + "?="


# -- payloads -----------------------------------------------------------------------------------

def payload_member(shape: StructureShape) -> tuple[str, Shape] | None:
    """The member that is the whole body, as the shape's `payload` names it, with its shape."""
    name = shape.serialization.get("payload")
    return None if name is None else (name, shape.members[name])


def has_body(shape: StructureShape) -> bool:
    """Whether the shape has a payload member or members in the body."""
    return payload_member(shape) is not None or bool(body_members(shape))


def read_payload(shape: StructureShape, body: bytes, read_document: Callable[[Shape, bytes], Any]) -> dict[str, Any]:
    """The input members a whole body holds: the payload member (a blob as bytes, a string as text, a
    structure by `read_document`), else the shape's body members by `read_document`. An empty body
    holds none."""
    if not body:
        return {}
    payload = payload_member(shape)
    if payload is None:
        return dict(read_document(shape, body))
    name, member = payload
    if member.type_name == "blob":
        return {name: body}
    if member.type_name == "string":
        try:
            return {name: body.decode("utf-8")}
        except UnicodeDecodeError:
            raise SerializationError(f"The {name} of the request is not UTF-8 text") from None
    return {name: read_document(member, body)}


def is_raw(member: Shape) -> bool:
    """Whether a payload member is the body as it is (a blob or a string), not a document."""
    return member.type_name in ("blob", "string")
