"""`modelbay audit`: the server's recent calls from its audit trail, to see which call failed and why; `modelbay audit
verify`: whether the trail is as it was written (the events' hash chain, its signed heads, the trails' delivered log
and digest files), as `aws cloudtrail validate-logs` checks a trail's files.

The server verifies (GET /_modelbay/v1/audit/verify): the chain is in its database, which only it reads, and the
files are checked against what it recorded delivering and the public keys it holds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from rich.markup import escape

from modelbay.cli.commands import CLIENT, PLAIN, accepting
from modelbay.cli.native import native_get
from modelbay.cli.output import local_time, output

_COLUMNS = ["Time", "Operation", "Status", "Outcome", "Error message", "Resource", "Region", "Service", "Principal"]
_DURATION = re.compile(r"(?P<amount>[0-9]+)(?P<unit>[smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_WHEN_HELP = "10m ago (30s, 2h, 1d) or a time (2026-12-05T13:00)"

app = typer.Typer(help="List the server's recent API calls, or verify its audit trail (`audit verify`).")


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


@app.callback(invoke_without_command=True)
@accepting(CLIENT)
def audit(
    ctx: typer.Context,
    failed: bool = typer.Option(False, "--failed", help="Only the calls that failed."),
    since: str | None = typer.Option(None, "--since", metavar="WHEN", help=f"Only calls since then: {_WHEN_HELP}."),
    operation: str | None = typer.Option(None, "--operation", help="Only calls of this operation (CreateTrainingJob)."),
    most: int = typer.Option(100, "--max", min=1, max=1000, help="At most this many calls, newest first."),
) -> None:
    """List the server's recent API calls, newest first: time, operation, status, outcome, error message, resource,
    region, service and principal (with --region, only the calls made in that region)."""
    if ctx.invoked_subcommand is not None:
        return
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


@app.command("verify")
@accepting(PLAIN)
def verify(
    ctx: typer.Context,
    since: str | None = typer.Option(None, "--from", metavar="WHEN", help=f"Only events since then: {_WHEN_HELP}."),
    until: str | None = typer.Option(None, "--to", metavar="WHEN", help=f"Only events before then: {_WHEN_HELP}."),
) -> None:
    """Check that the audit trail is as it was written: no event changed, removed or reordered, every signed head
    and digest file's signature valid, every delivered log and digest file in place and unchanged. Prints each
    problem where it is (an event's place and request id, a file's S3 URI) and exits with status 1 if there is one."""
    query = {name: since_time(value).isoformat() for name, value in (("from", since), ("to", until)) if value}
    answer: dict[str, Any] = native_get(ctx.obj["url"], "/audit/verify", query)
    for finding in answer["Findings"]:
        typer.echo(f"{finding['kind']}\t{finding['where']}\t{finding['problem']}")
    checked = ", ".join(f"{count} {kind.lower()}{'' if count == 1 else 's'}"
                        for kind, count in answer["Checked"].items())
    problems = len(answer["Findings"])
    typer.echo(f"Results: {checked} checked: " + (f"{problems} INVALID" if problems else "all valid"))
    if problems:
        raise typer.Exit(1)
