"""Printing for people (rich) or for scripts (--json): tables that fit the terminal without cutting names, and
errors as one line. Also what describe commands share: status colours, local times, fact tables.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

import typer
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

console = Console()
errors = Console(stderr=True)
# SageMaker spells some families' statuses in upper case (compilation and edge packaging jobs, deployment stages).
# Any other status (InProgress, INPROGRESS, STARTING, READYTODEPLOY...) is on its way somewhere: yellow.
_STYLES = {"InService": "green", "Completed": "green", "COMPLETED": "green", "DEPLOYED": "green",
           "Failed": "red", "FAILED": "red", "UpdateRollbackFailed": "red",
           "OutOfService": "dim", "Stopped": "dim", "STOPPED": "dim"}
_UNBOUNDED = 1 << 16  # a width no table reaches: measuring in it tells the width a table needs


class Output:
    """Where a command's results go: a rich table or JSON on stdout."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def table(self, columns: Sequence[str], rows: Sequence[dict[str, Any]],
              names: Collection[str] | None = None) -> None:
        """The rows as JSON, or a table of `columns` (rich markup) that fits the terminal.

        The `names` columns (names, keys, identifiers; default: the first column) are shown whole on one line, so
        they can be copied into the next command; the others wrap, and while even wrapped they don't fit, the
        last of them is left out.
        """
        if self.as_json:
            print(json.dumps(list(rows), default=str, indent=2))
            return
        names = columns[:1] if names is None else names
        shown = list(columns)
        table = _table(shown, rows, names)
        while not _fits(table) and (optional := [column for column in shown if column not in names]):
            shown.remove(optional[-1])
            table = _table(shown, rows, names)
        console.print(table)

    def result(self, value: dict[str, Any], message: RenderableType) -> None:
        if self.as_json:
            print(json.dumps(value, default=str))
        else:
            console.print(message, soft_wrap=isinstance(message, str))  # a line stays one line, however long


def output(ctx: typer.Context) -> Output:
    """The command's output, as its options ask (--json)."""
    return Output(ctx.obj["json"])


def _table(columns: Sequence[str], rows: Sequence[dict[str, Any]], names: Collection[str]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in columns:
        cells = [str(row.get(column, "")) for row in rows]
        if column in names:  # at least as wide as its widest cell: rich only narrows the others
            widest = max((Text.from_markup(cell).cell_len for cell in cells), default=0)
            table.add_column(column, no_wrap=True, overflow="fold", min_width=max(widest, len(column)))
        else:
            table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(row.get(column, "")) for column in columns))
    return table


def _fits(table: Table) -> bool:
    """Whether the table fits the terminal with no word cut: each column as wide as its longest word."""
    return Measurement.get(console, console.options.update_width(_UNBOUNDED), table).minimum <= console.width


def titled_table(title: str, *columns: str) -> Table:
    """A describe command's table of details: long values wrap, never cut."""
    table = Table(box=None, header_style="bold", title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def report(message: str) -> None:
    """One error line on stderr, as long as it takes: `error: <message>`."""
    errors.print(Text.assemble(("error:", "red"), " ", message), soft_wrap=True)


def fail(message: str) -> NoReturn:
    """A usage error the command found itself: one line, exit status 2."""
    report(message)
    raise typer.Exit(2)


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
    """Label and value rows (rich markup), leaving out empty values; long values wrap, never cut."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, value in facts.items():
        if value:
            table.add_row(label, value)
    return table
