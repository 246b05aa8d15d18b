"""QueryLineage: the lineage entities reachable from a start ARN along associations, filtered, and the paths to them.

Descendants follow associations from source to destination, Ascendants from destination to source, Both walks each
way on its own. A vertex is reached at most MaxDepth associations from the start (breadth first, each vertex once,
so cycles end), and the walk goes on through vertices the filters leave out: the filters choose what is answered,
not where the walk goes. Vertices are the matching entities in the order they were reached (the start is not one of
them); with IncludeEdges, the entities on the paths from the start to them (the start among them) and the
associations along those paths come too. The answer is paged by vertices: a page carries the edges that touch its
vertices (the SDK's LineageQuery drops repeats).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from modelbay.errors import ResourceNotFound, ValidationError
from modelbay.services.base import Context
from modelbay.services.listing import reading_tokens
from modelbay.store.metadata.lineage import Association, LineageRepository, LineageType, Vertex, lineage_type_of
from modelbay.store.metadata.paging import decode_token, encode_token

DEFAULT_MAX_DEPTH = 10  # the most the model allows; the SDK's LineageQuery asks for it too
DEFAULT_MAX_RESULTS = 50  # the most the model allows: the SDK's LineageQuery reads only the first page
T = TypeVar("T")
_DIRECTIONS = {"Descendants": (True,), "Ascendants": (False,), "Both": (True, False)}


@dataclass(frozen=True)
class _Walk:
    """What one walk reached: the ARNs in the order reached, and for each the associations that first reached it."""

    descendants: bool
    reached: list[str]
    parents: dict[str, list[Association]]

    def near_end(self, edge: Association) -> str:
        """The end of an edge the walk came from."""
        return edge.source_arn if self.descendants else edge.destination_arn


def query_lineage(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The vertices (and with IncludeEdges, the paths) the query reaches; see the module's docstring."""
    start = _start(ctx, params.get("StartArns", []))
    depth, limit = params.get("MaxDepth", DEFAULT_MAX_DEPTH), params.get("MaxResults", DEFAULT_MAX_RESULTS)
    if depth < 0 or limit < 1:
        raise ValidationError("MaxDepth must be at least 0 and MaxResults at least 1.")
    lineage = ctx.metadata.lineage
    walks = [_walk(lineage, start, descendants, depth) for descendants in _DIRECTIONS[params.get("Direction", "Both")]]
    known = lineage.vertices({start, *(arn for walk in walks for arn in walk.reached)})
    matched = _unique(arn for walk in walks for arn in walk.reached
                      if arn in known and _matches(known[arn], params.get("Filters", {})))
    vertices, edges = _paths(walks, matched, start) if params.get("IncludeEdges") else (matched, [])
    vertices = [arn for arn in vertices if arn in known]
    with reading_tokens():
        offset = decode_token(_scope(params), params["NextToken"]) if params.get("NextToken") else 0
    page = vertices[offset:offset + limit]
    on_page = set(page)
    return {"Vertices": [_vertex(known[arn]) for arn in page],
            "Edges": [_edge(edge) for edge in edges if {edge.source_arn, edge.destination_arn} & on_page]} | (
        {"NextToken": encode_token(_scope(params), offset + limit)} if offset + limit < len(vertices) else {})


def _start(ctx: Context, start_arns: Sequence[str]) -> str:
    """The one start ARN; ResourceNotFound for an artifact, action or context that does not exist."""
    if len(start_arns) != 1:
        raise ValidationError("StartArns must hold one ARN.")
    arn = start_arns[0]
    kind = lineage_type_of(arn)
    if kind not in (None, LineageType.TRIAL_COMPONENT) and ctx.metadata.lineage.get(arn) is None:
        raise ResourceNotFound(f"Lineage entity {arn} does not exist.")
    return arn


def _walk(lineage: LineageRepository, start: str, descendants: bool, max_depth: int) -> _Walk:
    """Breadth first from `start`, one level of associations a step, each ARN reached once."""
    seen, frontier = {start}, [start]
    walk = _Walk(descendants, [], {})
    for _ in range(max_depth):
        level: dict[str, list[Association]] = {}
        for edge in lineage.edges(frontier, descendants):
            far = edge.destination_arn if descendants else edge.source_arn
            if far not in seen or far in level:
                level.setdefault(far, []).append(edge)
        if not level:
            break
        seen.update(level)
        walk.reached.extend(level)
        walk.parents.update(level)
        frontier = list(level)
    return walk


def _paths(walks: Iterable[_Walk], matched: list[str], start: str) -> tuple[list[str], list[Association]]:
    """The vertices on the paths from the start to the matched ones (the start first), and those paths' edges."""
    vertices, edges = [start, *matched], []
    for walk in walks:
        todo, done = [arn for arn in matched if arn in walk.parents], set()
        while todo:
            arn = todo.pop()
            if arn in done:
                continue
            done.add(arn)
            for edge in walk.parents.get(arn, []):
                edges.append(edge)
                todo.append(walk.near_end(edge))
                vertices.append(walk.near_end(edge))
    return _unique(vertices), _unique(edges)


def _matches(vertex: Vertex, filters: dict[str, Any]) -> bool:
    """Whether the vertex passes every filter given (Properties: any one of the pairs)."""
    created, modified = vertex.creation_time, vertex.last_modified_time
    checks = (
        ("Types", lambda types: vertex.type in types),
        ("LineageTypes", lambda kinds: vertex.lineage_type.value in kinds),
        ("CreatedBefore", lambda time: created is not None and created < time),
        ("CreatedAfter", lambda time: created is not None and created > time),
        ("ModifiedBefore", lambda time: modified is not None and modified < time),
        ("ModifiedAfter", lambda time: modified is not None and modified > time),
        ("Properties", lambda pairs: any(vertex.properties.get(key) == value for key, value in pairs.items())))
    return all(check(filters[name]) for name, check in checks if filters.get(name))


def _unique(items: Iterable[T]) -> list[T]:
    return list(dict.fromkeys(items))


def _scope(params: dict[str, Any]) -> str:
    """What a NextToken belongs to: the query, whatever its page."""
    query = {key: value for key, value in params.items() if key not in ("NextToken", "MaxResults")}
    return "lineage " + hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _vertex(vertex: Vertex) -> dict[str, Any]:
    return {"Arn": vertex.arn, "LineageType": vertex.lineage_type.value} | (
        {} if vertex.type is None else {"Type": vertex.type})


def _edge(edge: Association) -> dict[str, Any]:
    return {"SourceArn": edge.source_arn, "DestinationArn": edge.destination_arn} | (
        {} if edge.association_type is None else {"AssociationType": edge.association_type})
