"""Printing for people (rich) or for scripts (--json), and errors as one clear line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console, RenderableType
from rich.table import Table

console = Console()
errors = Console(stderr=True)


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
        errors.print(f"[red]error:[/red] {info.get('Code', 'Error')}: {info.get('Message', '')}")
        raise typer.Exit(1) from None
    except (BotoCoreError, OSError, ValueError) as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None


def fail(message: str) -> None:
    errors.print(f"[red]error:[/red] {message}")
    sys.exit(2)
