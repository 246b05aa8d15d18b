"""`modelbay events`: what happened to the server's resources (model packages registered, approved, rejected), as
EventBridge delivers SageMaker's events; with --follow, as it happens."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import typer
from rich.markup import escape

from modelbay.cli.output import console, local_time, output
from modelbay.sdk.events import follow_events, read_events

_COLUMNS = ["Time", "Type", "Resource", "Approval", "Status"]


def events(
    ctx: typer.Context,
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep showing events as they happen (Ctrl-C ends)."),
    after: int = typer.Option(0, "--after", min=0, metavar="CURSOR",
                              help="Only events after this cursor (a NextCursor an earlier call gave)."),
) -> None:
    """List the server's recent events, oldest first: time, detail-type, resource and the approval status and status
    they report (with --json, each as EventBridge delivers it; with --follow, one JSON object a line)."""
    url, region, out = ctx.obj["url"], ctx.obj["region"], output(ctx)
    if not follow:
        page = read_events(after, url=url, region=region, limit=1000)
        out.table(_COLUMNS, page.events if out.as_json else [_row(event) for event in page.events],
                  names=("Time", "Resource"))
        return
    for event in follow_events(after, url, region):
        if out.as_json:
            print(json.dumps(event), flush=True)
        else:
            row = _row(event)
            console.print("  ".join(row[column] for column in _COLUMNS if row[column]), soft_wrap=True)


def _row(event: dict[str, Any]) -> dict[str, str]:
    detail = event["detail"]
    return {"Time": local_time(datetime.fromisoformat(event["time"])), "Type": escape(event["detail-type"]),
            "Resource": escape(", ".join(event["resources"])),
            "Approval": escape(str(detail.get("ModelApprovalStatus", ""))),
            "Status": escape(str(detail.get("ModelPackageStatus", "")))}
