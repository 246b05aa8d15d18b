"""`modelbay audit`: the server's recent calls from its audit trail, to see which call failed and why."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from rich.markup import escape

from modelbay.cli.native import native_get
from modelbay.cli.output import local_time, output

_COLUMNS = ["Time", "Operation", "Status", "Outcome", "Error message", "Resource", "Region", "Service", "Principal"]
_DURATION = re.compile(r"(?P<amount>[0-9]+)(?P<unit>[smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def since_time(value: str, now: datetime | None = None) -> datetime:
    """`10m`, `2h`, `1d`, `30s` ago, or an ISO 8601 time (local time unless it names its zone)."""
    if duration := _DURATION.fullmatch(value):
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[duration["unit"]]: int(duration["amount"])})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is neither a duration (30s, 10m, 2h, 1d) nor a time "
                                 "(2026-12-05T13:00)") from None
    return moment if moment.tzinfo else moment.astimezone()


def audit(
    ctx: typer.Context,
    failed: bool = typer.Option(False, "--failed", help="Only the calls that failed."),
    since: str | None = typer.Option(None, "--since", metavar="WHEN",
                                     help="Only calls since then: 10m ago (30s, 2h, 1d) or a time (2026-12-05T13:00)."),
    operation: str | None = typer.Option(None, "--operation", help="Only calls of this operation (CreateTrainingJob)."),
    most: int = typer.Option(100, "--max", min=1, max=1000, help="At most this many calls, newest first."),
) -> None:
    """List the server's recent API calls, newest first: time, operation, status, outcome, error message, resource,
    region, service and principal (with --region, only the calls made in that region)."""
    query = {"failed": str(failed).lower(), "limit": str(most)}
    query |= {"operation": operation} if operation else {}
    query |= {"region": ctx.obj["region"]} if ctx.obj["region"] else {}
    query |= {"since": since_time(since).isoformat()} if since else {}
    events: list[dict[str, Any]] = native_get(ctx.obj["url"], "/audit", query)["Events"]
    out = output(ctx)
    out.table(_COLUMNS, events if out.as_json else [_row(event) for event in events], names=("Time", "Operation"))


def _row(event: dict[str, Any]) -> dict[str, str]:
    return {"Time": local_time(datetime.fromisoformat(event["EventTime"])),
            "Operation": escape(event["Operation"] or "-"), "Status": str(event["StatusCode"]),
            "Outcome": escape(event["Outcome"]), "Error message": escape(event["ErrorMessage"] or ""),
            "Resource": escape(", ".join(event["Resources"])), "Region": escape(event["Region"] or ""),
            "Service": escape(event["Service"]),
            "Principal": escape(event["Principal"])}
