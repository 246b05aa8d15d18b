"""`modelbay lineage <ARN or URI>`: what an entity came from (upstream) and what came of it (downstream), as trees.

It asks QueryLineage twice (Ascendants, then Descendants, with their edges) and draws each walk from the start:
a vertex's children upstream are the sources of its associations, downstream their destinations. Something named
by the ARN of a resource that is not a lineage entity (an endpoint, a model package) or by a URI (s3://...) starts
at the context or artifact whose SourceUri it is, which SageMaker's own records make.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import typer
from rich.markup import escape
from rich.tree import Tree

from modelbay.cli.commands import aws_client
from modelbay.cli.output import console, fail, output

_ENTITY_ARN = re.compile(r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]*:[0-9]{12}:"
                         r"(experiment|experiment-trial-component|artifact|action|context)/.+")
_DIRECTIONS = {"upstream": "Ascendants", "downstream": "Descendants"}


def lineage(
    ctx: typer.Context,
    start: str = typer.Argument(..., metavar="ARN_OR_URI",
                                help="A lineage entity's ARN, an endpoint's or model package's ARN, or an artifact's "
                                     "source URI (s3://...)."),
    depth: int = typer.Option(10, "--depth", min=0, max=10, help="The most associations a tree goes from the start."),
) -> None:
    """Draw what an entity's lineage holds upstream (the data, jobs and models it came from) and downstream (the
    models, deployments and endpoints that came of it)."""
    sagemaker = aws_client(ctx, "sagemaker")
    arn = _entity(sagemaker, start)
    walks = {name: _query(sagemaker, arn, direction, depth) for name, direction in _DIRECTIONS.items()}
    out = output(ctx)
    if out.as_json:
        out.result({"StartArn": arn} | {name.capitalize(): walk for name, walk in walks.items()}, "")
        return
    labels = _Labels(sagemaker, _types(walks))
    root = Tree(labels.of(arn))
    for name, walk in walks.items():
        branch = root.add(f"[bold]{name}[/bold]")
        _grow(branch, arn, walk["Edges"], name == "upstream", labels, {arn})
        if not branch.children:
            branch.add("[dim](nothing)[/dim]")
    console.print(root)


def _entity(sagemaker: Any, start: str) -> str:
    """The lineage entity `start` names: itself, else the context or artifact whose SourceUri it is."""
    if _ENTITY_ARN.fullmatch(start):
        return start
    for operation, key, member in (("list_contexts", "ContextSummaries", "ContextArn"),
                                   ("list_artifacts", "ArtifactSummaries", "ArtifactArn")):
        found = getattr(sagemaker, operation)(SourceUri=start, SortOrder="Ascending")[key]
        if found:
            arn: str = found[0][member]
            return arn
    fail(f"no lineage entity has the source {start!r}: name an artifact's, action's or context's ARN")


def _query(sagemaker: Any, arn: str, direction: str, depth: int) -> dict[str, list[dict[str, Any]]]:
    """Every vertex and edge of one walk, all pages."""
    walk: dict[str, list[dict[str, Any]]] = {"Vertices": [], "Edges": []}
    token: dict[str, str] = {}
    while True:
        page = sagemaker.query_lineage(StartArns=[arn], Direction=direction, IncludeEdges=True, MaxDepth=depth,
                                       **token)
        walk["Vertices"] += page["Vertices"]
        walk["Edges"] += [edge for edge in page["Edges"] if edge not in walk["Edges"]]
        if not page.get("NextToken"):
            return walk
        token = {"NextToken": page["NextToken"]}


def _types(walks: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, tuple[str, str]]:
    """Each vertex's (Type, LineageType)."""
    return {v["Arn"]: (v.get("Type", ""), v["LineageType"]) for walk in walks.values() for v in walk["Vertices"]}


def _grow(branch: Tree, arn: str, edges: list[dict[str, Any]], upstream: bool, labels: _Labels,
          drawn: set[str]) -> None:
    """Add `arn`'s neighbours in the walk's direction under `branch`, and theirs under them (each vertex once)."""
    children: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for edge in edges:
        near, far = (edge["DestinationArn"], edge["SourceArn"]) if upstream else (edge["SourceArn"],
                                                                                  edge["DestinationArn"])
        children[near].append((far, edge.get("AssociationType", "")))
    for far, association in children[arn]:
        label = f"[dim]{association}[/dim] {labels.of(far)}"
        if far in drawn:
            branch.add(f"{label} [dim](shown above)[/dim]")
            continue
        drawn.add(far)
        _grow(branch.add(label), far, edges, upstream, labels, drawn)


class _Labels:
    """The walks' vertices' labels: a type and what names the vertex (an artifact's source URI, else the name in
    its ARN)."""

    def __init__(self, sagemaker: Any, types: dict[str, tuple[str, str]]) -> None:
        self._sagemaker, self._types = sagemaker, types

    def of(self, arn: str) -> str:
        kind, lineage_type = self._types.get(arn, ("", ""))
        name = arn.split("/", 1)[-1]
        if ":artifact/" in arn:
            name = self._sagemaker.describe_artifact(ArtifactArn=arn)["Source"]["SourceUri"]
        kind_words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", lineage_type).lower()  # TrialComponent: trial component
        return f"[bold]{escape(kind or lineage_type)}[/bold] {kind_words} {escape(name)}"
