"""`modelbay edge`: the edge devices of a server's fleets (`edge devices`: last heartbeat, the models each runs, its
agent's version) and what a device sent over MQTT (`edge telemetry`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import typer
from rich.markup import escape

from modelbay.cli.commands import Commands, aws_client
from modelbay.cli.listing import summaries
from modelbay.cli.native import native_get
from modelbay.cli.output import local_time, output

app = Commands(help="The edge devices of a modelbay server's device fleets, and the telemetry their agents send.")
_DEVICE_COLUMNS = ["Device", "Fleet", "Last heartbeat", "Models", "Agent"]
_TELEMETRY_COLUMNS = ["Seq", "Kind", "Time", "Body"]


@app.command()
def devices(ctx: typer.Context, fleet: str | None = typer.Option(None, "--fleet", help="Only this fleet's devices."),
            ) -> None:
    """List registered devices, newest first: fleet, last heartbeat, the models (name:version) their agents run and
    the agents' versions."""
    found = summaries(aws_client(ctx, "sagemaker"), "list_devices", "DeviceSummaries", {"DeviceFleetName": fleet},
                      None)
    out = output(ctx)
    out.table(_DEVICE_COLUMNS, found if out.as_json else [_device_row(device) for device in found],
              names=("Device", "Fleet"))


def _device_row(device: dict[str, Any]) -> dict[str, str]:
    models = ", ".join(f"{model.get('ModelName', '?')}:{model.get('ModelVersion', '?')}"
                       for model in device.get("Models", []))
    heartbeat = device.get("LatestHeartbeat")
    return {"Device": escape(device["DeviceName"]), "Fleet": escape(device["DeviceFleetName"]),
            "Last heartbeat": local_time(heartbeat) if heartbeat else "never", "Models": escape(models),
            "Agent": escape(device.get("AgentVersion", ""))}


@app.command()
def telemetry(ctx: typer.Context, fleet: str = typer.Option(..., "--fleet", help="The device's fleet."),
              device: str = typer.Option(..., "--device", help="The device's name.")) -> None:
    """Show what a device's agent sent over MQTT (heartbeats, metrics, samples), each message once, in the order
    it sent them."""
    query = {"fleet": fleet, "device": device, "region": aws_client(ctx, "sagemaker").meta.region_name}
    found: list[dict[str, Any]] = native_get(ctx.obj["url"], "/edge/telemetry", query)["Telemetry"]
    out = output(ctx)
    out.table(_TELEMETRY_COLUMNS, found if out.as_json else [_telemetry_row(message) for message in found],
              names=("Seq", "Kind"))


def _telemetry_row(message: dict[str, Any]) -> dict[str, str]:
    return {"Seq": str(message["Seq"]), "Kind": message["Kind"],
            "Time": local_time(datetime.fromtimestamp(message["Time"], UTC)),
            "Body": escape(json.dumps(message["Body"], separators=(",", ":")))}
