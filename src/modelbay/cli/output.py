"""Printing for people (rich) or for scripts (--json), and errors as one clear line.

Also what the command groups share: the --url option, status colours, local times, fact tables and listings.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.table import Table

from modelbay.sdk import UnexpectedStatus, client
from modelbay.statuses import TransformJobStatus

console = Console()
errors = Console(stderr=True)
_STYLES = {"InService": "green", "Completed": "green", "Failed": "red", "UpdateRollbackFailed": "red",
           "OutOfService": "dim", "Stopped": "dim"}  # any other status is on its way somewhere: yellow


# The --status choices of the job listings: transform jobs' statuses, which training jobs share (they also have
# Deleting, which modelbay never enters).
JobStatus = TransformJobStatus


class Output:
    """Where a command's results go: a rich table or JSON on stdout."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def table(self, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
        if self.as_json:
            print(json.dumps(list(rows), default=str, indent=2))
            return
        table = Table(*columns, box=None, header_style="bold")
        for row in rows:
            table.add_row(*(str(row.get(column, "")) for column in columns))
        console.print(table)

    def result(self, value: dict[str, Any], message: RenderableType) -> None:
        if self.as_json:
            print(json.dumps(value, default=str))
        else:
            console.print(message)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn AWS and connection errors into one line on stderr and exit status 1."""
    try:
        yield
    except ClientError as error:
        info = error.response.get("Error", {})
        report(f"{info.get('Code', 'Error')}: {info.get('Message', '')}")
        raise typer.Exit(1) from None
    except (BotoCoreError, OSError, ValueError) as error:
        report(str(error))
        raise typer.Exit(1) from None


@contextmanager
def reported_failures() -> Iterator[None]:
    """reported_errors, and an endpoint or job that failed as one line with its reason, exit status 1."""
    with reported_errors():
        try:
            yield
        except UnexpectedStatus as failure:
            report(escape(str(failure)))
            raise typer.Exit(1) from None


def report(message: str) -> None:
    """One error line on stderr; `message` is rich markup."""
    errors.print(f"[red]error:[/red] {message}")


def fail(message: str) -> None:
    report(message)
    sys.exit(2)


def url_option(ctx: typer.Context, url: str | None = typer.Option(None, "--url", help="Server URL")) -> None:
    """A command group's own --url, overriding `modelbay --url`: `app.callback()(url_option)`."""
    if url:
        ctx.obj["url"] = url


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
    """A List* command: its summaries as they are with --json, else a table of `columns` with `row` of each."""
    with reported_errors():
        found = summaries(client("sagemaker", ctx.obj["url"]), operation, key, filters, most)
        out = Output(ctx.obj["json"])
        out.table(columns, found if out.as_json else [row(summary) for summary in found])


def summaries(sagemaker: Any, operation: str, key: str, filters: Mapping[str, Any], most: int | None) -> list[Any]:
    """Every summary a List* operation pages through, newest first; filters left None are not sent."""
    pages = sagemaker.get_paginator(operation).paginate(
        **{name: value for name, value in filters.items() if value}, PaginationConfig={"MaxItems": most})
    return [summary for page in pages for summary in page[key]]


def resource(answer: dict[str, Any]) -> dict[str, Any]:
    """A Describe* answer without boto3's ResponseMetadata: the resource alone."""
    answer.pop("ResponseMetadata", None)
    return answer


def styled(status: str) -> str:
    """The status in its colour: green done well, red failed, dim stopped, yellow on its way."""
    style = _STYLES.get(status, "yellow")
    return f"[{style}]{status}[/{style}]"


def local_time(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def facts_table(facts: Mapping[str, str | None]) -> Table:
    """Label and value rows, leaving out empty values."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    for label, value in facts.items():
        if value:
            table.add_row(label, value)
    return table
