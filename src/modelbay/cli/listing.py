"""The List* commands: their filter options, the summaries they page through, printed as a table or JSON."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import typer

from modelbay.cli.commands import aws_client
from modelbay.cli.output import output
from modelbay.statuses import TransformJobStatus

# The --status choices of the job listings: transform jobs' statuses, which training jobs share (they also have
# Deleting, which modelbay never enters).
JobStatus = TransformJobStatus


def list_options(noun: str) -> tuple[Any, Any, Any]:
    """--status, --name-contains and --max for a list command of `noun` ("jobs", "endpoints")."""
    return (typer.Option(None, "--status", help=f"Only {noun} in this status."),
            typer.Option(None, "--name-contains", help=f"Only {noun} whose name contains this."),
            typer.Option(None, "--max", min=1, help=f"At most this many {noun}, newest first."))


def job_list_command(kind: str, columns: Sequence[str],
                     row: Callable[[dict[str, Any]], dict[str, str]]) -> Callable[..., None]:
    """`modelbay <group> list` for `kind` ("training", "transform") jobs: List<Kind>Jobs as a table of `columns`."""
    status_option, name_contains_option, max_option = list_options("jobs")

    def list_jobs(ctx: typer.Context, status: JobStatus | None = status_option,
                  name_contains: str | None = name_contains_option, most: int | None = max_option) -> None:
        print_summaries(ctx, f"list_{kind}_jobs", f"{kind.title()}JobSummaries",
                        {"StatusEquals": status, "NameContains": name_contains}, most, columns, row)
    list_jobs.__doc__ = f"List {kind} jobs, newest first."
    return list_jobs


def print_summaries(ctx: typer.Context, operation: str, key: str, filters: Mapping[str, Any], most: int | None,
                    columns: Sequence[str], row: Callable[[dict[str, Any]], dict[str, str]]) -> None:
    """A List* command: its summaries as they are with --json, else a table of `columns` (the first, the name,
    shown whole) with `row` of each."""
    found = summaries(aws_client(ctx, "sagemaker"), operation, key, filters, most)
    out = output(ctx)
    out.table(columns, found if out.as_json else [row(summary) for summary in found])


def summaries(sagemaker: Any, operation: str, key: str, filters: Mapping[str, Any], most: int | None) -> list[Any]:
    """Every summary a List* operation pages through, newest first; filters left None are not sent."""
    pages = sagemaker.get_paginator(operation).paginate(
        **{name: value for name, value in filters.items() if value}, PaginationConfig={"MaxItems": most})
    return [summary for page in pages for summary in page[key]]
